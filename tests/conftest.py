"""Shared pytest setup of every test directory.

- Imports the collection as ``ansible_collections.fleetsec.vmscape``:
  ``collections/ansible_collections/fleetsec/vmscape`` is a symlink to the repository root, so
  the collection's own import paths work in tests exactly as they do under Ansible.
- Loads the hypothesis profile (tests/hypothesis_profiles.py: derandomized ``ci`` under
  ``CI=true``, a larger random ``dev`` profile locally).
- Installs the skip policy (tests/skip_policy.py): under ``CI=true`` nothing skips silently.
"""

import os
import sys

import hypothesis_profiles
from skip_policy import pytest_runtest_makereport  # noqa: F401  (the hook, registered by being here)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

HYPOTHESIS_PROFILE = hypothesis_profiles.load()


def pytest_report_header(config):
    ci = "CI=true: skips fail" if hypothesis_profiles.in_ci() else "not CI: skips allowed"
    return f"fleetsec.vmscape: hypothesis profile {HYPOTHESIS_PROFILE}; {ci}"
