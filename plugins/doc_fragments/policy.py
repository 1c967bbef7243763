# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The operator policy of vmscape_plan and vmscape_audit (argument specs:
    # plugins/module_utils/_specs.py MODE, ALLOW_REMOVE_MITIGATIONS_OFF; modes: _vocabulary.MODES).
    DOCUMENTATION = r"""
options:
  mode:
    description:
      - Operator policy, usually set per host or group as C(vmscape_mode).
      - V(auto) lets the plan choose; V(bhb), V(ibpb), V(force), V(off) pin the mode;
        V(none) leaves the boot configuration alone and only reports.
    type: str
    default: auto
    choices: [auto, bhb, ibpb, force, "off", none]
  allow_remove_mitigations_off:
    description:
      - Allow the plan to remove C(mitigations=off) where it would defeat the VMSCAPE mitigation
        (on kernels where C(mitigations=off) wins over C(vmscape=)). By default such hosts are
        reported as blocked and nothing is changed.
    type: bool
    default: false
"""
