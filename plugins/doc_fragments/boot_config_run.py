# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # the run options of the modules that change the boot configuration (kernel_cmdline, boot_default;
    # argument spec: plugins/module_utils/_specs.py LOCK_TIMEOUT, REGENERATE_TIMEOUT)
    DOCUMENTATION = r"""
options:
  lock_timeout:
    description:
      - Seconds to wait for another run that changes the boot configuration on the same host (same
        O(root); fleetsec.vmscape.kernel_cmdline and fleetsec.vmscape.boot_default) to finish. Every run
        that may write holds a host-wide lock (C(<root>/var/lib/fleetsec-vmscape/kernel_cmdline.lock))
        from before it reads the configuration until it has finished; when the lock stays busy this long
        the task fails with a C(busy) message naming the process that holds it, and changes nothing.
      - A run that was killed never leaves the lock held (the kernel drops it); a half-done
        kernel_cmdline change is undone by the next run before anything else.
    type: int
    default: 300
  regenerate_timeout:
    description:
      - Seconds each regeneration command (and C(grubby), C(grub-editenv)) may take. At the deadline the
        command and everything it started are killed, every file is put back and the task fails saying so.
        The output of a failed command is cut to its first 16 KiB and last 48 KiB per stream.
    type: int
    default: 600
"""
