# SPDX-License-Identifier: GPL-2.0
# hlfs: a host directory, exported by the VM's owner, mounted in the guest.
# Files, directories, links, FIFOs, attributes and data go both ways; host
# changes show after the attribute timeout, at once after drop_caches
# through Reverse VMRPC; escapes from the export fail with nothing outside
# touched (.., symbolic links, renames and links out, a directory moved out
# by the host while the guest holds it, forged node handles); read-only
# exports refuse writes; a full host file system reaches the writer as an
# error; evicted inodes give their host handles back.
COVMM=$TOOLS/covmm
X=/tmp/hlfs-export
rm -rf "$X" /tmp/hlfs-outside /tmp/hlfs-moved /tmp/hlfs-small
mkdir -p "$X/dir/sub"
echo hello >"$X/hello.txt"
echo secret >/tmp/hlfs-outside
ln -s /tmp/hlfs-outside "$X/abs-link"
ln -s ../../tmp/hlfs-outside "$X/rel-link"
hsha() { sha256sum "$1" | cut -d' ' -f1; }

check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
vm=$(l2_pid guest)
check "guest-rvmrpc (one Reverse VMRPC thread) and guest-hlfs load" \
	l2 guest 'insmod /covmm/guest_rvmrpc.ko servers=1 && insmod /covmm/guest_hlfs.ko'
check_match "hlfs is a registered file system type" 'hlfs' "$(l2 guest cat /proc/filesystems)"
l2 guest mkdir -p /mnt/h /mnt/r /mnt/s
check_match "mounting a tag nobody exported fails, saying why" 'no such tag' \
	"$(l2 guest 'mount -t hlfs share /mnt/h 2>&1; dmesg | grep hlfs: | tail -n 1')"
check_match "export of a relative path is refused" 'relative' "$("$COVMM" export "$vm" share tmp 2>&1)"
check "covmm export" "$COVMM" export "$vm" share "$X"
check_match "exporting the same tag twice is refused" 'exported already' "$("$COVMM" export "$vm" share "$X" 2>&1)"
check_match "covmm exports lists it" '"tag":"share"' "$("$COVMM" --json exports "$vm")"
check "the guest mounts it (1 s attribute timeout)" l2 guest mount -t hlfs share /mnt/h

# Both ways.
check_match "a host file reads in the guest" '^hello$' "$(l2 guest cat /mnt/h/hello.txt)"
check_match "ls lists the export" '^abs-link dir hello.txt rel-link $' "$(l2 guest ls /mnt/h | tr '\n' ' ')"
check "a guest file appears on the host" l2 guest 'echo from-guest >/mnt/h/new.txt'
check_match "... with its data" '^from-guest$' "$(cat "$X/new.txt")"
check "mkdir and rename in the guest" l2 guest 'mkdir /mnt/h/d2 && mv /mnt/h/new.txt /mnt/h/d2/moved.txt'
check_match "... show on the host" '^from-guest$' "$(cat "$X/d2/moved.txt" 2>&1)"
check "a symbolic link made in the guest" l2 guest 'ln -s some/target /mnt/h/sl'
check_match "... is one on the host" '^some/target$' "$(readlink "$X/sl")"
check_match "... and reads back in the guest" '^some/target$' "$(l2 guest readlink /mnt/h/sl)"
check "a hard link made in the guest" l2 guest 'ln /mnt/h/hello.txt /mnt/h/hard'
check_match "... has 2 links on the host" '^2$' "$(stat -c %h "$X/hello.txt")"
check "chmod in the guest" l2 guest chmod 640 /mnt/h/hello.txt
check_match "... sets the host mode" '^640$' "$(stat -c %a "$X/hello.txt")"
check "truncate in the guest" l2 guest truncate -s 3 /mnt/h/d2/moved.txt
check_match "... sets the host size" '^3$' "$(stat -c %s "$X/d2/moved.txt")"
check "mkfifo in the guest" l2 guest mkfifo /mnt/h/fifo
check_match "... makes a FIFO on the host" 'fifo' "$(stat -c %F "$X/fifo")"
check_match "a FIFO on hlfs works in the guest" '^through$' "$(l2 guest 'cat /mnt/h/fifo & echo through >/mnt/h/fifo; wait')"
check "unlink and rmdir in the guest" l2 guest 'rm /mnt/h/hard /mnt/h/fifo /mnt/h/d2/moved.txt && rmdir /mnt/h/d2'
check "... and they are gone on the host" test ! -e "$X/hard" -a ! -e "$X/d2"
check "4 MiB written in the guest" l2 guest 'dd if=/dev/urandom of=/mnt/h/big bs=64k count=64 2>/dev/null && sync'
check_eq "... arrive whole on the host" "$(l2 guest sha256sum /mnt/h/big | cut -d' ' -f1)" "$(hsha "$X/big")"
check_eq "... and read back whole from the host, caches dropped" "$(hsha "$X/big")" \
	"$(l2 guest 'echo 3 >/proc/sys/vm/drop_caches; sha256sum /mnt/h/big' | cut -d' ' -f1)"
