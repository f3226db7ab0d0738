#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The serial channel by libvirt domain name, against a real libvirt: on L0,
# libvirt's QEMU driver (a session daemon of an unprivileged user, so nothing
# of the machine's libvirt setup is touched) runs a TCG guest with Debian's
# stock kernel, covmm-agent on its 16550 and on a virtio channel, and no
# CoVMM module. `covmm` built with `--features libvirt` reaches both through
# virDomainOpenConsole and virDomainOpenChannel.
#
# Prints one PASS or FAIL line per check, as the testbed does; check.sh
# counts them.
. "$(dirname "$0")/../build/common.sh"
. "$COVMM_ROOT/tools/testbed/l0-lib.sh"
# Checks look at failing statuses; one failing must not end the script.
set +e

pass() { echo "PASS libvirt: $1"; }
fail() { echo "FAIL libvirt: $1"; }
check_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (wanted '$2', got '$(echo "$3" | tail -c 300)')"; fi; }
check_match() { if [[ $3 =~ $2 ]]; then pass "$1"; else fail "$1 (wanted /$2/, got '$(echo "$3" | tail -c 300)')"; fi; }

command -v virsh >/dev/null && [ -x /usr/sbin/libvirtd ] || {
	fail "libvirt is not installed (run 'make deps')"
	exit 0
}
DOMAIN=covmm-com-check
work=$(mktemp -d /tmp/covmm-libvirt.XXXXXX)
cleanup() {
	as_user virsh -c qemu:///session destroy "$DOMAIN" >/dev/null 2>&1
	# The session daemon leaves by itself when idle (--timeout).
	rm -rf "$work"
}
trap cleanup EXIT
as_user() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env HOME="$work/home" XDG_RUNTIME_DIR="$work/run" "$@"
}

# The tools: covmm with libvirt (in its own target directory, so that the
# workspace's feature set stays as it is), the static agent for the guest.
(cd "$COVMM_ROOT/tools" && cargo build -q --release -p covmm --features libvirt --target-dir target/libvirt) >&2 ||
	{ fail "covmm builds with --features libvirt"; exit 0; }
pass "covmm builds with --features libvirt"
tools=$(build_static_tools)
tree=$("$COVMM_ROOT/tools/build/kernel.sh" stock | tail -n1)
release=$(cat "$tree/release")

mkdir -p "$work/home" "$work/run" "$work/root"
chmod 700 "$work/run"
cp "$COVMM_ROOT/tools/target/libvirt/release/covmm" "$work/covmm"
cp "$tree/vmlinuz" "$work/vmlinuz"
new_initramfs_dir "$work/root" /dev/stdin <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp/com
covmm-agent --device /dev/ttyS1 --root /tmp/com --allow uname --allow sh --allow sha256sum &
covmm-agent --port-name org.covmm.com.0 --root /tmp/com --allow uname --allow sh --allow sha256sum &
echo covmm-agents-started
while true; do sleep 1000; done
EOF
cp "$tools/covmm-agent" "$work/root/bin/"
pack_initramfs "$work/root" "$work/initrd.gz"
rm -rf "$work/root"
cat >"$work/domain.xml" <<EOF
<domain type='qemu'>
  <name>$DOMAIN</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$work/vmlinuz</kernel>
    <initrd>$work/initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'><source path='$work/console.log'/><target port='0'/></serial>
    <serial type='pty'><target port='1'/></serial>
    <channel type='unix'>
      <source mode='bind' path='$work/channel.sock'/>
      <target type='virtio' name='org.covmm.com.0'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
chown -R 65534:65534 "$work"
out=$(as_user virsh -c qemu:///session create "$work/domain.xml" 2>&1)
check_match "libvirt starts a guest with a 16550 console and a virtio channel" "created" "$out"
for _ in $(seq 1 120); do
	grep -q covmm-agents-started "$work/console.log" 2>/dev/null && break
	sleep 0.5
done
sleep 1
COVMM=(as_user "$work/covmm")
LV=(--connect qemu:///session)
check_eq "com-run by domain name, through the 16550 console (serial1)" "$release" \
	"$("${COVMM[@]}" com-run "$DOMAIN" "${LV[@]}" --console serial1 --uart uname -r 2>&1)"
"${COVMM[@]}" com-run "$DOMAIN" "${LV[@]}" --channel org.covmm.com.0 sh -c 'exit 5' >/dev/null 2>&1
check_eq "com-run through the virtio channel returns the exit status" 5 "$?"
head -c $((1 << 20)) /dev/urandom >"$work/file"
chown 65534 "$work/file"
out=$("${COVMM[@]}" com-dd "$DOMAIN" "${LV[@]}" --channel org.covmm.com.0 "$work/file" file --json 2>&1)
check_match "com-dd through the channel" '"size":1048576' "$out"
check_eq "... arrives whole" "$(sha256sum <"$work/file" | cut -d' ' -f1)" \
	"$("${COVMM[@]}" com-run "$DOMAIN" "${LV[@]}" --channel org.covmm.com.0 sh -c 'sha256sum <file' 2>&1 | cut -d' ' -f1)"
"${COVMM[@]}" com-get "$DOMAIN" "${LV[@]}" --console serial1 --uart file "$work/back" >/dev/null 2>&1
if cmp -s "$work/file" "$work/back"; then pass "com-get through the console returns it"; else fail "com-get through the console returns it"; fi
out=$("${COVMM[@]}" com-run no-such-domain "${LV[@]}" true 2>&1)
check_match "a domain that does not exist is named in the error" 'libvirt domain no-such-domain' "$out"
if grep -Eq "$KERNEL_BAD_PATTERNS" "$work/console.log"; then
	fail "the guest's console shows a kernel splat"
else
	pass "the guest's console is free of WARN/BUG/Oops reports"
fi
