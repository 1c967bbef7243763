#!/bin/busybox sh
# /init of the oracle initramfs: print what the kernel decided between markers on ttyS0, power off.
/bin/busybox mkdir -p /proc /sys /dev /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# keep kernel messages off the console while we print
echo 1 > /proc/sys/kernel/printk
sec() { echo "@@ORACLE $1@@"; }
dump() { sec "FILE $1"; cat "$1"; echo; sec "END"; }
sec BEGIN
dump /proc/cpuinfo
dump /proc/cmdline
dump /proc/version
sec "CMD uname -r"; uname -r; sec END
for f in /sys/devices/system/cpu/vulnerabilities/*; do
  [ -f "$f" ] && dump "$f"
done
for f in /sys/devices/system/cpu/smt/control /sys/devices/system/cpu/smt/active; do
  [ -f "$f" ] && dump "$f"
done
sec "DMESG"; dmesg | grep -i -E 'vmscape|retbleed|srso|spectre|mitigation|attack vector|ignoring unknown' ; sec END
sec "CPUID"; /bin/cpuid 0.0 1.0 7.0 7.1 7.2; sec END
sec DONE
poweroff -f
