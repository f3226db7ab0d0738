# SPDX-License-Identifier: GPL-2.0
# testbed: time limit 1500 s
# A guest walks 200,000 files on hlfs (ls -lR: an lstat each, of what
# READDIRPLUS looked up as it listed them) while L1 samples the VMM's open
# file descriptors every second: hlfs holds host nodes by dentry reference,
# never by file descriptor, so the count must not follow the walk
# (virtiofsd's one O_PATH descriptor per inode is
# what runs it out of descriptors on large trees). On the debug kernel the
# tree has 2,000 files: creating 200,000 in L1's tmpfs under KASAN and
# lockdep alone ran past five minutes, too much for CI's 90, and 5,000 took
# 162 s in a local debug run (the walk 103 s, the unmount 50 s).

COVMM=$TOOLS/covmm
X=/tmp/hlfs-many
rm -rf "$X"
mkdir -p "$X"

hlfs_shared_mount many "$X"

DIRS=$(by_flavor 200 2)
FILES=$((DIRS * 1000))
T=$X/tree
t0=$(date +%s)
mkdir "$T"
for d in $(seq -w 0 $((DIRS - 1))); do
	mkdir "$T/d$d"
	(cd "$T/d$d" && seq -f f%g 1000 | xargs touch)
done
echo "$FILES files made on the host in $(($(date +%s) - t0)) s"
fds() { ls "/proc/$vm/fd" | wc -l; }
fds_before=$(fds)
echo "$fds_before" >/tmp/hlfs-fd-max
(
	while sleep 1; do
		n=$(fds)
		[ "$n" -le "$(cat /tmp/hlfs-fd-max)" ] || echo "$n" >/tmp/hlfs-fd-max
	done
) &
sampler=$!
t0=$(date +%s)
check_eq "the guest finds and stats $FILES files" "$FILES" \
	"$(l2_long 3000 guest 'ls -lR /mnt/w/tree | grep -c "^-"')"
echo "the walk took $(($(date +%s) - t0)) s"
kill "$sampler"
wait "$sampler" 2>/dev/null
nodes=$("$COVMM" --json exports "$vm" | jq '.[] | select(.tag == "many") | .nodes')
echo "VMM descriptors: $fds_before before the walk, at most $(cat /tmp/hlfs-fd-max) during it; node handles held after it: $nodes"
check "the VMM's open descriptors did not grow with the walk" test "$(cat /tmp/hlfs-fd-max)" -le "$((fds_before + 4))"

hlfs_shared_unmount many "the mount unmounts (no forget per cached inode)"
rm -rf "$X" /tmp/hlfs-fd-max
