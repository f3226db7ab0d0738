#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds fio, statically linked, from Debian's source package, and prints its
# path. The testbed's L2 runs it on hlfs (41-hlfs-workloads). Debian's own
# fio binary links 64 libraries (Ceph's among them, 85 MB in all), too much
# for an initramfs in a 512 MiB guest; this one needs none. Cached under
# $COVMM_CACHE/fio.
. "$(dirname "$0")/common.sh"

dir=$COVMM_CACHE/fio
apt_dir=$dir/apt
if [ -x "$dir/fio" ]; then
	echo "$dir/fio"
	exit 0
fi

log "building fio from Debian's source package (once; cached in $dir)"
rm -rf "$dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" "$dir/src"
# A private apt state with only the deb-src line, so that the machine's own
# sources are left as they are.
cat >"$apt_dir/parts/src.sources" <<EOF
Types: deb-src
URIs: $(debian_uri)
Suites: $(host_codename)
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of the fio source index failed"
# apt checks the files against the signed index; unpacking needs no dpkg-dev.
(cd "$dir/src" && apt-get "${apt_opts[@]}" source --download-only fio >&2) ||
	die "downloading fio's source package failed"
orig=$(ls "$dir/src"/fio_*.orig.tar.* | head -n1)
tar -C "$dir/src" -xf "$orig"
tree=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name 'fio-*' | head -n1)
(cd "$tree" && ./configure --build-static --disable-native >&2 && make -j"$(nproc)" fio >&2) ||
	die "building fio failed (see above)"
strip -o "$dir/fio" "$tree/fio"
rm -rf "$dir/src" "$apt_dir"
echo "$dir/fio"
