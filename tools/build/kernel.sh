#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel trees for CoVMM, cached outside the repository under $COVMM_CACHE.
#
#   kernel.sh stock   Debian's stock kernel: its vmlinuz and modules, plus a tree
#                     prepared from linux-source with Debian's .config and Debian's
#                     own toolchain, so out-of-tree Rust modules link against it.
#   kernel.sh debug   Our debug build of the same source (lockdep, KASAN, KUnit...).
#
# Each prints, on its last line of stdout, the directory that holds the result:
#   <dir>/build      the kernel build tree to pass as KDIR
#   <dir>/vmlinuz    the kernel image the testbed boots
#   <dir>/modroot    (stock only) lib/modules/<release> with Debian's modules
# Every result is keyed by the source version plus a hash of its configuration and
# toolchain, so a warm run only checks a stamp.
. "$(dirname "$0")/common.sh"

JOBS=${JOBS:-$(($(nproc) + 1))}

# Bump when a change to this script changes what a cached tree contains; the
# cache keys include it, so stale trees are never reused.
STOCK_RECIPE=2
DEBUG_RECIPE=1

# Unpacks the source tarball from the linux-source package once per version and
# prints the source directory.
kernel_source() {
	local pkg deb ver dir tmp
	pkg=$(kernel_source_package)
	deb=$(fetch_deb "$pkg")
	ver=$(dpkg-deb -f "$deb" Version)
	dir=$COVMM_CACHE/src/$pkg-$ver
	if [ ! -f "$dir/.covmm-unpacked" ]; then
		log "unpacking $pkg $ver"
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" --wildcards './usr/src/*.tar.xz'
		tar -xJf "$dir.tmp"/usr/src/*.tar.xz -C "$dir.tmp"
		mv "$dir.tmp"/linux-source-* "$dir"
		rm -rf "$dir.tmp"
		touch "$dir/.covmm-unpacked"
	fi
	echo "$dir"
}

series_of_source() { basename "$1" | sed -E 's/^linux-source-([0-9]+\.[0-9]+)-.*/\1/'; }

# prepare_stock_tree SRC HEADERS_DEB ABI OUT: a build tree with Debian's
# config, Rust metadata from Debian's toolchain, and Debian's Module.symvers.
prepare_stock_tree() {
	local src=$1 hdr=$2 abi=$3 out=$4
	rm -rf "$out/build" "$out/headers"
	mkdir -p "$out/headers" "$out/build"
	dpkg-deb -x "$hdr" "$out/headers"
	local hdir=$out/headers/usr/src/linux-headers-$abi
	[ -f "$hdir/.config" ] || die "linux-headers-$abi has no .config"
	# Blank the signing keys: Debian's are not public and Debian does not
	# enforce module signatures.
	sed -e 's/^CONFIG_MODULE_SIG_KEY=.*/CONFIG_MODULE_SIG_KEY=""/' \
		-e 's/^CONFIG_SYSTEM_TRUSTED_KEYS=.*/CONFIG_SYSTEM_TRUSTED_KEYS=""/' \
		"$hdir/.config" >"$out/build/.config"

	in_trixie make -s -C "$src" O="$out/build" CC=x86_64-linux-gnu-gcc-14 \
		olddefconfig >&2
	# pahole missing or a different compiler silently changes the config
	# (and struct module with it): insist that only the signing keys differ.
	local diff
	diff=$(diff <(grep -E '^(# )?CONFIG_' "$hdir/.config" | sort) \
		<(grep -E '^(# )?CONFIG_' "$out/build/.config" | sort) |
		grep -E '^[<>]' | grep -Ev 'CONFIG_(MODULE_SIG_KEY|SYSTEM_TRUSTED_KEYS)[= ]' || true)
	[ -z "$diff" ] || die "the regenerated .config differs from Debian's:
$diff"
	in_trixie make -s -C "$src" O="$out/build" CC=x86_64-linux-gnu-gcc-14 \
		-j"$JOBS" modules_prepare rust/ >&2
	cp "$hdir/Module.symvers" "$out/build/Module.symvers"
	cp "$hdir/include/generated/utsrelease.h" "$out/build/include/generated/utsrelease.h"
	rm -rf "$out/headers"
}

# On a Debian host running a Debian 7.x kernel, build for that very kernel;
# elsewhere, for Debian's $KERNEL_SERIES. COVMM_DEBIAN_ABI overrides both.
running_debian_abi() {
	local r=${COVMM_DEBIAN_ABI:-$(uname -r)}
	if [[ $r =~ ^([0-9]+\.[0-9]+)\.[0-9]+\+deb[0-9]+-(amd64|cloud-amd64|rt-amd64)$ ]]; then
		echo "$r ${BASH_REMATCH[1]}"
	fi
}

cmd_stock() {
	local src series abi hdr bin mods key out running
	running=$(running_debian_abi)
	if [ -n "$running" ]; then
		KERNEL_SERIES=${running#* }
		log "building for the running Debian kernel ${running% *}"
	fi
	src=$(kernel_source)
	series=$(series_of_source "$src")
	if [ -n "$running" ] && [ "$series" = "${running#* }" ]; then
		abi=${running% *}
	else
		abi=$(debian_abi_for_series "$series")
	fi
	[ -n "$abi" ] || die "no linux-headers-$series.*-amd64 package in apt; run 'make deps'"
	hdr=$(fetch_deb "linux-headers-$abi")
	bin=$(fetch_deb "linux-binary-$abi")
	mods=$(fetch_deb "linux-modules-$abi")

	# The key covers Debian's packages, this script and the trixie compilers.
	local toolchain
	toolchain=$(in_trixie sh -c 'rustc --version; bindgen --version; x86_64-linux-gnu-gcc-14 --version | head -n1; pahole --version')
	key=$(printf '%s\n' "$(basename "$src")" "$(basename "$hdr")" "$toolchain" "stock-recipe-$STOCK_RECIPE" | sha256sum | cut -c1-12)
	out=$COVMM_CACHE/stock/$abi-$key
	if [ -f "$out/.covmm-ready" ]; then
		echo "$out"
		return
	fi
	if [ ! -f "$out/.tree-ready" ]; then
		log "preparing the stock $abi tree in $out (2-3 minutes)"
		prepare_stock_tree "$src" "$hdr" "$abi" "$out"
		touch "$out/.tree-ready"
	fi

	# The binaries users actually run. Debian 13 ships them under /usr/lib
	# (merged /usr); older packages used /boot and /lib.
	# Both packages go into one tree: modules.builtin* ship with the image.
	local tmp=$out/pkg
	rm -rf "$tmp" "$out/modroot"
	mkdir -p "$tmp" "$out/modroot/lib"
	dpkg-deb -x "$bin" "$tmp"
	dpkg-deb -x "$mods" "$tmp"
	local moddir=""
	for candidate in "$tmp/usr/lib/modules" "$tmp/lib/modules"; do
		[ -d "$candidate/$abi" ] && moddir=$candidate && break
	done
	[ -n "$moddir" ] || die "no modules for $abi in $(basename "$mods")"
	local image="" candidate
	for candidate in "$moddir/$abi/vmlinuz" "$tmp/boot/vmlinuz-$abi"; do
		[ -f "$candidate" ] && image=$candidate && break
	done
	[ -n "$image" ] || die "no vmlinuz in $(basename "$bin")"
	mv "$image" "$out/vmlinuz"
	mv "$moddir" "$out/modroot/lib/modules"
	rm -rf "$tmp"
	# busybox modprobe reads only plain .ko files.
	find "$out/modroot" -name '*.ko.xz' -exec xz -d {} +
	# Debian's packages carry no modules.builtin; without it depmod warns and
	# modprobe reports built-in drivers as missing, which is all it costs here.
	touch "$out/modroot/lib/modules/$abi/modules."{builtin,builtin.modinfo,order}
	depmod -b "$out/modroot" "$abi"
	echo "$abi" >"$out/release"
	echo "CC=x86_64-linux-gnu-gcc-14" >"$out/kbuild-flags"
	touch "$out/.covmm-ready"
	echo "$out"
}

cmd_debug() {
	local src ver frag key out
	src=$(kernel_source)
	ver=$(basename "$src")
	frag=$COVMM_ROOT/tools/build/debug.config
	export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
	local toolchain
	toolchain=$(rustc --version; bindgen --version; clang-19 --version | head -n1)
	key=$(printf '%s\n' "$ver" "$toolchain" "$(cat "$frag")" "debug-recipe-$DEBUG_RECIPE" | sha256sum | cut -c1-12)
	out=$COVMM_CACHE/debug/$ver-$key
	if [ -f "$out/.covmm-ready" ]; then
		echo "$out"
		return
	fi
	log "building the debug kernel in $out (about 20 minutes on 2 cores)"
	mkdir -p "$out/build"
	# Rust together with KASAN needs a clang-built kernel (init/Kconfig: RUST
	# depends on !KASAN || CC_IS_CLANG); modules must then use LLVM=-19 too.
	local flags="LLVM=-19"
	local mk=(make -s -C "$src" O="$out/build" $flags -j"$JOBS")
	"${mk[@]}" rustavailable >&2 || die "the Rust toolchain is not usable for the kernel; run 'make deps'"
	if [ ! -f "$out/build/.covmm-config" ]; then
		"${mk[@]}" x86_64_defconfig >&2
		(cd "$out/build" && KCONFIG_CONFIG=.config "$src/scripts/kconfig/merge_config.sh" -m -O . \
			.config "$src/kernel/configs/kvm_guest.config" "$frag" >&2)
		"${mk[@]}" olddefconfig >&2
		# Every option the fragment asks for must have survived olddefconfig.
		local missing
		missing=$(grep -E '^CONFIG_' "$frag" | while read -r line; do
			grep -qxF "$line" "$out/build/.config" || echo "$line"
		done)
		[ -z "$missing" ] || die "debug.config options lost by olddefconfig:
$missing"
		touch "$out/build/.covmm-config"
	fi
	local t0=$SECONDS
	"${mk[@]}" bzImage modules >&2
	log "debug kernel built in $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s"
	cp "$out/build/arch/x86/boot/bzImage" "$out/vmlinuz"
	"${mk[@]}" -s kernelrelease >"$out/release"
	echo "$flags" >"$out/kbuild-flags"
	touch "$out/.covmm-ready"
	echo "$out"
}

case ${1:-} in
stock) cmd_stock ;;
debug) cmd_debug ;;
source) kernel_source ;;
*) die "usage: $0 stock|debug|source" ;;
esac
