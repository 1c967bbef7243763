#!/bin/bash
# Build the lab's base disk image from Debian package registries only (needs root).
#
#   tools/lab/build-image.sh [--force]
#
# Result: $VMSCAPE_CACHE/lab/base-<hash>.qcow2 (+ base.qcow2 symlink, base.json). <hash> is the
# sha256 of this script and of tools/lab/repos.py: the image is rebuilt only when they change
# (or with --force). The image is generic: the per-host identity (hostname, root's SSH key,
# the host key, the initial kernel cmdline, the default kernel) is written into a copy of it by
# labctl when it provisions a host (offline, on a loop device, as this script works: docs/lab.md).
#
# Contents: Debian 13 (trixie) minbase; Debian 12's kernels from bookworm-security side by side
# (the newest linux-image-6.1.0-*-amd64 and linux-image-6.12.*+deb12-amd64); from
# trixie-backports (tools/lab/repos.py set image-extras, fetched with the oracle's private apt):
# linux-base (>= 4.17, which the 7.x packages need), the pre-VMSCAPE 6.16.x kernel and the kernel
# the linux-image-amd64 meta-package pins (7.x, G2). The userland is trixie because those 7.x
# packages cannot be configured on bookworm: their linux-base >= 4.17 runs the kernel hooks of two
# directories with one run-parts, which bookworm's debianutils 5.7 refuses ("missing operand"),
# and trixie's debianutils needs trixie's libc. GRUB (i386-pc) on an MBR disk with a serial
# console, OpenSSH, python3 (+ python3-apt for ansible.builtin.apt), systemd-networkd with DHCP,
# dbus (so `shutdown -r` works); libvirt (libvirtd, QEMU, virsh) with its units masked, for the
# lab's hypervisor host libvirt-host (docs/lab.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${LAB_PYTHON:-$repo/.venv/bin/python}
cache=${VMSCAPE_CACHE:-$HOME/.cache/fleetsec-vmscape}/lab
mirror=${LAB_MIRROR:-http://deb.debian.org/debian}
security_mirror=${LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
size=${LAB_IMAGE_SIZE:-4G}
suite=trixie
kernel_suite=bookworm  # the 6.1 and 6.12+deb12 kernels: bookworm-security
force=0
[ "${1:-}" = "--force" ] && force=1

die() { echo "build-image: $*" >&2; exit 1; }
log() { echo "build-image: $(date +%H:%M:%S) $*"; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, losetup, mount, chroot)"
[ -x "$python" ] || die "$python missing: run 'make venv' (tools/lab/repos.py fetches the trixie-backports kernels)"
for tool in debootstrap losetup sfdisk partx mkfs.ext4 e2fsck blkid qemu-img sha256sum fstrim dpkg-scanpackages; do
  command -v "$tool" >/dev/null || die "$tool missing: run 'make deps' (tools/system-packages.txt)"
done

inputs_hash() {
  (cd "$here" && sha256sum build-image.sh repos.py | sha256sum | cut -c1-16)
}
hash=$(inputs_hash)
image=$cache/base-$hash.qcow2
mkdir -p "$cache"
if [ "$force" = 0 ] && [ -s "$image" ] && [ -s "$cache/base.json" ] && grep -q "\"hash\": \"$hash\"" "$cache/base.json"; then
  echo "build-image: $image is current (inputs hash $hash); --force rebuilds"
  ln -sfn "base-$hash.qcow2" "$cache/base.qcow2"
  exit 0
fi

start=$(date +%s)
work=$(mktemp -d "$cache/build.XXXXXX")
mnt=$work/root
raw=$work/disk.raw
loop=""
byuuid_made=""
cleanup() {
  set +e
  if [ -n "$byuuid_made" ]; then rm -f "$byuuid_made"; rmdir /dev/disk/by-uuid /dev/disk 2>/dev/null; fi
  for m in dev/pts dev proc sys run; do mountpoint -q "$mnt/$m" && umount -l "$mnt/$m"; done
  mountpoint -q "$mnt" && umount "$mnt"
  [ -n "$loop" ] && losetup -d "$loop"
  rm -rf "$work"
}
trap cleanup EXIT

log "inputs hash $hash; raw image $size in $work"
truncate -s "$size" "$raw"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk -q "$raw"
loop=$(losetup --show -f -P "$raw")
part=${loop}p1
if [ ! -b "$part" ]; then partx -a "$loop" 2>/dev/null || true; fi
if [ ! -b "$part" ]; then
  # No udev here: create the partition node from sysfs.
  sysdev=/sys/block/$(basename "$loop")/$(basename "$part")/dev
  [ -r "$sysdev" ] || die "partition of $loop not found (no $sysdev)"
  mknod "$part" b "$(cut -d: -f1 "$sysdev")" "$(cut -d: -f2 "$sysdev")"
fi
mkfs.ext4 -q -L lab-root "$part"
uuid=$(blkid -s UUID -o value "$part")
[ -n "$uuid" ] || die "no UUID on $part"
mkdir -p "$mnt"
mount "$part" "$mnt"

log "debootstrap $suite minbase from $mirror"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$mnt" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

mount -t proc proc "$mnt/proc"
mount -t sysfs sys "$mnt/sys"
mount --bind /dev "$mnt/dev"
mount -t devpts devpts "$mnt/dev/pts" -o newinstance,ptmxmode=0666
mount -t tmpfs tmpfs "$mnt/run"

in_root() { chroot "$mnt" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  LANG=C.UTF-8 HOME=/root "$@"; }
apt_install() { in_root apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }

cat >"$mnt/etc/apt/sources.list" <<SRC
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SRC
# Nothing may start in the chroot; the host's services must stay untouched.
printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
chmod 755 "$mnt/usr/sbin/policy-rc.d"
# grub-pc must never install itself anywhere while packages are configured: the build
# machine's own disk is visible through /dev (grub-install runs once, below, on the loop device).
in_root debconf-set-selections <<'SEL'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
grub-pc grub-pc/install_devices_disks_changed multiselect
SEL

log "apt: base system"
in_root apt-get update -q >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; die "apt-get update failed"; }
apt_install systemd-sysv udev dbus openssh-server python3 python3-apt iproute2 initramfs-tools sudo kmod procps e2fsprogs \
  grub-pc zstd >>"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get install (base) failed"; }

