"""Atomic writes, backups, put_back and snapshots, checked one function at a time on real files
(found by `make mutation`: these functions were reached only through the end-to-end module tests,
which the mutation run leaves out).

Expected values are written by hand. Real files in tmp_path, real owners, modes, times and
``security.selinux`` attributes (root on ext4 stores the attribute without an SELinux policy;
CI runs as root). What cannot happen here on demand is replaced where the kernel would report
it, and the test says so: a full disk (ENOSPC from fsync or from the write), a file system
without extended attributes (ENOTSUP from setxattr), an entry that vanishes between listing a
directory and looking at it, a file that cannot be removed (EROFS). Durability is checked by
recording which directories are fsynced (``_fsync_dir``), the one thing a test cannot observe
after the fact.
"""

import errno
import os
import stat
import time
from pathlib import Path

import pytest
from skip_policy import missing, needs_root

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.atomic_write import (
    Snapshot,
    atomic_write,
    backup_file,
    backup_name,
    free_backup_name,
    get_selinux_context,
    put_back,
    read_bytes,
    remove_file,
    temp_name_pattern,
)

CONTEXT = b"system_u:object_r:boot_t:s0\x00"
# 1700000000 s after the epoch is 2023-11-14 22:13:20 UTC
EPOCH = 1700000000
STAMP = "2023-11-14@22:13:20"


def set_context(path, context=CONTEXT):
    try:
        os.setxattr(str(path), "security.selinux", context, follow_symlinks=False)
    except OSError as e:
        missing(f"cannot store security.selinux on {path}: {e.strerror} (root on ext4/xfs/tmpfs can)")


def context_of(path):
    try:
        return os.getxattr(str(path), "security.selinux", follow_symlinks=False)
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def fsynced(monkeypatch):
    """The directories fsynced, in order (the real fsync still runs)."""
    calls = []
    real = _atomic_write._fsync_dir

    def spy(directory):
        calls.append(directory)
        real(directory)

    monkeypatch.setattr(_atomic_write, "_fsync_dir", spy)
    return calls


