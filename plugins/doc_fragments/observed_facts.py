# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The facts option of vmscape_plan, vmscape_audit and vmscape_verify (plugin_utils/_observe/action_facts.py).
    DOCUMENTATION = r"""
options:
  facts:
    description:
      - An C(ansible_facts.vmscape) document to decide on instead of running
        M(fleetsec.vmscape.vmscape_facts) on the target.
      - It is used only when it was observed in this Ansible run for this host (and for the same
        O(root) when one is given) by one of this collection's actions, which stamp
        C(observation.run) and C(observation.host) on what they gather. Anything else (a document
        kept by a fact cache such as AWX's, one gathered through C(gather_facts), another host's, a
        hand-written one) is not used; vmscape_facts runs instead and RV(facts_note) says why.
        Decisions and verifications therefore always rest on observations of this run.
    type: dict
notes:
  - Safe with persistent fact caches (C(ANSIBLE_CACHE_PLUGIN=jsonfile), AWX/AAP job templates with
    fact caching); cached C(ansible_facts.vmscape) from an earlier run is never used.
"""
