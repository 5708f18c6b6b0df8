#!/usr/bin/env bash
# Runs one test scenario inside a QEMU VM that boots Debian's 6.1 kernel (which,
# unlike the build machines' kernel, has modules and kprobes), and brings the
# scenario's results back to the host.
#
#   test/vm/vm.sh SCENARIO_SCRIPT OUT_DIR
#
# SCENARIO_SCRIPT is a busybox sh script run as root as /scenario.sh in the VM.
# Whatever it writes under /out comes back into OUT_DIR, together with
# scenario.log (its stdout+stderr), status (its exit status), dmesg.log and the
# whole serial console (console.log). vm.sh exits with the scenario's status.
#
# Environment (all optional):
#   DMREC_VM_CACHE            cache directory       (default /var/cache/dmrec-vm)
#   DMREC_VM_TIMEOUT          hard limit in seconds for the VM run (default 600)
#   DMREC_VM_SCENARIO_TIMEOUT limit for /scenario.sh inside the VM (default: 60 s
#                             less than DMREC_VM_TIMEOUT, so results still come out)
#   DMREC_VM_MODULES          extra module paths to include, relative to
#                             /lib/modules/<version>/ (e.g. "kernel/fs/isofs/isofs.ko")
#   DMREC_VM_FILES            extra files, "HOSTPATH:VMPATH ..." (VMPATH absolute)
#   DMREC_VM_QUIET=1          do not echo the console on stdout (still in console.log)
#   DMREC_VM_ARCH=arm64       boot Debian's arm64 kernel under qemu-system-aarch64 with
#                             arm64 userland from Debian's arm64 archive (default x86_64)
#   DMREC_VM_CPU              the emulated arm64 CPU (default neoverse-n1, Graviton2's
#                             core). Not max: under QEMU 7.2's max, Bun crashed and
#                             miscomputed (a DataView method read as 335) in 1 run in 3
#
# Layout inside the VM: /usr/local/bin/dmrec, /bin/dm_call (static), busybox
# applets in /bin /sbin /usr/bin /usr/sbin, modules under
# /lib/modules/$(uname -r)/kernel/... (busybox modprobe works: modules.dep is
# generated), /out (comes back), /tmp (tmpfs), user nobody (65534).
#
# See test/vm/README.md.
set -Eeuo pipefail
export LC_ALL=C   # plain sort order, and "." in $EPOCHREALTIME
export PATH=$PATH:/usr/sbin:/sbin   # ldconfig, depmod, even from a PATH without them
# set -e would otherwise end the script without a word.
trap 'echo "vm.sh: line $LINENO failed (exit $?): $BASH_COMMAND" >&2' ERR

usage() { echo "usage: $0 SCENARIO_SCRIPT OUT_DIR" >&2; exit 2; }
die() { echo "vm.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || usage

SCENARIO=$1
OUT_DIR=$2
[ -f "$SCENARIO" ] || die "no scenario script at $SCENARIO"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${DMREC_VM_CACHE:-/var/cache/dmrec-vm}
VM_TIMEOUT=${DMREC_VM_TIMEOUT:-600}
SCENARIO_TIMEOUT=${DMREC_VM_SCENARIO_TIMEOUT:-$((VM_TIMEOUT > 120 ? VM_TIMEOUT - 60 : VM_TIMEOUT / 2))}
ARCH=${DMREC_VM_ARCH:-x86_64}
case $ARCH in
x86_64)
	DEB_ARCH=amd64 QEMU=qemu-system-x86_64 QEMU_PKG=qemu-system-x86 CONSOLE=ttyS0
	QEMU_MACHINE=() QEMU_CPU=max DMREC_BIN=$REPO/dist/dmrec DM_CALL_STATIC=$REPO/build/dm_call-static ;;
arm64)
	DEB_ARCH=arm64 QEMU=qemu-system-aarch64 QEMU_PKG=qemu-system-arm CONSOLE=ttyAMA0
	QEMU_MACHINE=(-M virt) QEMU_CPU=${DMREC_VM_CPU:-neoverse-n1} DMREC_BIN=$REPO/dist/dmrec-arm64 DM_CALL_STATIC=$REPO/build/dm_call-static-arm64 ;;
