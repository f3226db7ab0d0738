# SPDX-License-Identifier: GPL-2.0
# A guest module makes 100,000 random CoVMM hypercalls (tools/testbed/modules/):
# the host answers each with a success or a documented errno, its logs stay
# clean, and its unreclaimable slab memory is the same before and after
# (asserted on the stock kernel; see check_slab_flat).
# (90-vm-killed ends a call storm by killing the VM, with the same check.)

check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0
# A short round first, so that every cache the calls touch is warm (and the
# VM's binding table has been filled and emptied once) before the baseline.
check "a warm-up round of 2,000 calls" l2 guest "insmod /covmm/covmm_fuzz_guest.ko count=2000 && rmmod covmm_fuzz_guest"
before=$(l1_slab_kb)
seed=$((RANDOM * 32768 + RANDOM))
echo "fuzz seed $seed"
check "the fuzz module makes 100,000 calls (seed $seed)" \
	l2_long 540 guest insmod /covmm/covmm_fuzz_guest.ko count=100000 seed="$seed"
summary=$(l2 guest dmesg | grep 'fuzz: 100000' | tail -n 1)
echo "$summary"
check_match "every result is a success or a documented errno" 'undocumented 0;' "$summary"
check_match "some calls succeeded" ' ok [1-9]' "$summary"
check_match "bad input was refused" 'EINVAL [1-9]' "$summary"
check "the guest is still alive" l2 guest true
check "the fuzz module unloads" l2 guest rmmod covmm_fuzz_guest
after_fuzz=$(l1_slab_kb)
check_slab_flat "no slab growth over 100,000 calls" "$before" "$after_fuzz"

check "host-vmrpc unloads" host_unload
after=$(l1_slab_kb)
echo "SUnreclaim: before ${before} kB, after the fuzz ${after_fuzz} kB, after unload ${after} kB"
check_slab_flat "no slab growth after unload" "$before" "$after"
