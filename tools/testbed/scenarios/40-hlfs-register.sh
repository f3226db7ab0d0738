# SPDX-License-Identifier: GPL-2.0
# guest-hlfs registers its file system type; mounting fails cleanly, with a
# message saying why, until the hlfs transport exists.
l2_shared guest || fail "the shared L2 guest boots"
check "guest-hlfs loads" l2 guest insmod /covmm/guest_hlfs.ko
check_match "hlfs is a registered file system type" 'hlfs' "$(l2 guest cat /proc/filesystems)"
l2 guest mkdir -p /mnt/h
out=$(l2 guest mount -t hlfs share /mnt/h 2>&1)
rc=$?
check_match "mount -t hlfs fails" '^[1-9]' "$rc"
check_match "mount reports 'not supported'" '[Nn]ot supported' "$out"
check_match "the kernel log says why" "hlfs: cannot mount 'share': the host file transport is not implemented yet" "$(l2 guest dmesg)"
check "nothing got mounted" l2 guest '! grep -q " /mnt/h " /proc/mounts'
check "guest-hlfs unloads" l2 guest rmmod guest_hlfs
