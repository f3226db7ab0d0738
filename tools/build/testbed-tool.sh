#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# testbed-tool.sh fio|virtiofsd: builds a tool the testbed runs, once, and
# prints its path. Cached under $COVMM_CACHE/TOOL.
#  - fio, for the workloads L2 runs on hlfs (41-hlfs-workloads): statically
#    linked, from Debian's source package. Debian's own binary links 64
#    libraries (Ceph's among them, 85 MB in all), too much for an initramfs
#    in a 512 MiB guest; this one needs none.
#  - virtiofsd, the Rust vhost-user file system daemon, from crates.io (as
#    `cargo install virtiofsd`), which `make bench` runs in L1 as the
#    virtiofs anchor of the hlfs benchmark; it needs libseccomp-dev and
#    libcap-ng-dev (make deps).
. "$(dirname "$0")/common.sh"

tool=${1:-}
case $tool in
fio) bin=fio ;;
virtiofsd) bin=bin/virtiofsd ;;
*) die "usage: testbed-tool.sh fio|virtiofsd" ;;
esac
dir=$COVMM_CACHE/$tool
apt_dir=$dir/apt
if [ -x "$dir/$bin" ]; then
	echo "$dir/$bin"
	exit 0
fi
log "building $tool (once; cached in $dir)"
rm -rf "$dir"
if [ "$tool" = virtiofsd ]; then
	cargo install --locked --quiet --root "$dir" virtiofsd >&2 ||
		die "cargo install virtiofsd failed (see above)"
	echo "$dir/$bin"
	exit 0
fi
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" "$dir/src"
# A private apt state with only the deb-src line, so that the machine's own
# sources are left as they are.
cat >"$apt_dir/parts/src.sources" <<EOT
Types: deb-src
URIs: $(debian_uri)
Suites: $(host_codename)
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
apt_opts=(-q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of the $tool source index failed"
# apt checks the files against the signed index; unpacking needs no dpkg-dev.
(cd "$dir/src" && apt-get "${apt_opts[@]}" source --download-only "$tool" >&2) ||
	die "downloading $tool's source package failed"
orig=$(ls "$dir/src/${tool}_"*.orig.tar.* | head -n1)
tar -C "$dir/src" -xf "$orig"
tree=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name "$tool-*" | head -n1)
(cd "$tree" && ./configure --build-static --disable-native >&2 && make -j"$(nproc)" fio >&2) ||
	die "building $tool failed (see above)"
strip -o "$dir/$tool" "$tree/$tool"
rm -rf "$dir/src" "$apt_dir"
echo "$dir/$tool"
