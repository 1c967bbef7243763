"""Shared pytest setup: import the collection as ``ansible_collections.fleetsec.vmscape``.

``collections/ansible_collections/fleetsec/vmscape`` is a symlink to the repository root, so
the collection's own import paths work in tests exactly as they do under Ansible.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