# libvirt + QEMU for the lab's hypervisor host (inventories/lab/host_vars/libvirt-host.yml):
# on every host, started only there (its units are masked below; the default molecule scenario's
# prepare step unmasks them; its guest is a boot sector assembled on the controller).
log "apt: libvirt, QEMU"
apt_install libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 \
  >>"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get install (libvirt) failed"; }

log "configuration"
# initramfs: the build machine's hardware is irrelevant (MODULES=dep would probe it); list
# what the VM needs to find its root disk.
sed -i 's/^MODULES=.*/MODULES=list/' "$mnt/etc/initramfs-tools/initramfs.conf"
sed -i 's/^COMPRESS=.*/COMPRESS=zstd/' "$mnt/etc/initramfs-tools/initramfs.conf"
cat >>"$mnt/etc/initramfs-tools/modules" <<'MOD'
virtio_pci
virtio_blk
virtio_net
virtio_scsi
virtio_rng
ext4
crc32c_generic
MOD
cat >"$mnt/etc/default/grub" <<'GRUB'
# fleetsec lab base image. GRUB_DEFAULT and GRUB_CMDLINE_LINUX_DEFAULT are set per host when
# labctl provisions it (tools/lab/labctl.py, provision_offline).
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_TIMEOUT_STYLE=menu
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
# no_timer_check: under TCG on a busy machine the kernel's IO-APIC timer check can miss its
# ticks and panic ("IO-APIC + timer doesn't work!"); VM images commonly carry this parameter.
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 no_timer_check"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$mnt/etc/fstab"
echo lab >"$mnt/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlab\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$mnt/etc/hosts"
# Empty machine-id: each host gets its own on its first boot.
: >"$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id"

cat >"$mnt/etc/systemd/network/20-lab.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
in_root systemctl enable systemd-networkd.service >/dev/null 2>&1
in_root systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1

