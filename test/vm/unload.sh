#!/bin/sh
# Every delete_module outcome of issue 3, under each hook, inside the VM
# (test/vm/vm.sh runs this as /scenario.sh, as root, under busybox sh).
# For each hook it records one capture, /out/HOOK.cbor.zst, and writes
# /out/HOOK.steps: one line "STEP PID EXIT_STATUS" per command that called
# delete_module, so test/vm/vm.test.ts can check each event by its pid.
set -u
M=$KMOD_DIR/kernel
DUMMY_HEX=64756d6d79                      # "dummy"
NOSUCH_HEX=6e6f73756368                   # "nosuch"
BLOWFISH_HEX=626c6f77666973685f636f6d6d6f6e   # "blowfish_common"
RACE_ROUNDS=8        # at least; more, up to RACE_MAX_ROUNDS, until an unload was raced
RACE_MAX_ROUNDS=24

# Ground truth for the process context of the steps, which inherit it.
cat /proc/$$/comm > /out/shell.comm
# The inode and device (st_dev, decimal) of the binary behind rmmod.
stat -c '%i %d' /bin/busybox > /out/busybox.stat
for ns in mnt pid uts; do readlink /proc/self/ns/$ns; done > /out/shell.ns

dmrec doctor --json > /out/doctor.json
echo $? > /out/doctor.status

# step NAME COMMAND...: runs COMMAND as its own process to learn its pid.
step() {
	name=$1; shift
	"$@" > /dev/null 2>&1 &
	pid=$!
	wait $pid
	echo "$name $pid $?" >> "$STEPS"
}

for hook in kprobe tracepoint raw-syscalls auto; do
	STEPS=/out/$hook.steps
	: > "$STEPS"
	cap=/out/$hook.cbor.zst
	dmrec record --hook "$hook" --out "$cap" --segment-ms 200 2> /out/$hook.err &
	rec=$!
	# The capture file is created once the hook is attached.
	i=0
	while [ ! -e "$cap" ] && [ $i -lt 600 ] && kill -0 $rec 2>/dev/null; do sleep 0.1; i=$((i + 1)); done

	insmod "$M/drivers/net/dummy.ko"
	step unload rmmod dummy
	step missing rmmod dummy
	insmod "$M/crypto/blowfish_common.ko"
	insmod "$M/crypto/blowfish_generic.ko"
	step busy rmmod blowfish_common
	step eperm /bin/dm_call --uid 65534 $BLOWFISH_HEX 2048
	step cleanup_generic rmmod blowfish_generic
	step cleanup_common rmmod blowfish_common
	insmod "$M/drivers/net/dummy.ko"
	step forced /sbin/rmmod -f dummy
	# tcrypt's init fails by design: the kernel frees it with no delete_module.
	step initfail insmod "$M/crypto/tcrypt.ko" mode=9999
	step exact /bin/dm_call --linger 500 $DUMMY_HEX 0
	# Its argument area moved to a page it then unmapped: unreadable (root may, by prctl).
	step noargs /bin/dm_call --unmap-args $NOSUCH_HEX 0

	kill -INT $rec
	wait $rec
	echo $? > /out/$hook.status
done

# The wall clock stepped an hour forward while recording (/out/clock.*).
STEPS=/out/clock.steps
: > "$STEPS"
cap=/out/clock.cbor.zst
# --duration, by the recorder's own clock: it ends on time whatever the wall clock does.
dmrec record --out "$cap" --segment-ms 200 --duration 8s 2> /out/clock.err &
rec=$!
i=0
while [ ! -e "$cap" ] && [ $i -lt 600 ] && kill -0 $rec 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
step before /bin/dm_call $NOSUCH_HEX 0
date -s "@$(( $(date +%s) + 3600 ))" > /dev/null
sleep 0.5
step after /bin/dm_call $NOSUCH_HEX 0
# Then two hours back: the recorder's own timers must not wait for the clock.
date -s "@$(( $(date +%s) - 7200 ))" > /dev/null
sleep 1.5
step back /bin/dm_call $NOSUCH_HEX 0
t0=$(cut -d' ' -f1 /proc/uptime)
wait $rec
echo $? > /out/clock.status
awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }' > /out/clock.waited
dmrec info "$cap" > /out/clock.info 2>&1
date -s "@$(( $(date +%s) + 3600 ))" > /dev/null   # as it was, for the results' timestamps

# TOCTOU under the kprobe hook (/out/race.*): rounds of a race between the name
# of a loaded module and a missing one, each until the kernel unloads dummy;
# then a name in a file page the process has never touched, which the entry
# read cannot see and the kernel's own copy faults in.
STEPS=/out/race.steps
: > "$STEPS"
cap=/out/race.cbor.zst
dmrec record --hook kprobe --out "$cap" --segment-ms 200 2> /out/race.err &
rec=$!
i=0
while [ ! -e "$cap" ] && [ $i -lt 600 ] && kill -0 $rec 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
round=1
while [ $round -le $RACE_MAX_ROUNDS ]; do
	insmod "$M/drivers/net/dummy.ko"
	step race$round /bin/dm_call --race 0 $DUMMY_HEX $NOSUCH_HEX
	if [ $round -ge $RACE_ROUNDS ]; then
		sleep 0.3   # the recorder's segment reaches the file
		raced=$(dmrec query "$cap" --toctou --result ok --count 2>/dev/null)
		[ "${raced:-0}" -gt 0 ] && break
	fi
	round=$((round + 1))
done
printf 'dummy\000' > /tmp/name-in-a-file
insmod "$M/drivers/net/dummy.ko"
step nonresident /bin/dm_call file:/tmp/name-in-a-file 0
kill -INT $rec
wait $rec
echo $? > /out/race.status

# Real unloads in the middle of a flood (/out/flood.*): four processes, two of
# them root (ENOENT) and two unprivileged (EPERM), flood failing calls while
# dummy is loaded and unloaded five times, under the default settings.
STEPS=/out/flood.steps
: > "$STEPS"
cap=/out/flood.cbor.zst
dmrec record --out "$cap" 2> /out/flood.err &
rec=$!
i=0
while [ ! -e "$cap" ] && [ $i -lt 600 ] && kill -0 $rec 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
FLOOD_CALLS=60000
flooders=""
for n in 1 2 3 4; do
	if [ $n -le 2 ]; then
		/bin/dm_call --flood $FLOOD_CALLS $NOSUCH_HEX 0 > /out/flooder.$n.json &
	else
		su -s /bin/sh nobody -c "/bin/dm_call --flood $FLOOD_CALLS $DUMMY_HEX 2048" > /out/flooder.$n.json &
	fi
	flooders="$flooders $!"
done
for round in 1 2 3 4 5; do
	insmod "$M/drivers/net/dummy.ko"
	step unload$round rmmod dummy
done
for f in $flooders; do wait $f; done
sleep 1.5   # a harvest period after the last call
kill -INT $rec
wait $rec
echo $? > /out/flood.status
