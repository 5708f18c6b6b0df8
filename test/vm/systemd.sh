#!/bin/sh
# A VM scenario (test/vm/vm.sh): systemd as PID 1 of a PID and mount namespace of its
# own (the VM's /init stays busybox), booting dmrec-vm.target, whose check service
# (systemd_check.sh) drives the packaged dmrec.service and writes what it saw under /out.
set -u
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /run /var/lib /var/log /etc/systemd/system
echo "systemd.sh: booting systemd"
container=dmrec-vm unshare -p -f -m --mount-proc /lib/systemd/systemd --unit=dmrec-vm.target --log-target=console >/out/systemd.log 2>&1
echo "systemd.sh: systemd exited with $?"
cat /out/check.log 2>/dev/null
test -s /out/check.log