# SSH: one ed25519 host key per host (installed by labctl's provisioning); keys only.
rm -f "$mnt"/etc/ssh/ssh_host_*
cat >"$mnt/etc/ssh/sshd_config.d/10-fleetsec-lab.conf" <<'SSHD'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
SSHD
mkdir -p "$mnt/etc/systemd/system/ssh.service.d"
cat >"$mnt/etc/systemd/system/ssh.service.d/10-fleetsec-lab.conf" <<'UNIT'
[Service]
# No `sshd -t` before each start (seconds of CPU under TCG; the configuration is this script's).
ExecStartPre=
# Fallback when the host was not provisioned: a fresh ed25519 key (RSA would take long under TCG).
ExecStartPre=/bin/sh -c 'test -s /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
UNIT
install -d -m 700 "$mnt/root/.ssh"

# Serial console: root logs in without a password (loopback-only lab; `labctl console`).
mkdir -p "$mnt/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$mnt/etc/systemd/system/serial-getty@ttyS0.service.d/10-autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT

# Fast boots and reboots: nothing periodic, no VGA getty; no modules nothing here uses (DRM, FUSE,
# configfs), each a unit competing for the one vCPU early in the boot (docs/lab.md, boot time).
for unit in modprobe@drm.service modprobe@fuse.service modprobe@configfs.service sys-kernel-config.mount \
  apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer dpkg-db-backup.timer getty@tty1.service systemd-timesyncd.service systemd-binfmt.service \
  proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount \
  systemd-pstore.service; do
  in_root systemctl mask "$unit" >/dev/null 2>&1 || true
done

# systemd's ssh generator (sshd on AF_VSOCK / AF_UNIX) fails in these VMs ("Failed to query local
# AF_VSOCK CID") after taking its time at every boot and daemon-reload: SSH is the ssh.service above.
mkdir -p "$mnt/etc/systemd/system-generators"
ln -sfn /dev/null "$mnt/etc/systemd/system-generators/systemd-ssh-generator"

# libvirt stays off on the lab hosts (no daemon at boot, no guest handling at shutdown); the
# default molecule scenario's prepare step starts it on its libvirt host.
libvirt_units=$(in_root systemctl list-unit-files --no-legend --plain 'libvirt*' 'virt*' | awk '{print $1}')
[ -n "$libvirt_units" ] || die "no libvirt units found to mask"
for unit in $libvirt_units; do
  in_root systemctl mask "$unit" >/dev/null 2>&1 || die "systemctl mask $unit failed"
done


log "apt: $kernel_suite-security kernels"
echo "deb $security_mirror $kernel_suite-security main" >"$mnt/etc/apt/sources.list.d/lab-kernels.list"
in_root apt-get update -q >>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; die "apt-get update ($kernel_suite-security) failed"; }
k61pkg=$(in_root apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -n 1)
[ -n "$k61pkg" ] || die "no linux-image-6.1.0-*-amd64 in $kernel_suite-security"
k612=$(in_root apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | cut -d' ' -f1 | sort -V | tail -n 1)
[ -n "$k612" ] || die "no linux-image-6.12.*+deb12-amd64 in $kernel_suite-security"
apt_install "$k61pkg" "$k612" >>"$work/apt.log" 2>&1 \
  || { tail -n 30 "$work/apt.log" >&2; die "apt-get install (kernels) failed"; }
rm -f "$mnt/etc/apt/sources.list.d/lab-kernels.list"

log "apt: trixie-backports kernels (tools/lab/repos.py image-extras)"
extras=$work/extras.json
(cd "$repo" && "$python" -m tools.lab.repos repo image-extras "$mnt/var/tmp/lab-extras") >"$extras" 2>>"$work/apt.log" \
  || { tail -n 20 "$work/apt.log" >&2; die "fetching the image-extras kernels failed"; }
