# SPDX-License-Identifier: GPL-2.0
# Hostile VMRPC requests, issued as raw hypercalls from the guest kernel
# (covmm-guest raw): each gets its documented errno (Documentation/
# hypercall-abi.md) and nothing else happens. That handles are per VM is
# checked with two guests in 20-two-guests.
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads in the first guest" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0

raw() { l2_raw "$@"; }
BIND=2 UNBIND=3 PERFORM=4
ST=covmm.selftest:1
HASH=1 FILL=2
ABOVE_RAM=0x10000000000 # 1 TiB, far above the guest's 512 MiB
LAPIC=0xfee00000        # MMIO, no memslot behind it

check_eq "an unknown opcode gets ENOSYS" -38 "$(raw guest 0x77)"
check_eq "the last opcode of the range gets ENOSYS" -38 "$(raw guest 0xff)"
check_eq "an unknown handle gets EBADF" -9 "$(raw guest $PERFORM 424242 0 0 0)"
check_eq "unbinding an unknown handle gets EBADF" -9 "$(raw guest $UNBIND 424242)"

h=$(raw guest $BIND --bind-request $ST)
check_match "binding covmm.selftest version 1 gives a handle" '^[1-9][0-9]*$' "$h"
check_eq "a null call through it returns 0" 0 "$(raw guest $PERFORM "$h" 0 0 0)"
check_eq "an unknown function gets EOPNOTSUPP" -95 "$(raw guest $PERFORM "$h" 77 0 0)"
check_eq "a function number above 32 bits gets EINVAL" -22 "$(raw guest $PERFORM "$h" 0x100000000 0 0)"

check_eq "a bind request outside guest RAM gets EFAULT" -14 "$(raw guest $BIND $ABOVE_RAM)"
check_eq "a bind request in the LAPIC MMIO hole gets EFAULT" -14 "$(raw guest $BIND $LAPIC)"
check_eq "a bind request at the last byte of the address space gets EFAULT" -14 \
	"$(raw guest $BIND 0xffffffffffffffff)"
check_eq "an unknown server gets ENOENT" -2 "$(raw guest $BIND --bind-request nosuch:1)"
check_eq "a wrong version gets ENOENT" -2 "$(raw guest $BIND --bind-request covmm.selftest:2)"
check_eq "a name with a space gets EINVAL" -22 "$(raw guest $BIND --bind-request "'covmm selftest:1'")"
check_eq "an empty name gets EINVAL" -22 "$(raw guest $BIND --bind-request ':1')"

check_eq "a descriptor block outside guest RAM gets EFAULT" -14 "$(raw guest $PERFORM "$h" $HASH $ABOVE_RAM 1)"
check_eq "a segment outside guest RAM gets EFAULT" -14 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments $ABOVE_RAM:16 --payload-arg 2)"
check_eq "a segment in the MMIO hole gets EFAULT" -14 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments $LAPIC:16 --payload-arg 2)"
check_eq "a segment of length 0 gets EINVAL" -22 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:0 --payload-arg 2)"
check_eq "a segment above the 1 MiB limit gets E2BIG" -7 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:0x100001 --payload-arg 2)"
check_eq "segments adding up to more than 1 MiB get E2BIG" -7 \
	"$(raw guest $PERFORM "$h" $HASH 0 2 --segments 0x100000:0x80000,0x200000:0x80001 --payload-arg 2)"
check_eq "257 segments get E2BIG" -7 "$(raw guest $PERFORM "$h" $HASH 0x100000 257)"
check_eq "a segment wrapping past 2^64 gets EOVERFLOW" -75 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0xfffffffffffffff0:32 --payload-arg 2)"
check_eq "overlapping segments get EINVAL" -22 \
	"$(raw guest $PERFORM "$h" $HASH 0 2 --segments 0x100000:4096,0x100800:16 --payload-arg 2)"
check_eq "unknown segment flags get EINVAL" -22 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:16:2 --payload-arg 2)"
check_eq "the server writing a read-only segment gets EFAULT" -14 \
	"$(raw guest $PERFORM "$h" $FILL 0 1 --segments 0x100000:16 --payload-arg 2)"
check_match "a good segment of guest RAM is read" '^[0-9]+$' \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:4096 --payload-arg 2)"
check_eq "segments sharing a guest virtual byte get EINVAL" -22 \
	"$(raw guest $PERFORM "$h" $HASH 0 2 --segments 0x100000:16:r:0x5000,0x200000:16:r:0x5008 --payload-arg 2)"
check_eq "a segment whose guest virtual range wraps gets EOVERFLOW" -75 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:32:r:0xfffffffffffffff0 --payload-arg 2)"
check_eq "a request outside the call's segments gets EFAULT" -14 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:16 --arg 0x999999 --payload-arg 2)"
check_eq "a request running past its segment gets EFAULT" -14 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:16 --arg-len 17 --payload-arg 2)"
check_eq "a request length that wraps gets EFAULT" -14 \
	"$(raw guest $PERFORM "$h" $HASH 0 1 --segments 0x100000:16 --arg-len 0xffffffffffffffff --payload-arg 2)"
check_match "a request over two segments, described out of order, is read" '^[0-9]+$' \
	"$(raw guest $PERFORM "$h" $HASH 0 2 --segments 0x200000:16:r:0x7010,0x100000:16:r:0x7000 --arg 0x7000 --arg-len 32 --payload-arg 2)"

check_eq "after unbinding, the handle gets EBADF" "0 -9 -9" \
	"$(raw guest $UNBIND "$h") $(raw guest $PERFORM "$h" 0 0 0) $(raw guest $UNBIND "$h")"
check "host-vmrpc unloads" host_unload
