"""The knowledge tables against the text of docs/vmscape-facts.md (the kernel truth).

If someone edits a table without the document (or the document without the table), these fail.
"""

import os
import re

import pytest

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import kernel_table as kt

DOC = os.path.join(os.path.dirname(__file__), *[".."] * 5, "docs", "vmscape-facts.md")


@pytest.fixture(scope="module")
def doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def _section(doc, start, end):
    i = doc.index(start)
    j = doc.index(end, i)
    return doc[i:j]


def _hexes(text):
    return {int(h, 16) for h in re.findall(r"0x([0-9A-Fa-f]{2})(?:/\d+)?", text)}


def test_intel_btb_models_match_document(doc):
    sec = _section(doc, "- Sandy Bridge..Broadwell", "- Alder Lake and newer")
    assert _hexes(sec) == kt.INTEL_BTB_MODELS


def test_intel_bhi_models_match_document(doc):
    sec = _section(doc, "- Alder Lake and newer", "AMD: families")
    assert _hexes(sec) == kt.INTEL_BHI_MODELS


def test_amd_and_hygon_families_match_document(doc):
    line = _section(doc, "AMD: families", "\n")
    amd, hygon = line.split("Hygon")
    assert _hexes(amd) == kt.AMD_FAMILIES
    assert {int(x, 16) for x in re.findall(r"0x([0-9a-f]+)", hygon)} == kt.HYGON_FAMILIES


def test_documented_unaffected_models_are_unaffected(doc):
    sec = _section(doc, "Not affected: Ice Lake", "Older stable branches")
    intel = {h for h in _hexes(sec.split("AMD")[0])}
    assert intel <= kt.INTEL_UNAFFECTED_MODELS
    for model in intel:
        assert kt.classify_cpu(kt.INTEL, 6, model).kind == "unaffected"
    for family in (0x15, 0x16):
        assert kt.classify_cpu(kt.AMD, family, 1).kind == "unaffected"


def test_affected_and_unaffected_sets_are_disjoint():
    assert not (kt.INTEL_BTB_MODELS & kt.INTEL_BHI_MODELS)
    assert not ((kt.INTEL_BTB_MODELS | kt.INTEL_BHI_MODELS) & kt.INTEL_UNAFFECTED_MODELS)


def test_branch_missing_table_matches_document(doc):
    sec = _section(doc, "| branch | missing from its list |", "On such a host")
    rows = {}
    for line in sec.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 2:
            continue
        major, minor = cells[0].split(".")[:2]
        text = re.sub(r"Arrow Lake(?!-)", "0xC5 0xC6 0xB5", cells[1])
        amd = {0x1A} if "AMD 0x1a" in text else set()
        intel = _hexes(text.replace("AMD 0x1a", "")) - amd
        rows[(int(major), int(minor))] = {"amd_families": amd, "intel_models": intel}
    assert rows == kt.BRANCH_MISSING


def test_g1_backport_versions_match_document(doc):
    header = _section(doc, "| | G1: stable backports", "\n")
    versions = set(re.findall(r"\b(\d+\.\d+\.\d+)\b", header.split("mainline")[0]))
    assert {str(v) for v in kt.G1_BACKPORT_START.values()} == versions
    assert "6.17.7+" in header and kt.Version.parse("6.17.7") == kt.G2_FIRST


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("6.1.151", kt.G0),
        ("6.1.152", kt.G1),
        ("6.1.192", kt.G1),
        ("6.12.46", kt.G0),
        ("6.12.117", kt.G1),
        ("6.16.3", kt.G0),
        ("6.16.7", kt.G1),
        ("6.15.11", kt.G0),  # EOL branch without a backport
        ("5.4.300", kt.G0),
        ("6.17", kt.G1),
        ("6.17.6", kt.G1),
        ("6.17.7", kt.G2),
        ("6.18.5", kt.G2),
        ("7.3.4", kt.G2),
        ("7.4", kt.G2),  # G3 only by probe, never by version
    ],
)
def test_generation_from_version(version, generation):
    assert kt.generation_from_version(kt.Version.parse(version)) == generation