echo "deb [trusted=yes] file:/var/tmp/lab-extras ./" >"$mnt/etc/apt/sources.list.d/lab-extras.list"
in_root apt-get update -q >>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; die "apt-get update (extras) failed"; }
mapfile -t extra_pkgs < <("$python" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["install"]))' "$extras")
apt_install "${extra_pkgs[@]}" >>"$work/apt.log" 2>&1 \
  || { tail -n 30 "$work/apt.log" >&2; die "apt-get install (trixie-backports kernels) failed"; }
rm -f "$mnt/etc/apt/sources.list.d/lab-extras.list"
rm -rf "$mnt/var/tmp/lab-extras"

# Debian 12's kernel (6.1) boots by default, as on the stock bookworm hosts the first lab hosts
# model, where 6.12 was installed beside it: GRUB_DEFAULT names its menu entry (labctl's
# provisioning sets each host's choice the same way).
k61=$(cd "$mnt/boot" && ls vmlinuz-6.1.* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[ -n "$k61" ] || die "no 6.1 kernel in /boot"
sed -i "s/^GRUB_DEFAULT=.*/GRUB_DEFAULT=\"gnulinux-advanced-$uuid>gnulinux-$k61-advanced-$uuid\"/" "$mnt/etc/default/grub"

log "grub-install on $loop and update-grub"
in_root grub-install --target=i386-pc "$loop" >>"$work/grub.log" 2>&1 \
  || { cat "$work/grub.log" >&2; die "grub-install failed"; }
# Without udev here grub-mkconfig would write root=/dev/loopXp1: it uses root=UUID= only when
# /dev/disk/by-uuid/<uuid> exists while it runs.
if [ ! -e "/dev/disk/by-uuid/$uuid" ]; then
  mkdir -p /dev/disk/by-uuid
  ln -s "$part" "/dev/disk/by-uuid/$uuid"
  byuuid_made=/dev/disk/by-uuid/$uuid
fi
in_root update-grub >>"$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; die "update-grub failed"; }
grep -q "root=UUID=$uuid" "$mnt/boot/grub/grub.cfg" || die "grub.cfg has no root=UUID=$uuid"
! grep -q '/dev/loop' "$mnt/boot/grub/grub.cfg" || die "grub.cfg mentions the build loop device"
grep -q "'gnulinux-$k61-advanced-$uuid'" "$mnt/boot/grub/grub.cfg" || die "grub.cfg has no entry gnulinux-$k61-advanced-$uuid"

kernels=$(cd "$mnt/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tr '\n' ' ')
log "kernels: $kernels"
rm -f "$mnt/usr/sbin/policy-rc.d"
in_root apt-get clean
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/*.bin "$mnt"/var/log/*.log "$mnt"/tmp/*
cp "$work"/*.log "$cache/" 2>/dev/null || true
for m in dev/pts dev proc sys run; do umount "$mnt/$m"; done
fstrim "$mnt" >/dev/null 2>&1 || true
umount "$mnt"
sync
# Never publish a broken image: once (2026-12-01) an image came out with its last journal
# transactions missing (needs_recovery, stale bitmaps; the guests' ext4 aborted on first boot).
if ! e2fsck -fn "$part" >"$work/fsck.log" 2>&1; then
  tail -n 20 "$work/fsck.log" >&2
  die "the image's file system is not clean after unmounting (e2fsck -fn $part); not published"
fi
losetup -d "$loop"
loop=""

log "qcow2"
qemu-img convert -O qcow2 "$raw" "$work/base.qcow2"
mv "$work/base.qcow2" "$image"
# Older bases are replaced; labctl re-provisions hosts whose overlays were made on them.
for old in "$cache"/base-*.qcow2; do [ "$old" = "$image" ] || rm -f "$old"; done
ln -sfn "base-$hash.qcow2" "$cache/base.qcow2"
end=$(date +%s)
cat >"$cache/base.json" <<JSON
{
  "hash": "$hash",
  "image": "$image",
  "root_uuid": "$uuid",
  "kernels": "$(echo $kernels)",
  "extras": $("$python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"releases": r["releases"], "packages": r["packages"]}))' "$extras"),
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "build_seconds": $((end - start)),
  "size_bytes": $(stat -c %s "$image")
}
JSON
log "done in $((end - start)) s: $image ($(du -h "$image" | cut -f1))"
