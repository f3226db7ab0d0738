# SPDX-License-Identifier: GPL-2.0
# testbed: time limit 600 s
# hlfs under real workloads, in L2 on a mount of an L1 directory: fio with
# crc32c verification (sequential, random, O_DIRECT and shared-mapping
# I/O), read back again from the host once the guest's caches are dropped;
# a source tree unpacked in the guest and compared, file by file, with the
# host's own copy; a git repository committed and checked on both sides; a
# sqlite3 database after 10,000 transactions. (The 200,000-file walk is
# 43-hlfs-many-files.) On the debug kernel, which is there for its splat
# scan over the same paths, fio writes 1 MiB per job and sqlite3 makes 100
# transactions: in CI's debug run the four 16 MiB jobs alone took 8.5
# minutes, and 2,000 transactions 320 s; at 4 MiB and 500 this scenario
# took 578 s in CI's debug run of 2026-12-07's code (475 s in a local run,
# where the mapped-write job took 99 s and the transactions 94 s).

X=/tmp/hlfs-work
SRC=/tmp/hlfs-src
rm -rf "$X" "$SRC"
mkdir -p "$X" "$SRC"

hlfs_shared_mount work "$X"
drop_guest_caches() { l2 guest 'sync && echo 3 >/proc/sys/vm/drop_caches'; }
MIB=$(by_flavor 16 1)
ROWS=$(by_flavor 10000 100)

# fio writes and verifies in one job; the same job with --verify_only then
# reads every block again from the host, the guest's page cache dropped.
fio_verified() {
	local desc=$1 name=$2
	shift 2
	local job=(/bin/fio --name="$name" --directory=/mnt/w --size=${MIB}m --verify=crc32c
		--verify_fatal=1 --verify_state_save=0 --thread "$@")
	check "fio: $desc, written and verified (crc32c)" \
		l2_long 900 guest "${job[*]}"
	drop_guest_caches
	check "... and verified again from the host" \
		l2_long 900 guest "${job[*]} --verify_only"
}
fio_verified "sequential 64 KiB writes" seq --rw=write --bs=64k
fio_verified "random 4 KiB writes" rand --rw=randwrite --bs=4k --ioengine=psync
fio_verified "random 4 KiB O_DIRECT writes" direct --rw=randwrite --bs=4k --direct=1
fio_verified "random 4 KiB writes through a shared mapping" mmap --rw=randwrite --bs=4k --ioengine=mmap
bytes=$((MIB << 20))
check_eq "the host holds fio's four $MIB MiB files" "$bytes $bytes $bytes $bytes" \
	"$(stat -c %s "$X"/seq.0.0 "$X"/rand.0.0 "$X"/direct.0.0 "$X"/mmap.0.0 | tr '\n' ' ' | sed 's/ $//')"
rm -f "$X"/*.0.0

# A real source tree: this repository at HEAD.
git -c safe.directory='*' -C "$REPO" archive --prefix=src/ HEAD >"$X/src.tar"
tar -C "$SRC" -xf "$X/src.tar"
check "the guest unpacks a source tree ($(tar -tf "$X/src.tar" | wc -l) entries)" \
	l2 guest 'cd /mnt/w && tar -xf src.tar'
check "diff -r: the host sees the guest's copy equal to its own" diff -r "$SRC/src" "$X/src"
sums='find . -type f | LC_ALL=C sort | xargs sha256sum'
drop_guest_caches
check_eq "the sha256 of every file, read back from the host in the guest" \
	"$(cd "$SRC/src" && eval "$sums")" "$(l2 guest "cd /mnt/w/src && $sums")"

# git: objects written through temporary files, links and renames, the
# index and its lock file, fsync.
GIT="HOME=/tmp GIT_AUTHOR_NAME=covmm GIT_AUTHOR_EMAIL=covmm@l2 GIT_COMMITTER_NAME=covmm"
GIT="$GIT GIT_COMMITTER_EMAIL=covmm@l2 /usr/bin/git -c gc.auto=0 -c maintenance.auto=false"
check "git init, add and commit of the tree in the guest" \
	l2 guest "cd /mnt/w/src && $GIT init -q && $GIT add -A && $GIT commit -q -m import"
drop_guest_caches
check "git fsck --full --strict in the guest" l2 guest "cd /mnt/w/src && $GIT fsck --full --strict"
check "... and on the host" git -c safe.directory='*' -C "$X/src" fsck --full --strict
check_eq "both see the same commit" \
	"$(git -c safe.directory='*' -C "$X/src" rev-parse HEAD)" \
	"$(l2 guest "cd /mnt/w/src && $GIT rev-parse HEAD")"
check_eq "the guest's working tree is clean against its commit" "" \
	"$(l2 guest "cd /mnt/w/src && $GIT status --porcelain")"

# sqlite3 in its default rollback-journal mode: each INSERT is a transaction
# (journal created, written, synced, deleted; database written and synced).
check "sqlite3: $ROWS transactions in the guest" \
	l2_long 1200 guest "{ echo 'CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT);';
		seq $ROWS | sed 's/.*/INSERT INTO t (v) VALUES (hex(randomblob(64)));/'; } | /usr/bin/sqlite3 /mnt/w/db.sqlite"
drop_guest_caches
check_eq "... PRAGMA integrity_check in the guest" ok \
	"$(l2 guest "/usr/bin/sqlite3 /mnt/w/db.sqlite 'PRAGMA integrity_check;'")"
check_eq "... all $ROWS rows" "$ROWS" "$(l2 guest "/usr/bin/sqlite3 /mnt/w/db.sqlite 'SELECT count(*) FROM t;'")"
check_eq "... and integrity_check on the host" ok "$(sqlite3 "$X/db.sqlite" 'PRAGMA integrity_check;')"
check_eq "... with the same rows" "$(sqlite3 "$X/db.sqlite" 'SELECT sum(length(v)), max(i) FROM t;')" \
	"$(l2 guest "/usr/bin/sqlite3 /mnt/w/db.sqlite 'SELECT sum(length(v)), max(i) FROM t;'")"

hlfs_shared_unmount work
rm -rf "$X" "$SRC"