def test_generation_unknown_without_version():
    assert kt.generation_from_version(None) is None
    assert kt.parse_version("not a version") is None


@pytest.mark.parametrize(
    ("version", "vendor", "family", "model", "listed"),
    [
        ("6.1.192", kt.AMD, 0x1A, 0x02, False),  # facts §4: seen Not affected on 6.1.192
        ("6.12.117", kt.AMD, 0x1A, 0x02, True),  # seen IBPB on 6.12.117
        ("6.6.110", kt.AMD, 0x1A, 0x02, False),
        ("6.6.110", kt.AMD, 0x19, 0x01, True),
        ("6.1.192", kt.INTEL, 6, 0xAF, False),
        ("6.1.192", kt.INTEL, 6, 0xB5, False),
        ("6.1.192", kt.INTEL, 6, 0xC6, True),
        ("5.15.193", kt.INTEL, 6, 0xC6, False),
        ("5.10.244", kt.INTEL, 6, 0xCF, False),
        ("5.10.244", kt.INTEL, 6, 0x8F, True),
        ("5.10.244", kt.HYGON, 0x18, 0x00, True),
        ("7.3.4", kt.INTEL, 6, 0x6A, False),  # Ice Lake: not affected anywhere
        ("5.4.0", kt.INTEL, 6, 0x55, None),  # branch not in the document
    ],
)
def test_listed_by_branch(version, vendor, family, model, listed):
    assert kt.listed_by_branch(kt.Version.parse(version), vendor, family, model) is listed


@pytest.mark.parametrize(
    ("vendor", "family", "model", "kind"),
    [
        (kt.INTEL, 6, 0x55, "btb"),
        (kt.INTEL, 6, 0x97, "bhi"),
        (kt.INTEL, 6, 0x6A, "unaffected"),
        (kt.INTEL, 6, 0x1A, "unaffected"),  # Nehalem: before Sandy Bridge
        (kt.INTEL, 6, 0xC0, "unknown"),
        (kt.INTEL, 19, 0x01, "unknown"),
        (kt.AMD, 0x17, 0x31, "btb"),
        (kt.AMD, 0x15, 0x02, "unaffected"),
        (kt.AMD, 0x1B, 0x00, "unknown"),
        (kt.HYGON, 0x18, 0x00, "btb"),
        ("CentaurHauls", 6, 0x0F, "unknown"),
        (None, 6, 0x55, "unknown"),
    ],
)
def test_classify_cpu(vendor, family, model, kind):
    assert kt.classify_cpu(vendor, family, model).kind == kind


@pytest.mark.parametrize(
    ("vendor", "family", "model", "every"),
    [
        ("GenuineIntel", 6, 0x55, True),  # Skylake-SP: in the newest list and every branch's (facts §4)
        ("GenuineIntel", 6, 0x97, True),  # Alder Lake: no branch row lacks it
        ("GenuineIntel", 6, 0x8F, True),  # Sapphire Rapids
        ("GenuineIntel", 6, 0xAF, False),  # Sierra Forest: missing from 6.1, 5.15, 5.10
        ("GenuineIntel", 6, 0xAA, False),  # Meteor Lake-L: missing from 5.15, 5.10
        ("GenuineIntel", 6, 0xAD, False),  # Granite Rapids: missing from 5.10
        ("AuthenticAMD", 0x19, 0x11, True),  # Zen 3/4
        ("AuthenticAMD", 0x1A, 0x02, False),  # Zen 5: missing from 6.6 and older
        ("HygonGenuine", 0x18, 0x00, True),
        ("GenuineIntel", 6, 0x6A, False),  # Ice Lake: in no list
    ],
)
def test_listed_by_every_branch(vendor, family, model, every):
    from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
        listed_by_every_branch,
    )

    assert listed_by_every_branch(vendor, family, model) is every
