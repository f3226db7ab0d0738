#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds CoVMM's kernel modules against one kernel tree.
#
#   modules.sh stock        Debian's stock kernel (Debian's toolchain, in the
#                           trixie build root unless the host is trixie)
#   modules.sh debug        the debug kernel (rustup toolchain, LLVM=-19)
#   modules.sh custom KDIR  any Rust-enabled kernel build tree, with the
#                           toolchain in PATH
#
# Objects go to build/<flavor>/ (Kbuild's MO=), so flavors never mix. Extra
# arguments (CLIPPY=1, V=1) are passed to Kbuild.
. "$(dirname "$0")/common.sh"

flavor=${1:-}
shift || true
case $flavor in
stock | debug)
	tree=$("$COVMM_ROOT/tools/build/kernel.sh" "$flavor" | tail -n1)
	kdir=$tree/build
	read -r -a flags <"$tree/kbuild-flags"
	;;
custom)
	kdir=${1:?usage: modules.sh custom KDIR}
	shift
	[ -f "$kdir/Module.symvers" ] || die "$kdir is not a built kernel tree (no Module.symvers)"
	grep -q '^CONFIG_RUST=y' "$kdir/.config" 2>/dev/null ||
		die "$kdir was built without CONFIG_RUST; CoVMM's modules are written in Rust"
	flags=()
	;;
*) die "usage: modules.sh stock|debug|custom KDIR [kbuild args]" ;;
esac

out=$COVMM_ROOT/build/$flavor
mkdir -p "$out"
log "building modules for the $flavor kernel into build/$flavor"
cmd=(make -C "$kdir" M="$COVMM_ROOT" MO="$out" "${flags[@]}" -j"$(nproc)" "$@" modules)
if [ "$flavor" = stock ]; then
	in_trixie "${cmd[@]}"
else
	"${cmd[@]}"
fi
# The testbed and `make check` find the modules here.
find "$out" -name '*.ko' -printf '%P\n' | sort
