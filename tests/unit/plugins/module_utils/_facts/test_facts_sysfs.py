"""Vulnerabilities directory: raw strings, garbage reported as-is with warnings, never a crash."""

import os

from skip_policy import needs_path

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.sysfs_vulns import SIZE_CAP, read_vulnerabilities

VD = "sys/devices/system/cpu/vulnerabilities"


def mk(tmp_path, files):
    d = tmp_path / VD
    d.mkdir(parents=True)
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def test_raw_strings_one_newline_stripped(tmp_path):
    mk(
        tmp_path,
        {
            "vmscape": b"Mitigation: IBPB before exit to userspace\n",
            "retbleed": b"Mitigation: untrained return thunk; SMT enabled with STIBP protection\n",
            "meltdown": b"Not affected",
            "odd": b"two newlines\n\n",
        },
    )
    values, _reason, warnings = read_vulnerabilities(str(tmp_path))
    assert values == {
        "vmscape": "Mitigation: IBPB before exit to userspace",
        "retbleed": "Mitigation: untrained return thunk; SMT enabled with STIBP protection",
        "meltdown": "Not affected",
        "odd": "two newlines\n",
    }
    assert warnings == ["/sys/devices/system/cpu/vulnerabilities/odd: more than one line"]


def test_binary_garbage(tmp_path):
    mk(tmp_path, {"vmscape": b"\xff\xfe\x00garbage\x01\n"})
    values, _reason, warnings = read_vulnerabilities(str(tmp_path))
    assert values["vmscape"] == "\\xff\\xfe\x00garbage\x01"
    assert any("not UTF-8" in w for w in warnings)
    assert any("control characters" in w for w in warnings)


def test_huge_file_is_capped(tmp_path):
    mk(tmp_path, {"vmscape": b"A" * (SIZE_CAP * 10)})
    values, _reason, warnings = read_vulnerabilities(str(tmp_path))
    assert values["vmscape"] == "A" * SIZE_CAP
    assert warnings == ["/sys/devices/system/cpu/vulnerabilities/vmscape: larger than 4096 bytes; truncated"]


def test_missing_directory_is_unknown_not_empty(tmp_path):
    values, reason, warnings = read_vulnerabilities(str(tmp_path))
    assert values is None
    assert reason == "/sys/devices/system/cpu/vulnerabilities: No such file or directory"
    assert warnings == [reason]


def test_present_empty_directory_is_an_empty_mapping(tmp_path):
    mk(tmp_path, {})
    assert read_vulnerabilities(str(tmp_path)) == ({}, None, [])


def test_absent_file_means_absent_key(tmp_path):
    mk(tmp_path, {"retbleed": b"Not affected\n"})
    values, _reason, _w = read_vulnerabilities(str(tmp_path))
    assert "vmscape" not in values


def test_subdirectory_ignored_and_unreadable_is_null(tmp_path):
    d = mk(tmp_path, {"vmscape": b"Vulnerable\n"})
    (d / "subdir").mkdir()
    bad = d / "spectre_v2"
    os.symlink(d / "missing-target", bad)  # dangling: open fails like an unreadable file
    values, _reason, warnings = read_vulnerabilities(str(tmp_path))
    assert values["vmscape"] == "Vulnerable"
    assert "subdir" not in values
    assert values["spectre_v2"] is None
    assert any("spectre_v2: No such file" in w for w in warnings)


@needs_path("/" + VD, "none: a Linux kernel with sysfs mounted")
def test_this_machine():
    values, _reason, _w = read_vulnerabilities("/")
    assert values, "a real sysfs has vulnerability files"
    assert all(isinstance(v, str) and not v.endswith("\n") for v in values.values())
