# SPDX-License-Identifier: GPL-2.0
#
# CoVMM top-level Makefile.
#
#   make deps            install everything needed on Debian 12/13 (root)
#   make                 build the modules for Debian's stock kernel
#   make DEBUG=1         ... for the debug kernel (lockdep, KASAN, KUnit)
#   make KDIR=/path      ... against your own Rust-enabled kernel build tree
#                        (add LLVM=1 or LLVM=-19 if that kernel was built with clang)
#   make kernel          prepare the kernel tree (DEBUG=1: build the debug kernel)
#   make tools           build the user-space tools (tools/)
#   make demo            boot the nested testbed and show CoVMM at work
#   make check           run every test: cargo, KUnit, testbed scenarios
#   make bench           measure VMRPC against its anchors -> Documentation/bench.md
#   make soak            park a Reverse VMRPC server under guest load (SOAK_SECONDS=600, SOAK_SMP=2)
#   make CLIPPY=1        build the modules with clippy
#
# Kernel builds are cached under $(COVMM_CACHE), keyed by version and config.

include tools/build/kernel.mk
COVMM_CACHE ?= $(HOME)/.cache/covmm
export KERNEL_SERIES COVMM_CACHE

DEBUG ?= 0
FLAVOR := $(if $(filter 1 y yes,$(DEBUG)),debug,stock)
KBUILD_ARGS := $(if $(CLIPPY),CLIPPY=$(CLIPPY)) $(if $(V),V=$(V)) $(if $(LLVM),LLVM=$(LLVM))

.PHONY: all modules deps kernel tools demo check bench soak fmt clippy clean help

all: modules

modules:
ifdef KDIR
	tools/build/modules.sh custom $(KDIR) $(KBUILD_ARGS)
else
	tools/build/modules.sh $(FLAVOR) $(KBUILD_ARGS)
endif

deps:
	tools/build/deps.sh

kernel:
	tools/build/kernel.sh $(FLAVOR)

tools:
	cd tools && cargo build --release

demo: deps
	tools/testbed/demo.sh

check: deps
	tools/testbed/check.sh

bench: deps
	tools/testbed/bench.sh

soak: deps
	tools/testbed/soak.sh

fmt:
	cd tools && cargo fmt --all
	rustfmt --edition 2021 --config-path tools/rustfmt.toml */*.rs guest-hlfs/vfs/*.rs samples/*/*.rs tools/testbed/modules/*.rs include/covmm/*.rs

clippy:
	cd tools && cargo clippy --all-targets -- -D warnings
	tools/build/modules.sh $(FLAVOR) CLIPPY=1

clean:
	rm -rf build
	cd tools && cargo clean

help:
	@sed -n 's/^#   //p' Makefile
