# SPDX-License-Identifier: GPL-2.0
# testbed: time limit 900 s
# stress-ng's file system stressors on hlfs for 5 minutes (fewer for 2 on
# the debug kernel, below), all at once, with --verify: each stressor checks
# what it reads back and the results of its operations. stress-ng must
# report a successful run with no stressor failing, the guest's kernel log
# stays clean (the runner scans it), and once stress-ng is done the export
# holds nothing: every file and directory the stressors made was removed
# through hlfs. Sizes are kept to 16 MiB per stressor (128 MiB, its least,
# for copy-file), so that the whole run fits in L1's memory. stress-ng is
# Debian's, copied into L2 with its libraries (prepare_run_dir in
# l0-lib.sh).

X=/tmp/hlfs-stress
rm -rf "$X"
mkdir -p "$X"

hlfs_shared_mount stress "$X"

STRESSORS="access chdir chmod chown copy-file dentry dir dirdeep dirmany fallocate fcntl
	filename flock fpunch hdd iomix link lockf mknod open readahead rename seek symlink
	sync-file touch utime xattr"
# The debug kernel runs the stressors for 1 minute, without the eight that
# make and tear down thousands of names per operation: in a debug run the
# full set took 12 minutes for its 5, link alone 677 s for one operation
# (8,192 links and their unlinks, on a vCPU shared by 28 stressors under
# KASAN), too long for CI's 90 (and 2 minutes of the rest came to 309 s in
# CI's debug run of 2026-12-07's code). 40-hlfs and 43-hlfs-many-files take
# those paths on the debug kernel; the stock kernel runs the full set for 5.
if [ "$FLAVOR" = debug ]; then
	STRESSORS=$(echo $STRESSORS | tr ' ' '\n' |
		grep -vxE 'chdir|dentry|dir|dirdeep|dirmany|filename|link|symlink' | tr '\n' ' ')
fi
SECS=$(by_flavor 300 60)
args=""
for s in $STRESSORS; do args="$args --$s 1"; done
SZ=16M
args="$args --hdd-bytes $SZ --fallocate-bytes $SZ --iomix-bytes $SZ --readahead-bytes $SZ
	--seek-size $SZ --sync-file-bytes $SZ --copy-file-bytes 128M --dirdeep-inodes 20000"
out=$(l2_long 840 guest "cd /mnt/w && /usr/bin/stress-ng --temp-path /mnt/w --timeout ${SECS}s --verify \
	--metrics-brief $(echo $args) 2>&1; echo \"exit status \$?\"")
echo "$out"
# Its warnings again, next to the checks, where a CI log's excerpt shows them.
echo "$out" | grep -E ' (warn|fail): ' || true

# stress-ng 0.15 exits 7, "metrics may be untrustworthy", when a stressor
# ends with its bogo-op counter marked mid-update. flock, lockf and iomix fork
# helpers that bump the counter through the parent's shared ready flag and
# SIGKILL them at the end, so a helper killed between its two stores leaves
# the flag down for good: stress-ng's race, not the file system's (seen once,
# in iomix or one of the others, in a CI debug run of 2026-12-07). A failed
# operation or verification exits 2 instead, so exit 7 passes only when each
# stressor it names is one of those three.
status=$(echo "$out" | sed -n 's/^exit status //p' | tail -n 1)
untrusted=$(echo "$out" |
	sed -nE 's/.* ([a-z0-9-]+): (WARNING|NOTE): bogo-ops counter in non-ready state.*/\1/p' |
	sort -u | tr '\n' ' ')
if [ "$status" = 7 ] && [ -n "$untrusted" ] &&
	[ -z "$(echo $untrusted | tr ' ' '\n' | grep -vxE 'flock|lockf|iomix')" ]; then
	echo "NOTE: exit 7 for the bogo-op counter race of stress-ng's forking stressors: $untrusted"
	status=0
fi
desc="stress-ng ran $(echo $STRESSORS | wc -w) stressors for $SECS s and exited 0"
if [ "$status" = 0 ]; then
	pass "$desc"
else
	fail "$desc (exit status ${status:-missing}, untrustworthy counters: ${untrusted:-none})"
fi
check_match "... and reported a successful run" 'info: .* successful run completed' "$out"
check_eq "... with no stressor failing" "" "$(echo "$out" | grep -E ' fail: |unsuccessful run')"
check_eq "... and the export is empty again" "" "$(find "$X" -mindepth 1 | head -n 5)"

hlfs_shared_unmount stress
rm -rf "$X"