*) usage ;;
esac

[ -x "$DMREC_BIN" ] || die "$DMREC_BIN is not built: run 'make build ARCH=$ARCH' first"

# OUT_DIR gets only this run's results: an earlier run's are removed, but a
# directory holding anything else is refused.
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
if [ -n "$(ls -A "$OUT_DIR")" ]; then
	[ -f "$OUT_DIR/console.log" ] || die "$OUT_DIR is not empty and holds no earlier vm.sh results: give an empty or new directory"
	find "$OUT_DIR" -mindepth 1 -delete
fi

# Modules every scenario may use (paths relative to /lib/modules/<version>/).
# tcrypt.ko's init returns -EAGAIN by design: with mode=9999 (no test) it fails
# at once and the kernel frees it without any delete_module call.
MODULES="kernel/drivers/net/dummy.ko
kernel/crypto/blowfish_common.ko
kernel/crypto/blowfish_generic.ko
kernel/crypto/tcrypt.ko
${DMREC_VM_MODULES:-}"

# ---------------------------------------------------------------------------
# timing

now() { echo "$EPOCHREALTIME"; }
# timing LABEL START: prints how long since START
timing() { awk -v l="$1" -v s="$2" -v e="$(now)" 'BEGIN { printf "vm.sh: %-28s %6.1f s\n", l ":", e - s }'; }
T_ALL=$(now)

# ---------------------------------------------------------------------------
# host tools, installed only when missing

need_pkgs=()
command -v "$QEMU" >/dev/null || need_pkgs+=("$QEMU_PKG")
[ "$ARCH" = x86_64 ] || command -v aarch64-linux-gnu-gcc >/dev/null || need_pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
# /bin/busybox must be the static one: the VM has no libraries for it.
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need_pkgs+=(busybox-static); fi
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v modinfo >/dev/null && command -v depmod >/dev/null || need_pkgs+=(kmod)
command -v gcc >/dev/null || need_pkgs+=(gcc libc6-dev)
# A clean machine may have no package lists, or stale ones: apt is retried
# once after an update.
APT_UPDATED=
apt_update() { [ -n "$APT_UPDATED" ] || { echo "vm.sh: apt-get update"; apt-get update -qq; APT_UPDATED=1; }; }
apt_retry() { "$@" || { apt_update && "$@"; }; }
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "vm.sh: installing ${need_pkgs[*]}"
	apt_retry env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
		die "cannot install ${need_pkgs[*]}"
fi

# ---------------------------------------------------------------------------
# the kernel: Debian's linux-image package, downloaded and unpacked once

T=$(now)
mkdir -p "$CACHE"
# One run at a time fills the cache (the lock is released when vm.sh exits or
# once the base initramfs is ready).
exec 9>"$CACHE/.lock"
flock 9
# Another architecture's packages come through apt options alone, with lists of
# their own in the cache: the machine's configuration is left as it is.
APT_OPTS=()
if [ "$DEB_ARCH" != amd64 ]; then
	mkdir -p "$CACHE/$DEB_ARCH/lists/partial" "$CACHE/$DEB_ARCH/apt/archives/partial"
	APT_OPTS=(-oAPT::Architecture="$DEB_ARCH" -oAPT::Architectures="$DEB_ARCH" -oDir::State::Lists="$CACHE/$DEB_ARCH/lists" -oDir::Cache="$CACHE/$DEB_ARCH/apt")
	[ -n "$(ls -A "$CACHE/$DEB_ARCH/lists" | grep -v partial)" ] || apt-get "${APT_OPTS[@]}" update -qq || die "apt-get update for $DEB_ARCH failed"