check_eq "O_DIRECT reads" "$(hsha "$X/big")" \
	"$(l2 guest 'dd if=/mnt/h/big bs=256k iflag=direct 2>/dev/null | sha256sum' | cut -d' ' -f1)"
check "a shared writable mapping reaches the host" \
	l2 guest 'printf abcdefgh >/mnt/h/mm && covmm-tb mmap-write /mnt/h/mm 2 XY'
check_match "... after msync" '^abXYefgh$' "$(cat "$X/mm")"
check_match "df works" 'hlfs|share' "$(l2 guest df /mnt/h 2>&1)"
check_match "directories of 1000 entries list whole" '^1000$' \
	"$(mkdir -p "$X/many"; for i in $(seq 1 1000); do : >"$X/many/f$i"; done; l2 guest 'ls /mnt/h/many | wc -l')"
check_eq "... and stat whole: ls -l, on what READDIRPLUS looked up" "1000 0" \
	"$(l2 guest 'ls -ln /mnt/h/many | awk "/^-/ { n++; s += \$5 } END { print n, s }"')"

# Coherence.
l2 guest cat /mnt/h/hello.txt >/dev/null
echo changed-on-host >"$X/hello.txt"
sleep 2
check_match "a host change shows after the attribute timeout" '^changed-on-host$' "$(l2 guest cat /mnt/h/hello.txt)"
: >"$X/made-on-host"
sleep 2
check_match "a file made on the host appears" 'made-on-host' "$(l2 guest ls /mnt/h)"
# A name the host points at another file: the listing (READDIRPLUS) finds
# the cached entry's node stale, drops it and links the new one.
echo old >"$X/swap"
l2 guest stat /mnt/h/swap >/dev/null
echo newer >"$X/swap.new"
mv "$X/swap.new" "$X/swap"
sleep 2
check_eq "a name the host replaced lists as the new file" "$(stat -c '%i %s' "$X/swap")" \
	"$(l2 guest 'ls -l /mnt/h >/dev/null && stat -c "%i %s" /mnt/h/swap')"
