#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make deps`: install everything CoVMM needs on a fresh Debian 12 (bookworm) or
# 13 (trixie) machine. Idempotent: a second run only checks.
#
#  - apt suites bookworm-backports (QEMU 10) and trixie-backports (the 7.x
#    kernel packages), added with the mirror already in the machine's sources;
#  - host packages for the testbed and for building the debug kernel;
#  - the trixie build root that reproduces Debian's own rustc/bindgen/gcc-14
#    build, so modules link against Debian's stock kernel;
#  - rustup's rust-src component and bindgen-cli for the debug kernel;
#  - a static fio for the testbed's L2 (tools/build/testbed-tool.sh).
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || die "make deps installs packages and needs root (try: sudo make deps)"

codename=$(host_codename)
case $codename in
bookworm | trixie) ;;
*) die "unsupported host release '$codename': CoVMM supports Debian 12 and 13" ;;
esac

uri=$(debian_uri)
suites="trixie-backports"
[ "$codename" = bookworm ] && suites="bookworm-backports trixie-backports"
src=/etc/apt/sources.list.d/covmm.sources
want="Types: deb
URIs: $uri
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
if [ "$(cat "$src" 2>/dev/null)" != "$want" ] || ! stamp_ok apt-lists; then
	log "adding apt suites: $suites"
	printf '%s\n' "$want" >"$src"
	apt-get update -q >&2
	stamp_set apt-lists
fi

# Host packages: testbed, kernel build for the debug kernel, image tools.
host_pkgs=(
	busybox-static cpio xz-utils zstd kmod debootstrap
	build-essential flex bison bc libelf-dev libssl-dev dwarves python3 rsync
	libclang-19-dev clang-19 lld-19 llvm-19
	socat procps util-linux ca-certificates jq
	qemu-guest-agent # copied into the bench's L2 for its slowest anchor
	git sqlite3 stress-ng # copied into L2 for hlfs's workloads (fio is built: tools/build/testbed-tool.sh)
	gcc-mingw-w64-x86-64-win32 # links covmm-agent for Windows
	libseccomp-dev libcap-ng-dev # virtiofsd, the virtiofs anchor of the hlfs bench
)
missing=()
for p in "${host_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# QEMU 10 with SVM under TCG. Bookworm's own 7.2 is too old for the testbed.
qemu_suite=bookworm-backports
[ "$codename" = trixie ] && qemu_suite=trixie
if ! qemu-system-x86_64 --version 2>/dev/null | grep -Eq 'version (9|1[0-9])\.'; then
	log "installing qemu-system-x86 from $qemu_suite"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-t "$qemu_suite" qemu-system-x86 qemu-system-data >&2
fi
# libvirt from the same suite as QEMU: the serial channel's libvirt support
# (covmm --features libvirt) builds against libvirt-dev and is tested against
# libvirt's QEMU driver.
libvirt_pkgs=(libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients pkg-config)
missing=()
for p in "${libvirt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing from $qemu_suite: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-t "$qemu_suite" "${missing[@]}" >&2
fi

# The trixie build root: Debian's own compilers, bit for bit, so that Rust
# symbol hashes match the ones exported by Debian's kernel. openssl is there
# because Kconfig probes the binary (OPENSSL_SUPPORTS_ML_DSA).
trixie_pkgs=(rustc rust-src libclang-19-dev bindgen make gcc gcc-14 libc6-dev flex bison bc
	libelf-dev libssl-dev openssl python3 xz-utils cpio kmod dwarves rustfmt)
if [ "$codename" != trixie ] && [ ! -x "$TRIXIE_ROOT/usr/bin/rustc" ]; then
	log "debootstrapping the trixie build root into $TRIXIE_ROOT (about 4 minutes)"
	rm -rf "$TRIXIE_ROOT"
	mkdir -p "$TRIXIE_ROOT"
	debootstrap --variant=minbase --include="$(IFS=,; echo "${trixie_pkgs[*]}")" \
		trixie "$TRIXIE_ROOT" "$uri" >&2
fi
# Top up packages added since the root was made (or, natively, install them).
missing_trixie=()
for p in "${trixie_pkgs[@]}"; do
	in_trixie dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing_trixie+=("$p")
done
if [ ${#missing_trixie[@]} -gt 0 ]; then
	log "installing into the trixie toolchain: ${missing_trixie[*]}"
	in_trixie env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing_trixie[@]}" >&2
fi

# rustup toolchain pieces: rust-src for the debug kernel, the Windows target
# for the serial channel's guest agent.
if command -v rustup >/dev/null; then
	rustup component list --installed 2>/dev/null | grep -q '^rust-src' || rustup component add rust-src >&2
	rustup target list --installed 2>/dev/null | grep -q '^x86_64-pc-windows-gnu$' ||
		rustup target add x86_64-pc-windows-gnu >&2
else
	die "rustup is not installed; install it from rustup.rs, then rerun 'make deps'"
fi
bindgen_ok() {
	local v
	v=$(bindgen --version 2>/dev/null | awk '{ print $2 }') || return 1
	[ -n "$v" ] && [ "$(printf '%s\n0.71.1\n' "$v" | sort -V | head -n1)" = 0.71.1 ]
}
if ! bindgen_ok; then
	log "installing bindgen-cli (about 2 minutes)"
	cargo install bindgen-cli --locked >&2
fi

# fio for the testbed's L2, static (the script says why).
"$COVMM_ROOT/tools/build/testbed-tool.sh" fio >/dev/null

log "dependencies are in place (cache: $COVMM_CACHE)"