fi
ARCH_UPDATED=
arch_update() { [ -n "$ARCH_UPDATED" ] || { echo "vm.sh: apt-get update ($DEB_ARCH)"; apt-get "${APT_OPTS[@]}" update -qq; ARCH_UPDATED=1; }; }
# The package linux-image-ARCH depends on (linux-image-6.1.0-NN-ARCH). When
# apt knows nothing (offline, no lists), fall back to the newest one cached.
kernel_pkg() { apt-cache "${APT_OPTS[@]}" depends "linux-image-$DEB_ARCH" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true; }
KPKG=$(kernel_pkg)
if [ -z "$KPKG" ] && ! ls -d "$CACHE"/kernel/linux-image-*-"$DEB_ARCH" >/dev/null 2>&1; then
	arch_update || true
	KPKG=$(kernel_pkg)
fi
if [ -z "$KPKG" ]; then
	KPKG=$(ls -d "$CACHE"/kernel/linux-image-*-"$DEB_ARCH" 2>/dev/null | sort -V | tail -n1 | xargs -r basename || true)
	[ -n "$KPKG" ] || die "cannot resolve the kernel package (apt-cache depends linux-image-$DEB_ARCH gave nothing; run apt-get update)"
fi
# Download as root outright: apt's sandbox user _apt cannot write to the cache
# (apt would do it anyway, with a warning).
download() { (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download -q -o APT::Sandbox::User=root "$@" >/dev/null); }
have_kernel() { [ -e "$CACHE/kernel/$1/.unpacked" ] || ls "$CACHE"/debs/"$1"_*.deb >/dev/null 2>&1; }
mkdir -p "$CACHE/debs"
if ! have_kernel "$KPKG"; then
	echo "vm.sh: downloading $KPKG"
	if ! download "$KPKG" 2>/dev/null; then
		# Stale lists name a kernel the mirror has replaced: update, ask again.
		arch_update || die "apt-get update failed"
		KPKG=$(kernel_pkg)
		[ -n "$KPKG" ] || die "cannot resolve the kernel package after apt-get update"
		have_kernel "$KPKG" || { echo "vm.sh: downloading $KPKG"; download "$KPKG" || die "cannot download $KPKG"; }
	fi