check_match "... with its data" '^newer$' "$(l2 guest cat /mnt/h/swap)"
rm "$X/swap"
check "the long-timeout mount (attr_timeout=600)" l2 guest mount -t hlfs -o attr_timeout=600 share /mnt/s
l2 guest 'cat /mnt/s/hello.txt >/dev/null; ls /mnt/s >/dev/null'
echo v3 >"$X/hello.txt"
: >"$X/made-later"
# stat opens nothing, so it shows the cached attributes (16 bytes of
# "changed-on-host"). Names the guest has not seen are looked up on the
# host each time (no negative entries are cached).
check_match "with a long timeout the guest still sees its cached attributes" '^16$' "$(l2 guest stat -c %s /mnt/s/hello.txt)"
check "the guest offers its Reverse VMRPC slot" rv_wait_slots "$vm" 1
# Dropping evicts every cached inode, and each eviction tells the host to
# forget its node: over a thousand calls here, longer than the default 5 s
# a host call waits for the guest in a debug guest.
"$COVMM" timeout "$vm" 120000 >/dev/null
check "covmm drop-caches 3 through Reverse VMRPC" "$COVMM" drop-caches "$vm" 3
"$COVMM" timeout "$vm" 5000 >/dev/null
check_match "... makes the host's change visible at once" '^3$' "$(l2 guest stat -c %s /mnt/s/hello.txt)"
check_match "... with its data" '^v3$' "$(l2 guest cat /mnt/s/hello.txt)"
check_match "... and the new file" 'made-later' "$(l2 guest stat /mnt/s/made-later)"
echo v4 >"$X/hello.txt"
check_match "close-to-open: a file opened after a host change sees it, whatever the timeout" '^v4$' \
	"$(l2 guest cat /mnt/s/hello.txt)"
check "the second mount unmounts" l2 guest umount /mnt/s

# Escapes.
check_match "an absolute host symlink resolves in the guest, not on the host" '^gone$' \
	"$(l2 guest 'cat /mnt/h/abs-link 2>/dev/null || echo gone')"
check_match "so does a relative one climbing out" '^gone$' \
	"$(l2 guest 'cat /mnt/h/rel-link 2>/dev/null || echo gone')"
check_match ".. at the export root is the guest's /mnt" 'h' "$(l2 guest ls /mnt/h/..)"
check_match "a hard link out of the export is refused" 'cross-device|Invalid' \
	"$(l2 guest 'ln /mnt/h/hello.txt /tmp/out-link 2>&1')"
check "a rename out of the export moves nothing on the host" \
	l2 guest 'mv /mnt/h/made-on-host /tmp/ && test ! -e /mnt/h/made-on-host'
check "... the file went to the guest's /tmp, not the host's" test ! -e /tmp/made-on-host
l2 guest 'sh -c "exec 3</mnt/h/dir; echo \$\$ >/tmp/holder.pid; exec sleep 600" >/dev/null 2>&1 & echo $! >>/tmp/covmm-bg.pids'
sleep 1
mv "$X/dir" /tmp/hlfs-moved
sleep 2
out=$(l2 guest 'touch /proc/$(cat /tmp/holder.pid)/fd/3/escaped 2>&1; ls /proc/$(cat /tmp/holder.pid)/fd/3/ 2>&1')
echo "held directory after the host moved it out: $out"
check "a directory the host moved out of the export cannot be written through" test ! -e /tmp/hlfs-moved/escaped
check_match "... nor listed" 'Stale|No such' "$out"
l2 guest 'kill $(cat /tmp/holder.pid)'
req() { # the 66 words of an HlfsReq with export $1, node $2
	local w=() i
	for i in $(seq 1 66); do w+=(0); done
	w[0]=$1 w[2]=$2
	local IFS=,
	echo "${w[*]}"
}
check_match "a forged node handle gets ESTALE" 'Stale file handle|-116|"result":-116' \
	"$(l2 guest covmm-guest --json call covmm.hlfs:1 5 --write --u32 "$(req 1 424242)" 2>&1)"
check_match "a forged export handle gets EBADF" 'Bad file descriptor|-9' \
	"$(l2 guest covmm-guest --json call covmm.hlfs:1 5 --write --u32 "$(req 77 1)" 2>&1)"
check_match "an unknown operation gets ENOSYS" 'not implemented|-38' \
	"$(l2 guest covmm-guest --json call covmm.hlfs:1 99 --write --u32 "$(req 1 1)" 2>&1)"
check_match "a short request gets EINVAL" 'Invalid argument|-22' \
	"$(l2 guest covmm-guest --json call covmm.hlfs:1 5 --write --u32 1,2,3 2>&1)"

