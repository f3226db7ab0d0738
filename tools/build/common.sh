# SPDX-License-Identifier: GPL-2.0
# Shared settings for the CoVMM build and testbed scripts. Source it, do not run it.
#
# Every kernel-related script takes its version from KERNEL_SERIES, which the
# top-level Makefile sets from tools/build/kernel.mk (the one place it is written).

set -euo pipefail

COVMM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "${KERNEL_SERIES:-}" ]; then
	KERNEL_SERIES=$(sed -n 's/^KERNEL_SERIES[[:space:]]*?*=[[:space:]]*//p' "$COVMM_ROOT/tools/build/kernel.mk")
fi
COVMM_CACHE=${COVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/covmm}
TRIXIE_ROOT=$COVMM_CACHE/trixie-root
DEBS=$COVMM_CACHE/debs
export KERNEL_SERIES COVMM_CACHE COVMM_ROOT

log() { printf '[covmm] %s\n' "$*" >&2; }
die() { printf '[covmm] error: %s\n' "$*" >&2; exit 1; }
# require_clean_run RUN WHAT: dies unless the testbed run in RUN left a
# summary with no failure; run.sh itself ends well whatever its results.
require_clean_run() {
	local run=$1 what=$2 failed
	[ -f "$run/summary" ] || die "the $what produced no summary; see $run/l1-console.log"
	read -r _ failed <"$run/summary"
	[ "$failed" -eq 0 ] || die "the $what hit $failed problems; see $run/results"
}

# The machine's own Debian mirror, read from its apt sources, so that no host
# name is ever written into the repository.
debian_uri() {
	local uri=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list{,.d/debian.sources}"
	echo "$uri"
}

host_codename() { . /etc/os-release && echo "${VERSION_CODENAME:-unknown}"; }

# The Debian source package to build from: linux-source-$KERNEL_SERIES, or the
# newest linux-source-7.* once backports has dropped that series.
kernel_source_package() {
	if apt-cache show "linux-source-$KERNEL_SERIES" >/dev/null 2>&1; then
		echo "linux-source-$KERNEL_SERIES"
		return
	fi
	local major=${KERNEL_SERIES%%.*}
	local newest
	newest=$(apt-cache search --names-only "^linux-source-$major\.[0-9]+\$" | awk '{ print $1 }' | sort -V | tail -n1)
	[ -n "$newest" ] || die "no linux-source-$major.* package in apt; run 'make deps'"
	log "linux-source-$KERNEL_SERIES is gone from backports; using $newest"
	echo "$newest"
}

# Debian's ABI name (for example 7.3.4+deb13-amd64) that goes with a source series.
debian_abi_for_series() {
	local series=$1
	apt-cache search --names-only "^linux-headers-${series//./\\.}\.[0-9]+\+deb[0-9]+-amd64\$" |
		awk '{ print $1 }' | sed 's/^linux-headers-//' | sort -V | tail -n1
}

# Fetch a .deb into $DEBS without installing it; prints its path.
fetch_deb() {
	local pkg=$1 f
	mkdir -p "$DEBS"
	f=$(ls "$DEBS/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$f" ]; then
		(cd "$DEBS" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed; run 'make deps'"
		f=$(ls "$DEBS/${pkg}_"*.deb | sort -V | tail -n1)
	fi
	echo "$f"
}

# Run a command inside the trixie build root with the repository and the cache
# mounted at the same paths as outside, so that paths never need translating.
# A private mount namespace keeps the bind mounts from leaking to the host.
in_trixie() {
	if [ "$(host_codename)" = trixie ]; then
		"$@"
		return
	fi
	[ -x "$TRIXIE_ROOT/usr/bin/rustc" ] || die "no trixie build root at $TRIXIE_ROOT; run 'make deps'"
	COVMM_IN_CMD=$(printf '%q ' "$@") COVMM_IN_PWD=$PWD TRIXIE_ROOT=$TRIXIE_ROOT \
	unshare --mount --propagation private -- /bin/bash -euc '
		root=$TRIXIE_ROOT
		for d in "$COVMM_ROOT" "$COVMM_CACHE"; do
			mkdir -p "$root$d"
			mount --rbind "$d" "$root$d"
		done
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			LANG=C.UTF-8 KERNEL_SERIES="$KERNEL_SERIES" COVMM_CACHE="$COVMM_CACHE" \
			COVMM_ROOT="$COVMM_ROOT" /bin/bash -euc "cd $(printf %q "$COVMM_IN_PWD") && $COVMM_IN_CMD"
	'
}

stamp_ok() { [ -f "$COVMM_CACHE/stamps/$1" ]; }
stamp_set() { mkdir -p "$COVMM_CACHE/stamps" && touch "$COVMM_CACHE/stamps/$1"; }