@pytest.fixture
def renames(monkeypatch):
    """Every rename: (source, target, the source's owner, group, mode and context, its
    content) as it was just before the rename."""
    calls = []
    real = os.rename

    def spy(src, dst):
        st = os.lstat(src)
        with open(src, "rb") as f:
            data = f.read()
        calls.append((src, dst, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), context_of(src), data))
        real(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    return calls


# --------------------------------------------------------------------------- read_bytes
def test_read_bytes_follows_links_by_default_and_refuses_them_when_told(tmp_path):
    (tmp_path / "target").write_bytes(b"GRUB_TIMEOUT=5\n")
    (tmp_path / "link").symlink_to("target")
    assert read_bytes(str(tmp_path / "link")) == b"GRUB_TIMEOUT=5\n"
    with pytest.raises(OSError) as err:
        read_bytes(str(tmp_path / "link"), follow=False)
    assert (err.value.errno, err.value.strerror) == (
        errno.EINVAL,
        "not a regular file (a symbolic link); refusing to read it",
    )
    assert read_bytes(str(tmp_path / "target"), follow=False) == b"GRUB_TIMEOUT=5\n"


def test_read_bytes_of_what_does_not_exist_is_none(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    assert read_bytes(str(tmp_path / "missing")) is None
    assert read_bytes(str(tmp_path / "file" / "below-a-file")) is None  # ENOTDIR
    with pytest.raises(IsADirectoryError):
        read_bytes(str(tmp_path))


def test_read_bytes_limit_is_inclusive_and_the_error_names_the_file(tmp_path):
    path = tmp_path / "grubenv"
    path.write_bytes(b"0123456789")
    assert read_bytes(str(path), limit=10) == b"0123456789"
    assert read_bytes(str(path), limit=11) == b"0123456789"
    with pytest.raises(OSError) as err:
        read_bytes(str(path), limit=9)
    assert (err.value.errno, err.value.strerror, err.value.filename) == (
        errno.EFBIG,
        "larger than 9 bytes; refusing to read it",
        str(path),
    )


def test_read_bytes_with_a_limit_reads_no_more_than_the_limit(tmp_path):
    # a sparse file one byte larger than the default bound: with a limit of 10 the refusal names
    # that limit (the file was read up to 11 bytes, not up to the default 64 MiB bound)
    path = tmp_path / "huge"
    with open(path, "wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)
    with pytest.raises(OSError) as err:
        read_bytes(str(path), limit=10)
    assert err.value.strerror == "larger than 10 bytes; refusing to read it"
    with pytest.raises(OSError) as err:
        read_bytes(str(path))
    assert err.value.strerror == "larger than 67108864 bytes; refusing to read it"


# --------------------------------------------------------------------------- SELinux context
@needs_root("security.selinux can be set without an SELinux policy by root only")
def test_selinux_context_of_a_file_not_of_the_link_to_it(tmp_path):
    target = tmp_path / "grub.cfg"
    target.write_text("x")
    set_context(target)
    (tmp_path / "link").symlink_to("grub.cfg")
    assert get_selinux_context(str(target)) == CONTEXT
    assert get_selinux_context(str(tmp_path / "link")) is None  # the link's own (none), not the target's
    (tmp_path / "plain").write_text("y")
    assert get_selinux_context(str(tmp_path / "plain")) is None  # ENODATA
    assert get_selinux_context(str(tmp_path / "missing")) is None  # ENOENT


def test_selinux_context_errors_other_than_absence_are_raised(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        get_selinux_context(str(tmp_path / "file" / "below"))


# --------------------------------------------------------------------------- atomic_write
def test_a_new_file_gets_the_requested_mode_via_a_temporary_file_beside_it(tmp_path, renames, fsynced):
    path = tmp_path / "boot" / "grub.cfg"
    path.parent.mkdir()
    atomic_write(str(path), b"set default=0\n")
    assert path.read_bytes() == b"set default=0\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    atomic_write(str(tmp_path / "boot" / "other"), b"x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "boot" / "other").stat().st_mode) == 0o600
    src, dst = renames[0][:2]
    assert dst == str(path)
    assert os.path.dirname(src) == str(path.parent)
    name = os.path.basename(src)
    assert name.startswith(".grub.cfg.") and name.endswith(".fleetsec-tmp")
    assert len(name) > len(".grub.cfg..fleetsec-tmp")
    assert temp_name_pattern(str(path)) == ".grub.cfg.*.fleetsec-tmp"
    assert renames[0][4:] == (0o644, None, b"set default=0\n")
    assert fsynced == [str(path.parent), str(path.parent)]
    assert sorted(os.listdir(path.parent)) == ["grub.cfg", "other"]


def test_relative_backups_and_renames_sync_the_current_directory(tmp_path, monkeypatch, fsynced):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grubenv").write_bytes(b"old")
    backup_file("grubenv", dest="grubenv.b~")
    assert fsynced == ["."]
    (tmp_path / "grubenv").write_bytes(b"new")

    def full(path, data, mode=0o644):  # stand-in for a full disk
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(_atomic_write, "atomic_write", full)
    assert put_back("grubenv", b"old", "grubenv.b~") == "renamed"
    assert fsynced == [".", "."] and (tmp_path / "grubenv").read_bytes() == b"old"


def test_a_relative_path_is_written_in_the_current_directory(tmp_path, monkeypatch, renames, fsynced):
    monkeypatch.chdir(tmp_path)
    atomic_write("grubenv", b"# GRUB Environment Block\n")
    assert (tmp_path / "grubenv").read_bytes() == b"# GRUB Environment Block\n"
    assert os.path.dirname(renames[0][0]) == str(tmp_path)  # mkstemp names it absolutely
    assert fsynced == ["."]
    remove_file("grubenv")
    assert fsynced == [".", "."]
    assert os.listdir(tmp_path) == []


def test_replacing_keeps_mode_and_a_new_inode(tmp_path, renames):
    path = tmp_path / "grub"
    path.write_text("old")
    path.chmod(0o600)
    inode = path.stat().st_ino
    atomic_write(str(path), b"new")
    st = path.stat()
    assert (path.read_bytes(), stat.S_IMODE(st.st_mode)) == (b"new", 0o600)
    assert st.st_ino != inode
    assert renames[0][4] == 0o600  # the temporary file had the mode before it was renamed


@needs_root("only root gives a file to another owner")
def test_replacing_keeps_owner_group_and_selinux_context(tmp_path, renames):
    path = tmp_path / "grub"
    path.write_text("old")
    os.chown(path, 65534, 65533)
    path.chmod(0o640)
    set_context(path)
    atomic_write(str(path), b"new")
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65533, 0o640)
    assert context_of(path) == CONTEXT
    assert renames[0][2:6] == (65534, 65533, 0o640, CONTEXT)


@needs_root("only root gives a file to another owner")
def test_a_file_of_the_running_user_stays_theirs(tmp_path):
    path = tmp_path / "grub"
    path.write_text("old")
    atomic_write(str(path), b"new")
    assert (path.stat().st_uid, path.stat().st_gid) == (os.geteuid(), os.getegid())
    assert context_of(path) is None  # no context before: none set


def test_a_file_system_without_extended_attributes_still_gets_the_file(tmp_path, monkeypatch):
    # stand-in: the file system answers setxattr with ENOTSUP (this one stores them)
    path = tmp_path / "grub"
    path.write_text("old")
    monkeypatch.setattr(_atomic_write, "get_selinux_context", lambda _p: CONTEXT)
    tried = []

    def unsupported(p, name, value, *a, **k):
        tried.append((os.path.dirname(p), name, value))
        raise OSError(errno.ENOTSUP, "Operation not supported", p)

    monkeypatch.setattr(os, "setxattr", unsupported)
    atomic_write(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert tried == [(str(tmp_path), "security.selinux", CONTEXT)]


def test_a_refused_context_fails_the_write_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "grub"
    path.write_text("old")
    monkeypatch.setattr(_atomic_write, "get_selinux_context", lambda _p: CONTEXT)

    def refused(p, *a, **k):
        raise OSError(errno.EPERM, "Operation not permitted", p)

    monkeypatch.setattr(os, "setxattr", refused)
    with pytest.raises(PermissionError):
        atomic_write(str(path), b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["grub"]


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    # a directory in the way: the rename of the temporary file over it fails (EISDIR)
    path = tmp_path / "grub.cfg"
    path.mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(str(path), b"x")
    assert os.listdir(tmp_path) == ["grub.cfg"] and os.listdir(path) == []


# --------------------------------------------------------------------------- backups
def test_backup_names_follow_ansible(tmp_path, utc, monkeypatch):
    path = str(tmp_path / "grub")
    assert backup_name(path, now=EPOCH) == f"{path}.{os.getpid()}.{STAMP}~"
    assert backup_name(path, now=0) == f"{path}.{os.getpid()}.1970-01-01@00:00:00~"
    # without now: the current time (a fixed clock here: the real one can step back under load)
    monkeypatch.setattr(time, "time", lambda: 86399.9)
    assert backup_name(path) == f"{path}.{os.getpid()}.1970-01-01@23:59:59~"


def test_a_free_backup_name_counts_past_taken_and_existing_names(tmp_path, utc, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: float(EPOCH))
    path = str(tmp_path / "grub")
    base = f"{path}.{os.getpid()}.{STAMP}"
    assert free_backup_name(path) == base + "~"
    assert free_backup_name(path, taken={base + "~"}) == base + ".1~"
    (tmp_path / os.path.basename(base + "~")).write_text("")
    assert free_backup_name(path) == base + ".1~"
    (tmp_path / os.path.basename(base + ".1~")).symlink_to("nowhere")  # a dangling link is taken too
    assert free_backup_name(path, taken={base + ".2~"}) == base + ".3~"
    assert free_backup_name(path, taken={base + ".2~", base + ".3~"}) == base + ".4~"


def test_a_backup_is_an_exact_copy_with_mode_times_and_name(tmp_path, utc, monkeypatch, fsynced):
    monkeypatch.setattr(time, "time", lambda: float(EPOCH))
    path = tmp_path / "grub"
    path.write_bytes(b'GRUB_CMDLINE_LINUX="quiet"\n')
    path.chmod(0o640)
    os.utime(path, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    dest = backup_file(str(path))
    assert dest == f"{path}.{os.getpid()}.{STAMP}~"
    st = os.stat(dest)
    assert Path(dest).read_bytes() == b'GRUB_CMDLINE_LINUX="quiet"\n'
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_600_000_000_123_456_789, 1_500_000_000_987_654_321)
    assert fsynced == [str(tmp_path)]
    # the bytes the caller read, to the name it chose
    other = str(tmp_path / "chosen~")
    assert backup_file(str(path), b"what was read", dest=other) == other
    assert Path(other).read_bytes() == b"what was read"
    assert path.read_bytes() == b'GRUB_CMDLINE_LINUX="quiet"\n'


def test_a_backup_never_replaces_an_existing_file(tmp_path):
    path = tmp_path / "grub"
    path.write_text("new")
    (tmp_path / "taken~").write_text("an older backup")
    with pytest.raises(FileExistsError):
        backup_file(str(path), dest=str(tmp_path / "taken~"))
    assert (tmp_path / "taken~").read_text() == "an older backup"


def test_a_backup_of_a_private_file_is_never_readable_by_others(tmp_path, monkeypatch):
    # grub.cfg with a password hash is 0600: the copy holds the content before its mode is set,
    # so it must be created 0600 (O_EXCL) and keep that until fchmod gives it the original mode
    path = tmp_path / "user.cfg"
    path.write_text("GRUB2_PASSWORD=grub.pbkdf2.sha512.10000.ABCD\n")
    path.chmod(0o600)
    modes = []
    real = os.fchmod

    def spy(fd, mode):
        modes.append((stat.S_IMODE(os.fstat(fd).st_mode), os.fstat(fd).st_size, mode))
        real(fd, mode)

    monkeypatch.setattr(os, "fchmod", spy)
    old = os.umask(0)
    try:
        backup_file(str(path), dest=str(tmp_path / "b~"))
    finally:
        os.umask(old)
    assert modes == [(0o600, 45, 0o600)]


@needs_root("security.selinux can be set without an SELinux policy by root only")
def test_a_backup_keeps_owner_and_selinux_context(tmp_path):
    path = tmp_path / "grub"
    path.write_text("x")
    os.chown(path, 65534, 65533)
    set_context(path)
    dest = backup_file(str(path), dest=str(tmp_path / "b~"))
    st = os.stat(dest)
    assert (st.st_uid, st.st_gid) == (65534, 65533)
    assert context_of(dest) == CONTEXT


def test_a_failed_backup_leaves_no_partial_copy(tmp_path, monkeypatch):
    # stand-in for a full disk: fsync reports ENOSPC, as the kernel does when delayed blocks
    # cannot be allocated
    path = tmp_path / "grub"
    path.write_text("x")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as err:
        backup_file(str(path), dest=str(tmp_path / "b~"))
    assert err.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == ["grub"]


# --------------------------------------------------------------------------- put_back
def test_put_back_says_what_it_did(tmp_path, fsynced):
    path = tmp_path / "grub"
    path.write_bytes(b"same")
    assert put_back(str(path), b"same") == "unchanged"
    assert fsynced == []
    assert put_back(str(path), b"old") == "written" and path.read_bytes() == b"old"
    assert put_back(str(path), None) == "removed" and not path.exists()
    assert put_back(str(path), None) == "unchanged"
    assert put_back(str(path), b"back") == "written" and path.read_bytes() == b"back"


def full_disk(monkeypatch, err=errno.ENOSPC):
    """Stand-in: the atomic write fails as on a full file system (or with ``err``)."""

    def write(path, data, mode=0o644):
        raise OSError(err, os.strerror(err), path)

    monkeypatch.setattr(_atomic_write, "atomic_write", write)


def test_put_back_renames_the_backup_over_the_file_when_full(tmp_path, monkeypatch, fsynced):
    path = tmp_path / "grub"
    path.write_bytes(b"NEW")
    (tmp_path / "grub.b~").write_bytes(b"OLD")
    full_disk(monkeypatch)
    assert put_back(str(path), b"OLD", str(tmp_path / "grub.b~")) == "renamed"
    assert path.read_bytes() == b"OLD" and os.listdir(tmp_path) == ["grub"]
    assert fsynced == [str(tmp_path)]


def test_put_back_when_full_without_a_usable_backup_raises_the_write_error(tmp_path, monkeypatch):
    path = tmp_path / "grub"
    path.write_bytes(b"NEW")
    full_disk(monkeypatch)
    for backup in (None, str(tmp_path / "missing~"), str(tmp_path)):
        with pytest.raises(OSError) as err:
            put_back(str(path), b"OLD", backup)
        assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"NEW"


def test_put_back_renames_only_when_there_is_no_room(tmp_path, monkeypatch):
    path = tmp_path / "grub"
    path.write_bytes(b"NEW")
    (tmp_path / "grub.b~").write_bytes(b"OLD")
    full_disk(monkeypatch, errno.EIO)
    with pytest.raises(OSError) as err:
        put_back(str(path), b"OLD", str(tmp_path / "grub.b~"))
    assert err.value.errno == errno.EIO
    assert path.read_bytes() == b"NEW" and (tmp_path / "grub.b~").read_bytes() == b"OLD"


# --------------------------------------------------------------------------- Snapshot
def tree(tmp_path):
    """entries/ with a.conf, b.conf, a link c.conf, a directory d.conf, notes.txt."""
    d = tmp_path / "entries"
    d.mkdir()
    (d / "a.conf").write_bytes(b"A")
    (d / "b.conf").write_bytes(b"B")
    (d / "c.conf").symlink_to("a.conf")
    (d / "d.conf").mkdir()
    (d / "notes.txt").write_bytes(b"N")
    (d / "00-readme.txt").write_bytes(b"R")  # sorts first and does not match: the scan goes on
    return d


def test_a_glob_remembers_regular_matching_files_only(tmp_path):
    d = tree(tmp_path)
    snap = Snapshot()
    snap.add_glob(str(d), "*.conf")
    assert snap.files == {str(d / "a.conf"): b"A", str(d / "b.conf"): b"B"}
    assert snap.globs == [(str(d), "*.conf")]
    snap.add_glob(str(tmp_path / "missing"), "*.conf")  # a directory that is not there: nothing
    assert len(snap.files) == 2


def test_a_file_is_remembered_once_as_first_seen(tmp_path):
    path = tmp_path / "grub"
    path.write_bytes(b"first")
    snap = Snapshot()
    snap.add_file(str(path))
    path.write_bytes(b"second")
    snap.add_file(str(path))
    snap.add_file(str(tmp_path / "absent"))
    assert snap.files == {str(path): b"first", str(tmp_path / "absent"): None}


def test_changed_paths_are_changed_files_and_new_glob_matches(tmp_path):
    d = tree(tmp_path)
    snap = Snapshot()
    snap.add_glob(str(d), "*.conf")
    assert snap.changed_paths() == []
    (d / "b.conf").write_bytes(b"B2")
    (d / "e.conf").write_bytes(b"E")
    (d / "f.conf").symlink_to("b.conf")  # a new link is not a regular file: not a glob match
    (d / "new.txt").write_bytes(b"not matching")
    assert snap.changed_paths() == [str(d / "b.conf"), str(d / "e.conf")]


def test_new_entries_of_remembered_directories(tmp_path):
    d = tmp_path / "grub"
    d.mkdir()
    (d / "grub.cfg").write_bytes(b"cfg")
    snap = Snapshot()
    snap.add_dir(str(tmp_path / "absent"))  # sorts first; unreadable at snapshot time: skipped
    snap.add_dir(str(d))
    snap.add_file(str(d / "grub.cfg.bak"))  # remembered as absent: restore handles it, not this list
    snap.add_dir(str(d))  # the first listing is kept
    assert snap.dirs == {str(tmp_path / "absent"): None, str(d): ["grub.cfg"]}
    (tmp_path / "absent").mkdir()
    (tmp_path / "absent" / "x").write_bytes(b"")
    assert snap.new_in_dirs() == []
    (d / "grub.cfg.new").write_bytes(b"partial")
    (d / "grub.cfg.bak").write_bytes(b"")
    (d / "link").symlink_to("grub.cfg")
    (d / "sub").mkdir()
    (d / "zz.cfg").write_bytes(b"")
    assert snap.new_in_dirs() == [
        (str(d / "grub.cfg.new"), "file"),
        (str(d / "link"), "file"),
        (str(d / "sub"), "other"),
        (str(d / "zz.cfg"), "file"),
    ]


def test_an_entry_gone_before_it_is_looked_at_is_not_new(tmp_path, monkeypatch):
    # stand-in for a race: the name is listed, then removed before lstat
    d = tmp_path / "grub"
    d.mkdir()
    snap = Snapshot()
    snap.add_dir(str(d))
    (d / "a").write_bytes(b"")
    (d / "b").write_bytes(b"")
    real = os.lstat

    def racing(p, *a, **k):
        if p == str(d / "a"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", p)
        return real(p, *a, **k)

    monkeypatch.setattr(os, "lstat", racing)
    assert snap.new_in_dirs() == [(str(d / "b"), "file")]
    globbed = Snapshot()
    globbed.add_glob(str(d), "*")
    assert globbed.files == {str(d / "b"): b""}


def test_restore_puts_everything_back_and_says_what_it_removed_and_left(tmp_path):
    d = tree(tmp_path)
    out = tmp_path / "grub"
    out.mkdir()
    (out / "grub.cfg").write_bytes(b"cfg")
    snap = Snapshot()
    snap.add_glob(str(d), "*.conf")
    snap.add_dir(str(out))
    snap.add_file(str(out / "grub.cfg"))
    snap.add_file(str(tmp_path / "absent"))
    (d / "a.conf").write_bytes(b"A2")
    (d / "b.conf").unlink()
    (d / "e.conf").write_bytes(b"E")
    (out / "grub.cfg").write_bytes(b"cfg2")
    (out / "grub.cfg.new").write_bytes(b"partial")
    (out / "sub").mkdir()
    (out / "zz.tmp").write_bytes(b"after the directory")
    (tmp_path / "absent").write_bytes(b"created")
    errors, removed, left = snap.restore()
    assert errors == []
    assert removed == sorted(
        [str(d / "e.conf"), str(out / "grub.cfg.new"), str(out / "zz.tmp"), str(tmp_path / "absent")]
    )
    assert left == [str(out / "sub")]
    assert (d / "a.conf").read_bytes() == b"A" and (d / "b.conf").read_bytes() == b"B"
    assert (out / "grub.cfg").read_bytes() == b"cfg"
    assert sorted(os.listdir(d)) == ["00-readme.txt", "a.conf", "b.conf", "c.conf", "d.conf", "notes.txt"]
    assert sorted(os.listdir(out)) == ["grub.cfg", "sub"]
    assert not (tmp_path / "absent").exists()
    assert snap.restore() == ([], [], [str(out / "sub")])


def test_restore_reports_files_it_could_not_remove(tmp_path, monkeypatch):
    # stand-in: the file system refuses removals (EROFS), for two of the three new files
    d = tmp_path / "entries"
    d.mkdir()
    out = tmp_path / "grub"
    out.mkdir()
    snap = Snapshot()
    snap.add_glob(str(d), "*.conf")
    snap.add_dir(str(out))
    (d / "e.conf").write_bytes(b"E")
    (d / "f.conf").write_bytes(b"F")
    (out / "grub.cfg.new").write_bytes(b"partial")
    real = _atomic_write.remove_file

    def read_only(p):
        if p != str(d / "f.conf"):
            raise OSError(errno.EROFS, "Read-only file system", p)
        real(p)

    monkeypatch.setattr(_atomic_write, "remove_file", read_only)
    errors, removed, left = snap.restore()
    assert errors == [f"{d / 'e.conf'}: Read-only file system", f"{out / 'grub.cfg.new'}: Read-only file system"]
    assert removed == [str(d / "f.conf")] and left == []


def test_restore_reports_files_it_could_not_put_back(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    snap = Snapshot()
    snap.add_file(str(a))
    snap.add_file(str(b))
    a.write_bytes(b"A2")
    b.write_bytes(b"B2")

    def failing(path, data, backup=None):
        if path == str(a):
            raise OSError(errno.EIO, "Input/output error", path)
        return "written"  # claims success without writing: the check after it notices

    monkeypatch.setattr(_atomic_write, "put_back", failing)
    errors, removed, left = snap.restore()
    assert errors == [
        f"{a}: Input/output error",
        f"{b}: does not hold its previous content after restoring it",
    ]
    assert (removed, left) == ([], [])


def test_restore_on_a_full_disk_uses_the_backups_and_says_which(tmp_path, monkeypatch):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    snap = Snapshot()
    for p in (a, b, c):
        snap.add_file(str(p))
    (tmp_path / "a~").write_bytes(b"A")
    a.write_bytes(b"A2")
    b.write_bytes(b"B2")
    c.write_bytes(b"C")
    full_disk(monkeypatch)
    consumed = set()
    errors, removed, left = snap.restore(backups={str(a): str(tmp_path / "a~")}, consumed=consumed)
    assert consumed == {str(tmp_path / "a~")}
    assert a.read_bytes() == b"A" and not (tmp_path / "a~").exists()
    assert errors == [f"{b}: No space left on device"]  # no backup of b: nothing to rename
    assert removed == [str(c)] and left == []
    # without a set to fill, the fallback still works
    a.write_bytes(b"A3")
    (tmp_path / "a~").write_bytes(b"A")
    assert snap.restore(backups={str(a): str(tmp_path / "a~")})[0] == [f"{b}: No space left on device"]
    assert a.read_bytes() == b"A"
