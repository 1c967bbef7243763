"""The built collection (galaxy.yml's manifest, the real ansible-galaxy build) holds exactly the files
docs/collection-contents.md lists, and nothing of the development tooling."""

import pytest

from tools import collection_contents as cc


@pytest.fixture(scope="module")
def built():
    return cc.build()[0]


def test_built_collection_is_the_documented_list(built):
    documented = cc.documented()
    assert documented == sorted(documented), "keep the list sorted (python -m tools.collection_contents --write)"
    missing = sorted(set(documented) - set(built))
    extra = sorted(set(built) - set(documented))
    assert not missing and not extra, (
        f"the build and docs/collection-contents.md differ: not built {missing}, not documented {extra}; "
        "after a deliberate change run python -m tools.collection_contents --write"
    )


def test_no_development_tooling_is_shipped(built):
    leaked = [n for n in built if n.startswith(cc.NEVER) or n in cc.NEVER_FILES or "/__pycache__/" in n]
    assert leaked == []
    # what users run is there
    for needed in ("MANIFEST.json", "meta/runtime.yml", "roles/vmscape/meta/argument_specs.yml", "LICENSE"):
        assert needed in built
    assert any(n.startswith("plugins/modules/") for n in built)
    assert any(n.startswith("playbooks/") for n in built)
