# SPDX-License-Identifier: GPL-2.0
# hlfs under a VMM that runs as an unprivileged user (uid 4242, no
# supplementary groups): the guest's root holds exactly that user's rights
# on the export. It reads and writes what the user may, new files are the
# user's on the host, and what the user cannot reach (root's 0600 file,
# root's 0700 directory, root's world-readable file for writing, another
# owner's file for chmod or chown) stays out of reach, unchanged.

COVMM=$TOOLS/covmm
U=4242
X=/tmp/hlfs-unpriv
rm -rf "$X"
mkdir -p "$X/private"
echo mine >"$X/mine"
echo secret >"$X/secret"
echo deep >"$X/private/f"
echo shared >"$X/public"
chown "$U:$U" "$X" "$X/mine"
chmod 0600 "$X/secret"
chmod 0700 "$X/private"
chmod 0644 "$X/public"

check "host-vmrpc loads" host_load
L2_USER=$U l2_start_alone unpriv || fail "an L2 whose QEMU runs as uid $U boots"
vm=$(l2_pid unpriv)
check_eq "its VMM runs as uid $U" "$U" "$(stat -c %u "/proc/$vm")"
check_eq "... with no supplementary groups" "" "$(sed -n 's/^Groups:[[:space:]]*//p' "/proc/$vm/status")"
check "guest-rvmrpc and guest-hlfs load" \
	l2 unpriv 'insmod /covmm/guest_rvmrpc.ko servers=0 && insmod /covmm/guest_hlfs.ko'
check "covmm export (root may export for any VM)" "$COVMM" export "$vm" u "$X"
l2 unpriv mkdir -p /mnt/u
check "the guest mounts it" l2 unpriv mount -t hlfs u /mnt/u

check_eq "the guest's root reads the VMM user's file" mine "$(l2 unpriv cat /mnt/u/mine)"
check_eq "... and root's world-readable file" shared "$(l2 unpriv cat /mnt/u/public)"
check_match "... but not root's 0600 file: EACCES" 'Permission denied' \
	"$(l2 unpriv 'cat /mnt/u/secret 2>&1')"
check_match "... nor root's 0700 directory" 'Permission denied' "$(l2 unpriv 'ls /mnt/u/private 2>&1')"
check_match "... nor a file in it" 'Permission denied' "$(l2 unpriv 'cat /mnt/u/private/f 2>&1')"
check_match "writing root's world-readable file: EACCES" 'Permission denied' \
	"$(l2 unpriv '{ echo x >>/mnt/u/public; } 2>&1')"
check_match "truncating it: EACCES" 'Permission denied' "$(l2 unpriv 'truncate -s 0 /mnt/u/public 2>&1')"
check_match "chmod of root's file: EPERM" 'not permitted' "$(l2 unpriv 'chmod 0666 /mnt/u/public 2>&1')"
check_eq "root's files are unchanged" "secret shared 600 644 deep" \
	"$(cat "$X/secret" "$X/public" | tr '\n' ' ')$(stat -c %a "$X/secret" "$X/public" | tr '\n' ' ')$(cat "$X/private/f")"

check "the guest creates a file" l2 unpriv 'echo new >/mnt/u/new'
check_eq "... which is the VMM user's on the host" "$U:$U new" "$(stat -c %u:%g "$X/new") $(cat "$X/new")"
check_match "chown of it to root: EPERM" 'not permitted' "$(l2 unpriv 'chown 0:0 /mnt/u/new 2>&1')"
check_eq "... and it stays the user's" "$U:$U" "$(stat -c %u:%g "$X/new")"
check "mkdir, rename and unlink within the user's directory" \
	l2 unpriv 'mkdir /mnt/u/d && mv /mnt/u/new /mnt/u/d/new && rm /mnt/u/d/new && rmdir /mnt/u/d'

check "the mount unmounts" l2 unpriv umount /mnt/u
check "covmm unexport" "$COVMM" unexport "$vm" u
l2_stop unpriv
rm -rf "$X"
