#!/bin/sh
# Runs inside the VM's systemd (systemd.sh) as dmrec-vm-check.service: starts the packaged
# dmrec.service, unloads a real module, reloads (rotates), stops it, and keeps under /out
# what the host test checks. Ends by asking systemd to exit (it runs as a container's).
set -x
# doctor under the unit's own sandbox: what record can attach there, and why not. Once
# with Debian's kernel.perf_event_paranoid (3: perf events only with CAP_SYS_ADMIN),
# once with the kernel's own default (2), which the recording then keeps.
sed -e '/^ExecStartPre=/d' -e 's|^ExecStart=.*|ExecStart=/usr/bin/dmrec doctor --json|' -e '/^Restart=/d' /lib/systemd/system/dmrec.service >/etc/systemd/system/dmrec-doctor.service
systemctl daemon-reload
doctor() {
	systemctl start dmrec-doctor.service
	for i in $(seq 60); do [ "$(systemctl show -p ActiveState --value dmrec-doctor)" = inactive ] && break; sleep 1; done
	journalctl -u dmrec-doctor --no-pager -o cat --since "@$1" > "$2"
}
cat /proc/sys/kernel/perf_event_paranoid > /out/paranoid.txt
doctor 0 /out/doctor-paranoid3.json
sleep 1
now=$(date +%s)
echo 2 > /proc/sys/kernel/perf_event_paranoid
doctor "$now" /out/doctor-paranoid2.json
# Files of earlier starts: one not written for 40 days, which the start deletes, one
# written now, which it keeps.
mkdir -p -m 0700 /var/lib/dmrec
touch -d "$(date -u -d "@$(($(date +%s) - 40 * 86400))" '+%Y-%m-%d %H:%M:%S')" /var/lib/dmrec/capture-20000101T000000Z.cbor.zst
touch /var/lib/dmrec/capture-20000102T000000Z.cbor.zst
systemctl start dmrec.service
# record says "first key of" once its hooks are attached (--quiet or not).
for i in $(seq 120); do journalctl -u dmrec --no-pager | grep -q "first key of" && break; sleep 1; done
pid=$(systemctl show -p MainPID --value dmrec)
systemctl show -p ActiveState -p SubState -p NRestarts dmrec > /out/show.txt
grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' "/proc/$pid/status" > /out/caps.txt
modprobe dummy
rmmod dummy
sleep 2
systemctl reload dmrec
for i in $(seq 60); do [ "$(ls /var/lib/dmrec | grep -c '\.cbor\.zst$')" -ge 2 ] && break; sleep 1; done
sleep 2
systemctl stop dmrec
systemctl show -p ActiveState -p Result dmrec > /out/stopped.txt
journalctl -u dmrec --no-pager -o cat > /out/journal.txt
mkdir -p /out/state
ls -la /var/lib/dmrec > /out/state.ls
cp /var/lib/dmrec/* /out/state/
systemctl exit 0
