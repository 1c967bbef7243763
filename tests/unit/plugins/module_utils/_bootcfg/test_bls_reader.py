"""The BLS entry reader (``_bootcfg.bls``): which files are entries, the bound on their size, what
a half-readable directory gives the facts and the editor, comments, grubenv expansion, and rpm's
order where segments differ only in leading zeros (found by `make mutation`).

Entries are written by hand as RHEL writes them (Boot Loader Specification type #1); the expected
orders follow rpm's rpmvercmp (rpmio/rpmvercmp.c: leading zeros are skipped, then the longer run of
digits wins, then strcmp), worked out by hand below.
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.bls import (
    MAX_ENTRY,
    Entry,
    effective_tokens,
    expand,
    read_entries,
    rpmvercmp,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError

D = "boot/loader/entries"


def entry_text(version, options="root=/dev/mapper/rl-root ro"):
    return f"title Rocky Linux ({version})\nversion {version}\nlinux /vmlinuz-{version}\noptions {options}\n"


def write(root, name, data):
    path = root / D / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def test_only_visible_conf_files_are_entries(tmp_path):
    write(tmp_path, "a-5.14.0-503.el9.x86_64.conf", entry_text("5.14.0-503.el9.x86_64"))
    write(tmp_path, ".a-5.14.0-570.el9.x86_64.conf", entry_text("5.14.0-570.el9.x86_64"))  # hidden
    write(tmp_path, "a-5.14.0-570.el9.x86_64.conf.rpmsave", entry_text("5.14.0-570.el9.x86_64"))
    assert [e.id for e in read_entries(str(tmp_path))] == ["a-5.14.0-503.el9.x86_64"]


def test_an_entry_up_to_the_bound_is_read_and_a_larger_one_refused_or_named(tmp_path):
    text = entry_text("5.14.0-503.el9.x86_64")
    write(tmp_path, "b-5.14.0-503.el9.x86_64.conf", text + "#" * (MAX_ENTRY - len(text) - 1) + "\n")
    assert [e.version for e in read_entries(str(tmp_path))] == ["5.14.0-503.el9.x86_64"]
    write(tmp_path, "a-huge.conf", b"#" * (MAX_ENTRY + 1))  # sorts first: the scan goes on after it
    msg = f"/{D}/a-huge.conf: larger than 1048576 bytes; refusing to read it"
    with pytest.raises(BootConfigError) as err:
        read_entries(str(tmp_path))
    assert str(err.value) == msg
    warnings = []
    assert [e.id for e in read_entries(str(tmp_path), warnings=warnings)] == ["b-5.14.0-503.el9.x86_64"]
    assert warnings == [msg]


def test_comments_are_no_keys():
    e = Entry(
        "/boot/loader/entries/x.conf",
        "/r/boot/loader/entries/x.conf",
        "# title Old\n#options quiet\ntitle Rocky Linux\n  # version 1\nversion 5.14.0\noptions ro\n",
    )
    assert e.fields == {"title": "Rocky Linux", "version": "5.14.0", "options": "ro"}
    assert e.options_text == "ro"


def test_grubenv_variables_expand_and_unset_ones_vanish():
    assert expand("$kernelopts ${tuned_params} x", {"kernelopts": "root=/dev/sda2 ro"}) == "root=/dev/sda2 ro  x"
    e = Entry("/boot/loader/entries/x.conf", "/r/x.conf", "options $kernelopts $tuned_params\n")
    assert effective_tokens(e, {"kernelopts": "root=/dev/sda2 ro"}) == ["root=/dev/sda2", "ro"]
    assert effective_tokens(None, {"kernelopts": "root=/dev/sda2 ro"}) == []  # no default entry: no tokens


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        # "01" and "1" are the same number; the next segment decides
        ("1.01.2", "1.1.3", -1),
        ("5.14.0-0503.2", "5.14.0-503.1", 1),
        ("1.001", "1.1", 0),
    ],
)
def test_rpm_order_goes_on_past_numbers_equal_but_for_leading_zeros(a, b, want):
    assert rpmvercmp(a, b) == want
    assert rpmvercmp(b, a) == -want