# Read-only exports, and a full host file system.
check "a read-only export" "$COVMM" export "$vm" ro "$X" --ro
check "... mounts" l2 guest mount -t hlfs ro /mnt/r
check_match "... refuses writes with EROFS" 'Read-only' "$(l2 guest 'touch /mnt/r/x 2>&1')"
check_match "... and reads" '^v4$' "$(l2 guest cat /mnt/r/hello.txt)"
check "the read-only mount unmounts" l2 guest umount /mnt/r

# Id mapping: guest root is host uid/gid 1000 on this export; other host ids
# show as 65534; a guest chown lands on the mapped host id, and one to an
# unmapped id is refused.
mkdir -p /tmp/hlfs-ids
echo mine >/tmp/hlfs-ids/mine
echo roots >/tmp/hlfs-ids/roots
chown 1000:1000 /tmp/hlfs-ids/mine
check "an export with uid and gid maps" \
	"$COVMM" export "$vm" ids /tmp/hlfs-ids --uid-map 0:1000:1 --uid-map 2000:3000:10 --gid-map 0:1000:1
check_match "overlapping map ranges are refused" 'overlap|invalid|Invalid' \
	"$("$COVMM" export "$vm" bad /tmp/hlfs-ids --uid-map 0:1000:5 --uid-map 3:2000:1 2>&1)"
check "... mounts" l2 guest mount -t hlfs ids /mnt/r
check_eq "a file of host uid 1000 is guest root's" "0:0" "$(l2 guest stat -c %u:%g /mnt/r/mine)"
check_eq "a file of host root shows as 65534" "65534:65534" "$(l2 guest stat -c %u:%g /mnt/r/roots)"
check "guest chown to root and to 2005" l2 guest 'chown 0:0 /mnt/r/roots && chown 2005 /mnt/r/mine'
check_eq "... land on host uids 1000 and 3005" "1000:1000 3005:1000" \
	"$(stat -c %u:%g /tmp/hlfs-ids/roots /tmp/hlfs-ids/mine | tr '\n' ' ' | sed 's/ $//')"
check_match "a chown to an unmapped uid is refused" 'Invalid argument' "$(l2 guest 'chown 5 /mnt/r/mine 2>&1')"
check_eq "... and changes nothing" "3005" "$(stat -c %u /tmp/hlfs-ids/mine)"
check "the mapped mount unmounts" l2 guest umount /mnt/r
check "... and is withdrawn" "$COVMM" unexport "$vm" ids
rm -rf /tmp/hlfs-ids

mkdir -p /tmp/hlfs-small
mount -t tmpfs -o size=1m tmpfs /tmp/hlfs-small
check "a 1 MiB host file system exported" "$COVMM" export "$vm" small /tmp/hlfs-small
check "... mounts" l2 guest mount -t hlfs small /mnt/r
out=$(l2 guest 'dd if=/dev/zero of=/mnt/r/fill bs=64k count=32 conv=fsync 2>&1; echo "status $?"')
echo "$out"
check_match "ENOSPC on the host reaches the guest writer" 'No space left|status 1' "$out"
check "the full mount unmounts" l2 guest umount /mnt/r
check "... and is withdrawn" "$COVMM" unexport "$vm" small
check "the host file system then unmounts (hlfs holds nothing there)" umount /tmp/hlfs-small

# Handles come back.
nodes() { "$COVMM" --json exports "$vm" | jq '.[] | select(.tag == "share") | .nodes'; }
l2 guest 'ls -l /mnt/h/many >/dev/null'
before=$(nodes)
l2 guest 'echo 3 >/proc/sys/vm/drop_caches'
sleep 1
after=$(nodes)
echo "node handles held: $before after listing 1000 files, $after after drop_caches"
check "evicted inodes give their host handles back" test "$after" -lt "$before"
check "covmm unexport" "$COVMM" unexport "$vm" share
check_match "the guest's mount fails from then on" 'No such device|Input/output' "$(l2 guest 'ls /mnt/h 2>&1')"
check "the mount unmounts" l2 guest umount /mnt/h
check "guest-hlfs unloads" l2 guest rmmod guest_hlfs
rm -rf "$X" /tmp/hlfs-moved /tmp/hlfs-outside
