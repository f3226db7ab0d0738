# SPDX-License-Identifier: GPL-2.0
# A guest that crashes (sysrq c) while it writes to hlfs loses nothing it had
# fsynced. The guest appends 4 KiB records to one file and writes a small
# file per record, fsyncing each, and reports each fsync that returned in
# its kernel log; after the crash the host must hold every reported record.

COVMM=$TOOLS/covmm
X=/tmp/hlfs-crash
rm -rf "$X"
mkdir -p "$X"

check "host-vmrpc loads" host_load
l2_start_alone crash || fail "an L2 guest boots"
vm=$(l2_pid crash)
check "guest-rvmrpc and guest-hlfs load" \
	l2 crash 'insmod /covmm/guest_rvmrpc.ko servers=1 && insmod /covmm/guest_hlfs.ko'
check "covmm export" "$COVMM" export "$vm" crash "$X"
check "the guest mounts it" l2 crash 'mkdir -p /mnt/c && mount -t hlfs crash /mnt/c'

# Record i: block i-1 of the log ("record NNNNNNNN", zero-padded to 4 KiB)
# and the file rec.i; "covmm-fsynced i" once both are fsynced.
check "a writer starts in the guest" l2 crash '
	(
		i=0
		while i=$((i + 1)); do
			printf "record %08d\n" $i | dd of=/mnt/c/log bs=4096 conv=sync,notrunc,fsync oflag=append 2>/dev/null &&
				printf "record %08d\n" $i | dd of=/mnt/c/rec.$i conv=fsync 2>/dev/null || break
			echo "covmm-fsynced $i" >/dev/kmsg
		done
	) </dev/null >/dev/null 2>&1 &'
sleep 10
check "the guest kernel crashes on purpose while it writes" l2_crash crash
console=$RUN/l2-$SCENARIO-crash-console.log
acked=$(grep -o 'covmm-fsynced [0-9]*' "$console" | awk '{ print $2 }' | sort -n | tail -n 1)
echo "the guest reported ${acked:-no} records fsynced before it crashed; the host holds $(stat -c %s "$X/log") bytes of log"
check "the guest had fsynced records when it crashed" test "${acked:-0}" -ge 1
check "the host holds every record that the guest had fsynced" python3 - "$X" "${acked:-0}" <<'EOF'
import sys

root, acked = sys.argv[1], int(sys.argv[2])
bad = []
with open(f"{root}/log", "rb") as log:
    data = log.read()
for i in range(1, acked + 1):
    want = b"record %08d\n" % i
    block = data[(i - 1) * 4096 : i * 4096]
    if block != want.ljust(4096, b"\0"):
        bad.append(f"log block {i - 1}")
    try:
        with open(f"{root}/rec.{i}", "rb") as rec:
            if rec.read() != want:
                bad.append(f"rec.{i} differs")
    except OSError as e:
        bad.append(f"rec.{i}: {e.strerror}")
if bad:
    sys.exit(f"{len(bad)} records lost or wrong: {', '.join(bad[:5])}")
EOF
rm -rf "$X"
