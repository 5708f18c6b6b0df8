#!/bin/sh
# Smoke scenario for test/vm/vm.sh: shows what the VM offers and that modules
# load and unload, that dm_call and dmrec run, and brings a capture back
# (/out/smoke.cbor.zst). Runs as /scenario.sh under busybox sh, as root.
#   test/vm/vm.sh test/vm/smoke.sh /tmp/vm-smoke
#   dist/dmrec query /tmp/vm-smoke/smoke.cbor.zst

FAILED=0
# check DESCRIPTION COMMAND...: runs COMMAND, says ok/FAIL, remembers failures
check() {
	what=$1; shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what (exit $?)"; FAILED=1; fi
}
section() { echo; echo "=== $*"; }

M=$KMOD_DIR/kernel

section "kernel"
uname -a
cat /proc/cmdline
check "BTF" ls /sys/kernel/btf/vmlinux
echo "kallsyms: $(grep -c . /proc/kallsyms) symbols"
check "delete_module syscall tracepoints" sh -c 'ls /sys/kernel/tracing/events/syscalls/ | grep delete_module'
check "module tracepoints" ls /sys/kernel/tracing/events/module/
check "__x64_sys_delete_module is kprobe-able" grep -qx __x64_sys_delete_module /sys/kernel/tracing/available_filter_functions
check "find_module is kprobe-able" grep -q '^find_module' /sys/kernel/tracing/available_filter_functions
mount | grep -E 'tracefs|bpf|devtmpfs'

section "insmod / rmmod dummy"
check "insmod dummy" insmod "$M/drivers/net/dummy.ko"
lsmod
check "rmmod dummy" rmmod dummy
check "modprobe dummy (modules.dep)" modprobe dummy
check "rmmod dummy again" rmmod dummy

section "blowfish: removing blowfish_common while blowfish_generic uses it"
check "insmod blowfish_common" insmod "$M/crypto/blowfish_common.ko"
check "insmod blowfish_generic" insmod "$M/crypto/blowfish_generic.ko"
lsmod
rmmod blowfish_common
echo "rmmod blowfish_common exit status: $? (expected non-zero: EWOULDBLOCK)"
check "rmmod blowfish_generic" rmmod blowfish_generic
check "rmmod blowfish_common" rmmod blowfish_common

section "a module whose init fails: tcrypt mode=9999"
start=$(cut -d' ' -f1 /proc/uptime)
insmod "$M/crypto/tcrypt.ko" mode=9999
st=$?
echo "insmod tcrypt exit status: $st (expected non-zero: init returns -EAGAIN); took $(awk -v s="$start" '{ print $1 - s }' /proc/uptime) s"
check "tcrypt is not loaded" sh -c '! grep -q "^tcrypt " /proc/modules'
dmesg | grep -i tcrypt | tail -n 3

section "dm_call (static)"
check "dummy loaded for dm_call" insmod "$M/drivers/net/dummy.ko"
check "dm_call delete_module(dummy, 0)" /bin/dm_call 64756d6d79 0
check "dummy gone" sh -c '! grep -q "^dummy " /proc/modules'
/bin/dm_call 64756d6d79 0                                  # now ENOENT: ret -2
su -s /bin/sh nobody -c '/bin/dm_call 64756d6d79 0'      # as nobody: EPERM, ret -1

section "dmrec"
check "dmrec --version" dmrec --version

# Module churn while recording: load/unload dummy, the blowfish EWOULDBLOCK
# case, tcrypt's failing init (a module_free without delete_module), a missing
# name, and a call from an unprivileged user.
churn() {
	insmod "$M/crypto/blowfish_common.ko"; insmod "$M/crypto/blowfish_generic.ko"
	while :; do
		insmod "$M/drivers/net/dummy.ko"; rmmod dummy
		rmmod blowfish_common 2>/dev/null
		insmod "$M/crypto/tcrypt.ko" mode=9999 2>/dev/null
		/bin/dm_call 6e6f5f737563685f6d6f64756c65 0 >/dev/null   # "no_such_module"
		su -s /bin/sh nobody -c '/bin/dm_call 64756d6d79 0' >/dev/null
		sleep 0.2
	done
}
# record CAPTURE DMREC-ARGS...: records 3 s of churn into /out/CAPTURE
record() {
	out=/out/$1; shift
	churn &
	loop=$!
	start=$(cut -d' ' -f1 /proc/uptime)
	check "dmrec record $*" dmrec record --out "$out" --duration 3s "$@"
	echo "dmrec record took $(awk -v s="$start" '{ print $1 - s }' /proc/uptime) s"
	kill $loop
	wait $loop 2>/dev/null
	rmmod blowfish_generic; rmmod blowfish_common
	check "capture $out written" test -s "$out"
	ls -l "$out"
	dmrec query "$out" | head -n 12
}
record smoke.cbor.zst                        # default hook (auto)
section "dmrec --hook raw-syscalls"
record smoke-raw.cbor.zst --hook raw-syscalls

echo
[ $FAILED = 0 ] && echo "smoke: all checks passed" || echo "smoke: some checks FAILED"
exit $FAILED
