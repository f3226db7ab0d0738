# SPDX-License-Identifier: GPL-2.0
# The live hook on KVM's hypercall path: a guest-kernel ping reaches the host
# and gets a per-VM counter; after rmmod the same call gets KVM's -KVM_ENOSYS;
# a hypercall from guest user space gets -KVM_EPERM with or without the hook.

check "host-vmrpc loads and hooks KVM" host_load
check_match "host-vmrpc announces its hook" 'hooked KVM hypercalls 0x434f0000\.\.0x434f00ff' "$(dmesg | grep host_vmrpc)"
l2_shared guest || fail "the shared L2 guest boots"

check "guest-rvmrpc loads in L2" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0
[ "$FLAVOR" = debug ] && kunit_results covmm_guest_ping guest
abi=$(sed -n 's/^#define COVMM_ABI_\(MAJOR\|MINOR\) //p' "$REPO/include/uapi/linux/covmm.h" | paste -sd.)
check_match "guest-rvmrpc sees the host's ABI ($abi)" "host-vmrpc ABI ${abi//./\\.}([^0-9]|$)" "$(l2 guest dmesg)"

out=$(l2 guest covmm-guest ping --json)
check_match "first ping returns the per-VM counter 1" '"result":1,' "$out"
check_match "the guest uses the vendor's instruction (vmmcall on AMD)" '"insn":"vmmcall"' "$out"
out=$(l2 guest covmm-guest ping --json)
check_match "second ping returns 2" '"result":2,' "$out"
check_match "the host logged the VM joining with its VMM pid" "VM of VMM pid $(l2_pid guest) joined" "$(dmesg)"

out=$(l2 guest covmm-guest hypercall 0 --json)
check_match "ping from guest user space (CPL 3) gets -KVM_EPERM" '"result":-1,' "$out"
out=$(l2 guest covmm-guest hypercall 1 --json)
check_match "another opcode from CPL 3 gets -KVM_EPERM" '"result":-1,' "$out"

check "host-vmrpc unloads while the guest runs" host_unload
out=$(l2 guest covmm-guest ping --json)
check_match "after rmmod the ping gets KVM's -KVM_ENOSYS" '"result":-1000,' "$out"
out=$(l2 guest covmm-guest hypercall 0 --json)
check_match "after rmmod CPL 3 still gets -KVM_EPERM" '"result":-1,' "$out"

check "host-vmrpc loads again" host_load
out=$(l2 guest covmm-guest ping --json)
check_match "a fresh host-vmrpc counts from 1 again" '"result":1,' "$out"

check "guest-rvmrpc unloads" l2 guest rmmod guest_rvmrpc
