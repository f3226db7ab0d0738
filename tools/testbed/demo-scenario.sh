# SPDX-License-Identifier: GPL-2.0
# The `make demo` script, run in L1 like a scenario. It narrates into
# $RUN/demo.txt what a user would type and what comes back.
T=$RUN/demo.txt
say() { printf '%s\n' "$*" >>"$T"; }
run_l1() {
	say "L1# $*"
	"$@" 2>&1 | sed 's/^/    /' >>"$T"
}
run_l2() {
	local g=$1
	shift
	say "L2($g)# $*"
	l2 "$g" "$@" 2>&1 | sed 's/^/    /' >>"$T"
}

say "== CoVMM demo: L1 is a KVM host running $(uname -r); L2 is a guest under KVM."
say ""
say "-- The host module hooks KVM's hypercall path at run time (no kernel patch):"
run_l1 insmod "$MODULES/host-vmrpc/host_vmrpc.ko"
say "$(dmesg | grep host_vmrpc | tail -n1 | sed 's/^/    /')"
l2_start demo || fail "the demo guest boots"
say ""
say "-- The guest module reaches the host through a hypercall:"
run_l2 demo insmod /covmm/guest_rvmrpc.ko
run_l2 demo 'dmesg | grep guest_rvmrpc'
for i in 1 2 3; do run_l2 demo covmm-guest ping; done
say "-- The host module counted the VM's calls and knows which QEMU it is:"
say "$(dmesg | grep 'joined' | tail -n1 | sed 's/^/    /')"
say ""
say "-- VMRPC: a host server (the paper's PRINT) prints a string a guest module hands it."
run_l1 insmod "$MODULES/samples/vmrpc-print/covmm_print_host.ko"
run_l2 demo insmod /covmm/covmm_print_guest.ko
say "$(dmesg | grep 'says:' | tail -n1 | sed 's/^/    /')"
say "-- ... and one written in C, called from guest user space:"
run_l1 insmod "$MODULES/samples/vmrpc-sum/covmm_sum_host.ko"
run_l2 demo covmm-guest call SUM:1 0 --u32 3,0,1,2,3
say "-- The host reads and writes 1 MiB of guest memory per call:"
run_l2 demo covmm-guest selftest hash --len 1048576
run_l2 demo covmm-guest selftest fill --len 1048576
run_l1 rmmod covmm_sum_host covmm_print_host
say ""
say "-- Unhooking on the fly: KVM answers for itself again."
run_l1 rmmod host_vmrpc
run_l2 demo covmm-guest ping
say "-- Guest user space can never use the channel (KVM refuses CPL 3):"
run_l2 demo covmm-guest hypercall 0
l2_stop demo
pass "the demo ran to the end"
