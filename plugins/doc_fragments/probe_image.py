# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # probe_image of vmscape_facts, vmscape_plan and vmscape_audit (argument spec:
    # plugins/module_utils/_specs.py PROBE_IMAGE; choices: _vocabulary.PROBE_MODES).
    DOCUMENTATION = r"""
options:
  probe_image:
    description:
      - When to decompress the next-boot kernel's image to learn what it supports (when
        M(fleetsec.vmscape.vmscape_facts) observes the host).
      - V(auto) decompresses only when C(System.map) and C(config) cannot answer both
        questions (always the case on Debian, whose C(System.map) is a placeholder).
      - V(always) decompresses even when they can; V(never) never does (answers may stay null).
    type: str
    choices: [auto, always, never]
    default: auto
"""
