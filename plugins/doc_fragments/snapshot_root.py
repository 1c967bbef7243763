# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # root of the modules that read a host (vmscape_facts, running_guests, vmscape_verify; argument
    # spec: plugins/module_utils/_specs.py ROOT). kernel_cmdline documents its own (it writes there).
    DOCUMENTATION = r"""
options:
  root:
    description:
      - Directory read instead of C(/), e.g. a captured host snapshot (C(<root>/proc/cpuinfo),
        C(<root>/sys/devices/system/cpu/vulnerabilities/*), C(<root>/boot/*), C(<root>/run/libvirt),
        ...). Symbolic links are followed inside it.
      - Paths in what is returned are host paths, without this prefix.
    type: path
    default: /
"""