fi
KVER=${KPKG#linux-image-}                 # 6.1.0-56-amd64, also the VM's uname -r
KROOT=$CACHE/kernel/$KPKG                 # the unpacked package
if [ ! -e "$KROOT/.unpacked" ]; then
	deb=$(ls "$CACHE"/debs/"${KPKG}"_*.deb | tail -n1)
	echo "vm.sh: unpacking $(basename "$deb")"
	rm -rf "$KROOT" && mkdir -p "$KROOT"
	dpkg-deb -x "$deb" "$KROOT"
	# The package ships no modules.dep (its postinst runs depmod): make one, to
	# resolve dependencies below.
	depmod -b "$KROOT" "$KVER"
	touch "$KROOT/.unpacked"
fi
VMLINUZ=$KROOT/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "no kernel image at $VMLINUZ"
MODROOT=$KROOT/lib/modules/$KVER
timing "kernel $KVER ready" "$T"

# The VM's userland: the host's static busybox and libraries, or for another
# architecture the same packages of that architecture, unpacked once. LIBROOT is
# where the libraries' VM paths are found on the host.
if [ "$DEB_ARCH" = amd64 ]; then
	BUSYBOX=/bin/busybox LIBROOT=
else
	LIBROOT=$CACHE/$DEB_ARCH/userland
	if [ ! -e "$LIBROOT/.unpacked" ]; then
		echo "vm.sh: fetching the $DEB_ARCH userland"
		debs=$CACHE/$DEB_ARCH/debs
		rm -rf "$LIBROOT" "$debs" && mkdir -p "$LIBROOT" "$debs"
		(cd "$debs" && apt-get "${APT_OPTS[@]}" download -q -o APT::Sandbox::User=root busybox-static libc6 libbpf1 libelf1 zlib1g libzstd1 >/dev/null) ||
			die "cannot download the $DEB_ARCH userland"
		for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$LIBROOT"; done
		touch "$LIBROOT/.unpacked"
	fi
	BUSYBOX=$LIBROOT/bin/busybox
fi

# ---------------------------------------------------------------------------
# what goes into the VM from the work tree

# The static helper: the Makefile rule is the one place that says how to build it.
make --no-print-directory -s -C "$REPO" "${DM_CALL_STATIC#"$REPO"/}"
[ -x "$DM_CALL_STATIC" ] || die "$DM_CALL_STATIC was not built"

# Shared libraries: what dmrec links, plus libbpf.so.1 (dmrec dlopens it) and,
# transitively, what each of those links (libelf, libz, ...), plus the dynamic
# loader. They keep their host paths: glibc searches /lib/x86_64-linux-gnu by
# default, so the VM needs no ld.so.cache.
if [ "$DEB_ARCH" = amd64 ]; then
	libbpf=$(ldconfig -p | awk '$1 == "libbpf.so.1" && /x86-64/ { print $NF; exit }')
	[ -n "$libbpf" ] || die "libbpf.so.1 is not installed on the host (apt-get install libbpf1)"
	lib_deps() { { ldd "$1" || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; }
else
	# ldd cannot run another architecture's loader: each file's NEEDED entries,
	# found where that architecture's glibc looks by default.
	libbpf=/usr/lib/aarch64-linux-gnu/libbpf.so.1
	lib_deps() {
		local f=$1 n d
		[ "${f#"$LIBROOT"}" = "$f" ] && [ "$f" != "$DMREC_BIN" ] && f=$LIBROOT$f
		for n in $(readelf -d "$f" | awk '/(NEEDED)/ { gsub(/[][]/, "", $NF); print $NF }'); do
			for d in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib; do
				if [ -e "$LIBROOT$d/$n" ]; then echo "$d/$n"; break; fi
			done
		done
	}
fi
# ...and the loader the executable names (ldd lists it; readelf for another architecture).
interp=$(readelf -l "$DMREC_BIN" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
LIBS=$( { lib_deps "$DMREC_BIN"; echo "$libbpf"; lib_deps "$libbpf"; [ "$DEB_ARCH" = amd64 ] || echo "$interp"; } | sort -u)
while :; do   # transitive closure
	more=$(for l in $LIBS; do lib_deps "$l"; done | sort -u)
	all=$(printf '%s\n%s\n' "$LIBS" "$more" | sort -u)
	[ "$all" = "$LIBS" ] && break
	LIBS=$all
done

# Modules and, transitively, what each depends on (from modules.dep).
mod_deps() { awk -v m="$1" -F': *' '$1 == m { print $2 }' "$MODROOT/modules.dep" | tr ' ' '\n' | sed '/^$/d'; }
MODS=$(echo "$MODULES" | sed '/^$/d' | sort -u)
while :; do
	more=$(for m in $MODS; do
		[ -f "$MODROOT/$m" ] || die "module $m is not in $KPKG"
		mod_deps "$m"
	done | sort -u)
	all=$(printf '%s\n%s\n' "$MODS" "$more" | sed '/^$/d' | sort -u)
	[ "$all" = "$MODS" ] && break
	MODS=$all
done

# ---------------------------------------------------------------------------
# /init (part of the base image, whose cache key includes this script)

MARK=DMREC-VM-OUT-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')   # per run: a stale or echoed marker cannot match

INIT='#!/bin/sh
# /init of the dmrec test VM, written by test/vm/vm.sh.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# devtmpfs first: without /dev/null busybox sh background jobs silently fail.
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /out /root
hostname dmrec-vm
ip link set lo up
. /etc/dmrec-vm.conf          # MARK, SCENARIO_TIMEOUT (per run)
export KMOD_DIR=/lib/modules/$(uname -r)   # for scenarios: $KMOD_DIR/kernel/drivers/net/dummy.ko

echo "dmrec-vm: $(uname -r) up after $(cut -d" " -f1 /proc/uptime) s; running /scenario.sh"
# The scenario writes into a fifo that tee copies to the console and the log.
# Once it ends, whatever it left running is killed, so tee sees end-of-file.
mkfifo /tmp/.scenario.fifo
tee /out/scenario.log </tmp/.scenario.fifo &
TEE=$!
cd /
timeout "$SCENARIO_TIMEOUT" /scenario.sh </dev/null >/tmp/.scenario.fifo 2>&1
STATUS=$?
for p in /proc/[0-9]*; do
	p=${p#/proc/}
	[ "$p" = 1 ] || [ "$p" = "$TEE" ] || kill -9 "$p" 2>/dev/null
done
wait "$TEE"
[ "$STATUS" = 143 ] && echo "dmrec-vm: /scenario.sh killed after $SCENARIO_TIMEOUT s (DMREC_VM_SCENARIO_TIMEOUT)" | tee -a /out/scenario.log
echo "$STATUS" > /out/status
echo "dmrec-vm: /scenario.sh exited with $STATUS at $(cut -d" " -f1 /proc/uptime) s"
dmesg > /out/dmesg.log

# Results: /out as a gzipped tar, base64, between two marker lines. Kernel
# messages are silenced first so none lands inside the block.
echo 1 > /proc/sys/kernel/printk
tar -czf /tmp/.out.tgz -C /out .
echo "$MARK-BEGIN"
base64 /tmp/.out.tgz
echo "$MARK-END"
poweroff -f
'

# ---------------------------------------------------------------------------
# initramfs: a cached base archive (busybox, libraries, modules, /init) and a
# per-run archive (dmrec, dm_call, the scenario) appended to it; the kernel
# unpacks concatenated cpio archives in order. Neither is compressed: the
# kernel copies a plain cpio much faster under TCG than it inflates one.

T=$(now)
sha() { sha256sum "$@" | cut -d' ' -f1; }
BASE_KEY=$( {
	sha "${BASH_SOURCE[0]}"    # this script: how the base is built, /init
	echo "$KPKG"; echo "$MODS"
	sha "$BUSYBOX"
	for l in $LIBS; do echo "$l $(sha "$LIBROOT$l")"; done
} | sha)
BASE=$CACHE/initramfs/base-$BASE_KEY.cpio
cpio_of() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet); }

if [ ! -f "$BASE" ]; then
	echo "vm.sh: building the base initramfs"
	mkdir -p "$CACHE/initramfs"
	root=$(mktemp -d "$CACHE/initramfs/base.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,dev,proc,sys,tmp,out,root,lib/modules/$KVER}
	cp "$BUSYBOX" "$root/bin/busybox"
	# The host's busybox (the same Debian version) lists the applets: another
	# architecture's cannot run here.
	for a in $(/bin/busybox --list-full); do
		[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done
	for l in $LIBS; do
		mkdir -p "$root$(dirname "$l")"
		cp -L "$LIBROOT$l" "$root$l"
	done
	for m in $MODS; do
		mkdir -p "$root/lib/modules/$KVER/$(dirname "$m")"
		case $m in   # busybox insmod needs plain .ko files
		*.ko.xz) xz -dc "$MODROOT/$m" >"$root/lib/modules/$KVER/${m%.xz}" ;;
		*.ko.zst) zstd -qdc "$MODROOT/$m" >"$root/lib/modules/$KVER/${m%.zst}" ;;
		*) cp "$MODROOT/$m" "$root/lib/modules/$KVER/$m" ;;
		esac
	done
	cp "$MODROOT"/modules.builtin* "$root/lib/modules/$KVER/"
	echo "$MODS" | sed 's/\.ko\.[a-z]*$/.ko/' >"$root/lib/modules/$KVER/modules.order"
	depmod -b "$root" "$KVER"      # modules.dep for the modules present, for modprobe
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/sh' >"$root/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
	printf '%s' "$INIT" >"$root/init"
	chmod 755 "$root/init"
	cpio_of "$root" >"$BASE.tmp"
	mv "$BASE.tmp" "$BASE"
	rm -rf "$root"
	trap - EXIT
	# Keep the 4 newest bases (a few MB each): other checkouts may use older ones.
	ls -t "$CACHE"/initramfs/base-*.cpio | tail -n +5 | xargs -r rm -f
fi
touch "$BASE"
flock -u 9

# The per-run part, staged in a scratch directory next to the cache.
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
stage=$RUN/stage
mkdir -p "$stage"/{bin,etc,usr/local/bin}
ln "$DMREC_BIN" "$stage/usr/local/bin/dmrec" 2>/dev/null || cp "$DMREC_BIN" "$stage/usr/local/bin/dmrec"
cp "$DM_CALL_STATIC" "$stage/bin/dm_call"
cp "$SCENARIO" "$stage/scenario.sh"
chmod 755 "$stage/scenario.sh"
printf 'MARK=%s\nSCENARIO_TIMEOUT=%s\n' "$MARK" "$SCENARIO_TIMEOUT" >"$stage/etc/dmrec-vm.conf"
for f in ${DMREC_VM_FILES:-}; do
	src=${f%%:*} dst=${f#*:}
	[ -f "$src" ] && [ "${dst#/}" != "$dst" ] || die "DMREC_VM_FILES: want HOSTFILE:/VMPATH, got $f"
	mkdir -p "$stage$(dirname "$dst")"
	cp "$src" "$stage$dst"
done
INITRD=$RUN/initrd.cpio
{ cat "$BASE"; cpio_of "$stage"; } >"$INITRD"
timing "initramfs $(( $(stat -c %s "$INITRD") / 1048576 )) MB built" "$T"

# ---------------------------------------------------------------------------
# boot

echo "vm.sh: booting $KVER with $(basename "$SCENARIO") (console in $OUT_DIR/console.log)"
T=$(now)
# KVM guests hang on these machines: TCG only. -cpu max gives the AVX2 a Bun
# binary needs. The console is echoed without the base64 block.
set +e
timeout "$VM_TIMEOUT" "$QEMU" "${QEMU_MACHINE[@]}" \
	-accel tcg -cpu "$QEMU_CPU" -smp 2 -m 2048 \
	-nographic -no-reboot -nic none \
	-kernel "$VMLINUZ" -initrd "$INITRD" \
	-append "console=$CONSOLE quiet loglevel=3 panic=-1" \
	</dev/null 2>&1 | tee "$OUT_DIR/console.log" |
	if [ "${DMREC_VM_QUIET:-0}" = 1 ]; then cat >/dev/null; else
		awk -v m="$MARK" '{ sub(/\r$/, ""); gsub(/\033(\[[0-9;?]*[A-Za-z]|[A-Za-z])/, "") }
			$0 == m "-BEGIN" { skip = 1; n = 0; next }
			$0 == m "-END" { skip = 0; print "[" n " lines of base64 results]"; next }
			skip { n++; next } { print; fflush() }'
	fi
qemu_status=${PIPESTATUS[0]}
set -e
timing "boot to poweroff" "$T"

# ---------------------------------------------------------------------------
# results

if ! grep -q "^$MARK-END" "$OUT_DIR/console.log"; then
	echo "vm.sh: the VM printed no results (qemu/timeout exit status $qemu_status$([ "$qemu_status" = 124 ] && echo ": killed after $VM_TIMEOUT s, DMREC_VM_TIMEOUT")). Console tail:" >&2
	tail -n 40 "$OUT_DIR/console.log" | tr -d '\r' | sed 's/\x1b\(\[[0-9;?]*[A-Za-z]\|[A-Za-z]\)//g' >&2
	exit 1
fi
tr -d '\r' <"$OUT_DIR/console.log" |
	sed -n "/^$MARK-BEGIN\$/,/^$MARK-END\$/{ /^$MARK-/d; p; }" |
	base64 -d | tar -xz -C "$OUT_DIR"
[ -f "$OUT_DIR/status" ] || die "the results have no status file"
status=$(cat "$OUT_DIR/status")
timing "total" "$T_ALL"
echo "vm.sh: $(basename "$SCENARIO") exited with $status; results in $OUT_DIR"
exit "$status"
