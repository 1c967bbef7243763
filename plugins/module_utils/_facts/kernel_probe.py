# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a kernel (not necessarily the running one) supports, from its files on disk.

Target side: standard library only, importable by Python 3.6+.

Sources, cheapest first (vmscape-facts.md section 5):
- ``System.map-<rel>``: ``vmscape_select_mitigation`` => knows VMSCAPE (G1+);
  ``clear_bhb_loop_nofence`` or ``vmscape_predictor_flush`` => carries the BHB series (G3).
  Debian ships a one-line stub instead ("The real System.map is in the ...-dbg package"):
  a stub answers nothing.
- ``config-<rel>``: ``CONFIG_MITIGATION_VMSCAPE`` (the symbol existing => knows VMSCAPE).
- The image: the bzImage setup header (offset 0x1f1) carries an uncompressed version string
  (pointer at 0x20e) and, from boot protocol 2.08, the compressed payload's offset and length
  (0x248/0x24c). The payload (gzip, xz, lzma, bzip2 with the standard library; zstd and lz4
  through the ``zstd``/``lz4`` programs) decompresses to an ELF vmlinux whose read-only data
  holds the sysfs strings: "Mitigation: Clear BHB before exit to userspace" => G3;
  "vmscape" / "IBPB before exit to userspace" => knows VMSCAPE. When no decompressor is
  available the answer is null with a probe error, never a guess.

The image is decompressed only when System.map and config leave a question open (or when
asked to always), streamed in chunks, and stopped once every answer is known or the
read-only segments of the vmlinux have been scanned.

Every read is bounded, because an image is input like any other (a 785-byte bzip2 "bomb" once
took 2.1 GB of memory, a 312 KB xz one 3.5 GB): at most ``_CHUNK_OUT`` bytes come out of the
decompressor per step (``max_length``), at most ``MAX_DECOMPRESSED`` bytes in all and for at most
``MAX_SECONDS``; the xz/lzma decoder gets a memory limit (``LZMA_MEMLIMIT``); an external
decompressor runs with an address-space limit (``PROGRAM_RLIMIT_AS``) and is killed at the
deadline. System.map and config are read line by line up to ``MAX_TEXT``. Hitting a bound is a
probe error and leaves the answers unknown (null), never negative.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import contextlib
import lzma
import os
import select
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import zlib

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import (
    parse_build_string,
    version_from_release,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import PROBE_MODES

# vmscape-facts.md section 5: symbols and strings that answer the two questions.
SYM_KNOWS = "vmscape_select_mitigation"
SYMS_G3 = ("clear_bhb_loop_nofence", "vmscape_predictor_flush")
STR_G3 = b"Mitigation: Clear BHB before exit to userspace"
STRS_KNOWS = (b"IBPB before exit to userspace", b"vmscape")
STR_BANNER = b"Linux version "
CONFIG_SYMBOL = "CONFIG_MITIGATION_VMSCAPE"

# Compressed payload magics (arch/x86/boot/compressed, lib/decompress.c).
MAGICS = (
    ("gzip", b"\x1f\x8b\x08"),
    ("xz", b"\xfd7zXZ\x00"),
    ("lzma", b"\x5d\x00\x00"),
    ("bzip2", b"BZh"),
    ("zstd", b"\x28\xb5\x2f\xfd"),
    ("lz4", b"\x02\x21\x4c\x18"),
    ("lzo", b"\x89LZO\x00"),
)
STDLIB_FORMATS = ("gzip", "xz", "lzma", "bzip2")
PROGRAMS = {"zstd": ("zstd", "-dc"), "lz4": ("lz4", "-dc"), "lzo": ("lzop", "-dc")}
_EXTRA_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_CHUNK_IN = 256 * 1024
_CHUNK_OUT = 1024 * 1024
# Bounds of one image probe. A decompressed x86-64 vmlinux is 30-120 MiB and its read-only
# segments (where the scan stops) end well before; Debian's xz images use a 32 MiB dictionary.
MAX_DECOMPRESSED = 256 * 1024 * 1024
MAX_SECONDS = 120.0
LZMA_MEMLIMIT = 256 * 1024 * 1024
PROGRAM_RLIMIT_AS = 2 * 1024 * 1024 * 1024
# System.map (~5 MiB real) and config (~300 KiB) are read line by line at most this far.
MAX_TEXT = 256 * 1024 * 1024
_MAX_LINE = 64 * 1024


class ProbeError(Exception):
    pass


# --------------------------------------------------------------------------- files
def kernel_file_candidates(release, kind):
    """Host paths where ``System.map``/``config`` of ``release`` may live, in order."""
    return [
        "/boot/%s-%s" % (kind, release),
        "/usr/lib/modules/%s/%s" % (release, kind),
        "/lib/modules/%s/%s" % (release, kind),
    ]


def _first_existing(root, candidates):
    for hp in candidates:
        if _rootpath.exists(root, hp):
            return hp
    return None


def bounded_lines(f, limit=MAX_TEXT, max_line=_MAX_LINE):
    """Lines of a binary file, at most ``limit`` bytes in all and ``max_line`` per line (a longer
    line comes in pieces); ProbeError past ``limit``."""
    total = 0
    while True:
        line = f.readline(max_line)
        if not line:
            return
        total += len(line)
        if total > limit:
            raise ProbeError("larger than %s; not read further" % _mib(limit))
        yield line


def scan_system_map(fileobj):
    """Return dict(stub=bool, symbols=int, knows=bool, g3_symbols=[...]) from a System.map."""
    knows = False
    g3 = []
    count = 0
    stub = False
    for raw in fileobj:
        count += 1
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if "real System.map is in" in line:
            stub = True
        parts = line.split()
        if len(parts) < 3:
            continue
        name = parts[2]
        if name == SYM_KNOWS:
            knows = True
        elif name in SYMS_G3 and name not in g3:
            g3.append(name)
    # A real map lists tens of thousands of symbols; a handful of lines is a placeholder.
    if count < 100:
        stub = True
    return {"stub": stub, "symbols": count, "knows": knows, "g3_symbols": g3}


def scan_config(fileobj):
    """Return True (=y/=m), False (is not set / other value) or None (symbol absent)."""
    prefix = CONFIG_SYMBOL + "="
    notset = "# %s is not set" % CONFIG_SYMBOL
    for raw in fileobj:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.strip()
        if line.startswith(prefix):
            return line[len(prefix) :] in ("y", "m")
        if line == notset:
            return False
    return None


# --------------------------------------------------------------------------- bzImage
def parse_bzimage_header(head):
    """Parse the x86 boot protocol header from the first bytes of an image.

    Returns None when ``head`` is not a bzImage, else a dict with ``protocol`` (int),
    ``setup_sects``, ``version_string`` (str or None), ``payload_offset`` (absolute file
    offset or None), ``payload_length`` (or None), ``version_ptr`` (absolute offset or None).
    """
    if len(head) < 0x250 or head[0x202:0x206] != b"HdrS":
        return None
    protocol = struct.unpack_from("<H", head, 0x206)[0]
    setup_sects = bytearray(head[0x1F1:0x1F2])[0] or 4
    pm_start = (setup_sects + 1) * 512
    info = {
        "protocol": protocol,
        "setup_sects": setup_sects,
        "version_string": None,
        "version_ptr": None,
        "payload_offset": None,
        "payload_length": None,
    }
    if protocol >= 0x200:
        ptr = struct.unpack_from("<H", head, 0x20E)[0]
        if ptr:
            info["version_ptr"] = ptr + 0x200
    if protocol >= 0x208:
        off, length = struct.unpack_from("<II", head, 0x248)
        if length:
            info["payload_offset"] = pm_start + off
            info["payload_length"] = length
    return info


def read_version_string(f, ptr):
    f.seek(ptr)
    data = f.read(512)
    text = data.split(b"\x00", 1)[0]
    try:
        text = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text or not all(32 <= ord(c) < 127 for c in text):
        return None
    return text


def format_at(head):
    for name, magic in MAGICS:
        if head.startswith(magic):
            return name
    return None


def scan_magics(f, start=0, limit=16 * 1024 * 1024):
    """Candidate (offset, format) pairs in file order, looking at most ``limit`` bytes."""
    found = []
    f.seek(start)
    data = f.read(limit)
    for name, magic in MAGICS:
        pos = data.find(magic)
        while pos != -1 and len([1 for _o, n in found if n == name]) < 8:
            found.append((start + pos, name))
            pos = data.find(magic, pos + 1)
    found.sort()
    return found


# --------------------------------------------------------------------------- decompression
def find_program(name):
    path = shutil.which(name)
    if path:
        return path
    return shutil.which(name, path=os.pathsep.join(_EXTRA_PATH))


def _stdlib_decompressor(fmt):
    if fmt == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if fmt == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if fmt == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    if fmt == "bzip2":
        return bz2.BZ2Decompressor()
    raise ValueError(fmt)


def _zstd_module():
    try:
        from compression import zstd  # Python >= 3.14

        return zstd
    except ImportError:
        return None


class _Stream(object):
    """Iterate decompressed chunks; ``close()`` stops early; ``complete`` after the end;
    ``bounded`` when a size or time limit stopped it."""

    def __init__(self):
        self.complete = False
        self.error = None
        self.bounded = False

    def close(self):
        pass


class StdlibStream(_Stream):
    """Decompress with the standard library, ``_CHUNK_OUT`` bytes at most per step (a bomb never
    materializes in memory), ``max_bytes`` in all, until ``deadline`` (time.monotonic())."""

    def __init__(self, f, fmt, start, length, max_bytes=None, deadline=None):
        _Stream.__init__(self)
        self.f = f
        self.fmt = fmt
        self.start = start
        self.length = length
        self.max_bytes = MAX_DECOMPRESSED if max_bytes is None else max_bytes
        self.deadline = deadline
        self.method = "python " + ("zlib" if fmt == "gzip" else "lzma" if fmt in ("xz", "lzma") else "bz2")
        if fmt == "zstd":
            self.method = "python compression.zstd"

    def _decompressor(self):
        if self.fmt == "zstd":
            return _zstd_module().ZstdDecompressor()
        if self.fmt == "xz":
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=LZMA_MEMLIMIT)
        if self.fmt == "lzma":
            return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE, memlimit=LZMA_MEMLIMIT)
        return _stdlib_decompressor(self.fmt)

    def _read(self, left):
        n = _CHUNK_IN if left is None else min(_CHUNK_IN, left)
        return self.f.read(n) if n else b""

    def __iter__(self):
        dec = self._decompressor()
        self.f.seek(self.start)
        left = self.length
        produced = 0
        pending = b""  # zlib: input not consumed yet (unconsumed_tail)
        while True:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.error = "%s: stopped after %.0f s (time limit)" % (self.fmt, MAX_SECONDS)
                self.bounded = True
                return
            try:
                if self.fmt == "gzip":
                    if not pending:
                        pending = self._read(left)
                        if left is not None:
                            left -= len(pending)
                        if not pending:
                            break
                    out = dec.decompress(pending, _CHUNK_OUT)
                    pending = dec.unconsumed_tail
                elif dec.needs_input:
                    data = self._read(left)
                    if left is not None:
                        left -= len(data)
                    if not data:
                        break
                    out = dec.decompress(data, _CHUNK_OUT)
                else:
                    out = dec.decompress(b"", _CHUNK_OUT)
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, MemoryError) as exc:
                self.error = "%s data error: %s" % (self.fmt, exc)
                return
            except Exception as exc:  # compression.zstd.ZstdError and friends
                self.error = "%s data error: %s" % (self.fmt, exc)
                return
            if out:
                produced += len(out)
                if produced > self.max_bytes:
                    self.error = "%s: more than %s decompressed (size limit)" % (self.fmt, _mib(self.max_bytes))
                    self.bounded = True
                    return
                yield out
            if getattr(dec, "eof", False):
                self.complete = True
                return
        if self.fmt == "gzip":
            tail = dec.flush()  # what zlib still holds: at most one window (32 KiB)
            if tail:
                yield tail
        self.error = "%s stream ended early (truncated image?)" % self.fmt


def _limit_child():
    """preexec_fn of an external decompressor: an address-space bound, no core dumps."""
    if resource is None:
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (PROGRAM_RLIMIT_AS, PROGRAM_RLIMIT_AS))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class ProgramStream(_Stream):
    """Decompress through an external program (stdin fed by a thread, stdout streamed), with
    the same size and time bounds as StdlibStream and an address-space limit on the program."""

    def __init__(self, f, fmt, start, length, program, max_bytes=None, deadline=None):
        _Stream.__init__(self)
        self.f = f
        self.fmt = fmt
        self.start = start
        self.length = length
        self.max_bytes = MAX_DECOMPRESSED if max_bytes is None else max_bytes
        self.deadline = deadline
        self.argv = [program, *list(PROGRAMS[fmt][1:])]
        self.method = " ".join([os.path.basename(program), *self.argv[1:]])
        self.proc = None
        self.feeder = None
        self.errfile = None

    def _feed(self, fd):
        try:
            offset = self.start
            left = self.length
            while left is None or left > 0:
                n = _CHUNK_IN if left is None else min(_CHUNK_IN, left)
                data = os.pread(fd, n, offset)
                if not data:
                    break
                offset += len(data)
                if left is not None:
                    left -= len(data)
                self.proc.stdin.write(data)
        except (OSError, ValueError):
            pass  # the reader stopped early and closed the pipe
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def __iter__(self):
        self.errfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _cleanup
        # Not run_command: the output (60+ MiB) is streamed and the program killed once the
        # answers are known, instead of being buffered whole in memory.
        self.proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errfile, preexec_fn=_limit_child
        )
        self.feeder = threading.Thread(target=self._feed, args=(self.f.fileno(),))
        self.feeder.daemon = True
        self.feeder.start()
        finished = False
        produced = 0
        try:
            while True:
                if self.deadline is not None:
                    wait = self.deadline - time.monotonic()
                    ready = select.select([self.proc.stdout], [], [], max(0.0, wait))[0] if wait > 0 else []
                    if not ready:
                        self.error = "%s: stopped after %.0f s (time limit)" % (self.method, MAX_SECONDS)
                        self.bounded = True
                        break
                out = os.read(self.proc.stdout.fileno(), _CHUNK_OUT)
                if not out:
                    finished = True
                    break
                produced += len(out)
                if produced > self.max_bytes:
                    self.error = "%s: more than %s decompressed (size limit)" % (self.method, _mib(self.max_bytes))
                    self.bounded = True
                    break
                yield out
        finally:
            if finished:
                rc = self.proc.wait()
                self.feeder.join(5)
                self.errfile.seek(0)
                err = self.errfile.read(4096).decode("utf-8", "replace").strip()
                if rc == 0:
                    self.complete = True
                else:
                    self.error = "%s exited %d: %s" % (self.method, rc, err.splitlines()[-1] if err else "")
                self._cleanup()
            else:
                self.close()

    def _cleanup(self):
        for stream in (self.proc.stdout, self.errfile):
            with contextlib.suppress(OSError, ValueError):
                stream.close()

    def close(self):
        if self.proc is None or self.proc.returncode is not None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.feeder.join(5)
        self._cleanup()


def open_stream(f, fmt, start, length, max_bytes=None, seconds=None):
    """A decompression stream for the payload, or raise ProbeError when there is none.

    Bounded to ``max_bytes`` (MAX_DECOMPRESSED) of output and ``seconds`` (MAX_SECONDS)."""
    deadline = time.monotonic() + (MAX_SECONDS if seconds is None else seconds)
    if fmt in STDLIB_FORMATS:
        return StdlibStream(f, fmt, start, length, max_bytes, deadline)
    if fmt == "zstd" and _zstd_module() is not None:
        return StdlibStream(f, fmt, start, length, max_bytes, deadline)
    if fmt in PROGRAMS:
        prog = find_program(PROGRAMS[fmt][0])
        if prog:
            return ProgramStream(f, fmt, start, length, prog, max_bytes, deadline)
        raise ProbeError("image: %s compressed and no %s program" % (fmt, PROGRAMS[fmt][0]))
    raise ProbeError("image: unsupported compression %s" % fmt)


# --------------------------------------------------------------------------- scanning
class Scanner(object):
    """Search needles across chunk boundaries; learn the ELF read-only extent on the way."""

    def __init__(self, needles):
        self.needles = dict(needles)
        self.found = {}
        self.overlap = max(len(n) for n in self.needles.values()) + 512
        self.tail = b""
        self.offset = 0  # bytes consumed so far
        self.head = b""
        self.elf_checked = False
        self.ro_end = None  # end of the last read-only PT_LOAD, when the output is an x86-64 ELF
        self.banner = None

    def _check_elf(self):
        h = self.head
        if h[:4] != b"\x7fELF" or len(h) < 64:
            self.elf_checked = len(h) >= 64 or h[:4] != b"\x7fELF"[: len(h[:4])]
            return
        if bytearray(h[4:6]) != bytearray([2, 1]):  # ELFCLASS64, little-endian
            self.elf_checked = True
            return
        machine = struct.unpack_from("<H", h, 18)[0]
        phoff = struct.unpack_from("<Q", h, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", h, 0x36)
        need = phoff + phentsize * phnum
        if len(h) < need:
            if need > 1 << 20:
                self.elf_checked = True
            return
        self.elf_checked = True
        if machine != 62 or phentsize < 56:
            return
        ro_end = 0
        for i in range(phnum):
            p_type, p_flags, p_off, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", h, phoff + i * phentsize)
            if p_type == 1 and not p_flags & 2:  # PT_LOAD without PF_W
                ro_end = max(ro_end, p_off + p_filesz)
        if ro_end:
            self.ro_end = ro_end

    def feed(self, chunk):
        if not self.elf_checked:
            self.head += chunk[: (1 << 20) - len(self.head)]
            self._check_elf()
        buf = self.tail + chunk
        base = self.offset - len(self.tail)
        end = len(buf)
        if self.ro_end is not None:
            end = max(0, min(end, self.ro_end - base))
        for name, needle in self.needles.items():
            if name in self.found:
                continue
            pos = buf.find(needle, 0, end)
            if pos != -1:
                self.found[name] = base + pos
        if self.banner is None:
            pos = buf.find(STR_BANNER)
            while pos != -1:
                end = buf.find(b"\n", pos)
                if end == -1:
                    break
                line = buf[pos:end].split(b"\x00", 1)[0]
                if len(line) > len(STR_BANNER) + 4 and b"%s" not in line:
                    self.banner = line.decode("ascii", "replace")
                    break
                pos = buf.find(STR_BANNER, pos + 1)
        self.offset += len(chunk)
        self.tail = buf[-self.overlap :]

    def past_read_only(self):
        return self.ro_end is not None and self.offset >= self.ro_end


def scan_image_payload(stream, want_knows=True, want_g3=True, want_banner=True):
    """Feed a decompression stream through a Scanner. Returns (scanner, why it stopped)."""
    needles = {"g3": STR_G3}
    for i, s in enumerate(STRS_KNOWS):
        needles["knows%d" % i] = s
    sc = Scanner(needles)
    reason = "end of data"
    try:
        for chunk in stream:
            sc.feed(chunk)
            have_knows = any(k.startswith("knows") for k in sc.found)
            if (
                (not want_knows or have_knows)
                and (not want_g3 or "g3" in sc.found)
                and (not want_banner or sc.banner is not None)
            ):
                reason = "all answers found"
                break
            if sc.past_read_only():
                reason = "read-only segments of the ELF vmlinux scanned"
                break
    finally:
        stream.close()
    return sc, reason


# --------------------------------------------------------------------------- the probe
def _mib(n):
    return "%.1f MiB" % (n / 1048576.0)


# Answers for image files already probed by this process, keyed by the file's identity (device,
# inode, size, mtime) and the question asked: a process assessing many snapshot roots that hard
# link the same kernel (the oracle, offline fleet runs) decompresses each image once.
_MEMO = {}
_MEMO_MAX = 64


def probe_image(root, image, want_knows, want_g3, decompress, result):
    """Fill version/knows/g3 answers from the image. Returns dict of answers (None = unknown)."""
    try:
        st = os.stat(_rootpath.under(root, image))
        key = (image, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, want_knows, want_g3, decompress)
    except OSError:
        key = None
    if key is not None and key in _MEMO:
        ans, ev, errs = _MEMO[key]
        result["evidence"].extend(ev)
        result["evidence"].append("image: answers reused from the same file probed earlier by this process")
        result["probe_errors"].extend(errs)
        return dict(ans)
    mark_ev, mark_err = len(result["evidence"]), len(result["probe_errors"])
    ans = _probe_image(root, image, want_knows, want_g3, decompress, result)
    if key is not None:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[key] = (dict(ans), result["evidence"][mark_ev:], result["probe_errors"][mark_err:])
    return ans


class _Payload(object):
    """Where the compressed kernel is in an image: format, offset, length (None: to the end) and the
    uncompressed size the image promises (None: unknown)."""

    __slots__ = ("expected", "fmt", "length", "start")

    def __init__(self, fmt=None, start=None, length=None, expected=None):
        self.fmt = fmt
        self.start = start
        self.length = length
        self.expected = expected


def _read_header(f, image, ans, ev, errs):
    """The bzImage header: the version string (into ``ans``) and where the payload is (_Payload);
    (info or None, _Payload)."""
    head = f.read(0x4000)
    info = parse_bzimage_header(head)
    payload = _Payload()
    if info is None:
        return None, payload
    if info["version_ptr"]:
        vs = read_version_string(f, info["version_ptr"])
        if vs:
            v, distro, _k = parse_build_string(vs)
            if v:
                ans["version"], ans["version_source"] = v, "image_header"
                ans["distro_version"] = distro
                ev.append("image header: %s" % vs)
    if info["payload_offset"] is not None:
        f.seek(info["payload_offset"])
        fmt = format_at(f.read(8))
        if fmt is not None:
            start, length = info["payload_offset"], info["payload_length"]
            # Every x86 payload ends with the uncompressed size (le32): gzip's own
            # ISIZE, or the size appended by the kernel's *_with_size rules.
            f.seek(start + length - 4)
            trailer = f.read(4) if length >= 4 else b""
            expected = struct.unpack("<I", trailer)[0] if len(trailer) == 4 else None
            if len(trailer) != 4:
                errs.append("image: %s: shorter than its header says (truncated file?)" % image)
            if fmt != "gzip":
                length -= 4
            payload = _Payload(fmt, start, length, expected)
    return info, payload


def _locate_payload(f, image, info, payload, ev, errs):
    """The payload to decompress: the header's, else the first compression magic found; None when
    there is none (said in ``errs``)."""
    if payload.fmt is not None:
        proto = info["protocol"] if info is not None else 0
        ev.append(
            "image: %s payload at offset %s (bzImage header, protocol %d.%02d)"
            % (payload.fmt, payload.start, proto >> 8, proto & 0xFF)
        )
        return payload
    cands = scan_magics(f)
    if not cands:
        errs.append("image: %s: no known compressed payload found" % image)
        return None
    start, fmt = cands[0]
    ev.append("image: %s payload found by magic at offset %d" % (fmt, start))
    return _Payload(fmt, start, None, payload.expected)


def _scan_payload(f, payload, want_knows, want_g3, ans, ev, errs):
    """Decompress and scan the payload; answers what it shows (absence only from a complete stream)."""
    try:
        stream = open_stream(f, payload.fmt, payload.start, payload.length)
    except ProbeError as exc:
        errs.append(str(exc))
        return
    expected = payload.expected
    sc, reason = scan_image_payload(stream, want_knows, want_g3, ans["version"] is None)
    method = getattr(stream, "method", payload.fmt)
    # A program complaining about data after the end of the stream is no error when
    # everything up to the size the image promised came out.
    if stream.error and reason == "end of data" and not (expected is not None and sc.offset == expected):
        errs.append("image: %s (%s after %s)" % (stream.error, method, _mib(sc.offset)))
        # Positive findings stand; absence cannot be concluded from a broken stream.
        if any(k.startswith("knows") for k in sc.found):
            ans["knows"] = True
        if "g3" in sc.found:
            ans["g3"] = True
        return
    complete = reason != "end of data" or stream.complete or (expected is not None and sc.offset == expected)
    if reason == "end of data" and expected is not None and sc.offset != expected and not stream.error:
        errs.append("image: decompressed %d bytes, header promised %d" % (sc.offset, expected))
        complete = False
    ev.append("image: decompressed %s with %s; stopped: %s" % (_mib(sc.offset), method, reason))
    knows_hits = [STRS_KNOWS[int(k[5:])].decode() for k in sorted(sc.found) if k.startswith("knows")]
    if knows_hits:
        ans["knows"] = True
        ev.append("image: contains %s" % ", ".join("'%s'" % s for s in knows_hits))
    elif complete:
        ans["knows"] = False
        ev.append("image: no 'vmscape' string")
    if "g3" in sc.found:
        ans["g3"] = True
        ev.append("image: contains '%s'" % STR_G3.decode())
    elif complete:
        ans["g3"] = False
        ev.append("image: no '%s'" % STR_G3.decode())
    if ans["version"] is None and sc.banner:
        v, distro, _k = parse_build_string(sc.banner)
        if v:
            ans["version"], ans["version_source"] = v, "image_banner"
            ans["distro_version"] = distro
            ev.append("image banner: %s" % sc.banner)


def _probe_image(root, image, want_knows, want_g3, decompress, result):
    """Answers from the image: its header, then (with ``decompress``) its payload."""
    ans = {"knows": None, "g3": None, "version": None, "version_source": None}
    ev = result["evidence"]
    errs = result["probe_errors"]
    try:
        f = _rootpath.open_file(root, image)  # regular files only, links followed inside root
    except OSError as exc:
        errs.append("image: " + _rootpath.describe_oserror(image, exc))
        return ans
    with f:
        info, payload = _read_header(f, image, ans, ev, errs)
        if not decompress:
            return ans
        payload = _locate_payload(f, image, info, payload, ev, errs)
        if payload is not None:
            _scan_payload(f, payload, want_knows, want_g3, ans, ev, errs)
    return ans


def _probe_system_map(root, release, ev, errs):
    """(knows, g3) from the release's System.map: None, None when it is absent or a placeholder."""
    smap = _first_existing(root, kernel_file_candidates(release, "System.map"))
    if smap is None:
        errs.append("System.map: none for %s" % release)
        return None, None
    try:
        with _rootpath.open_file(root, smap) as f:
            sm = scan_system_map(bounded_lines(f))
    except OSError as exc:
        errs.append("System.map: " + _rootpath.describe_oserror(smap, exc))
        return None, None
    except ProbeError as exc:
        errs.append("System.map: %s: %s" % (smap, exc))
        return None, None
    if sm["stub"]:
        ev.append("%s: placeholder (%d lines), no symbols" % (smap, sm["symbols"]))
        return None, None
    knows = sm["knows"]
    g3 = bool(sm["g3_symbols"])
    ev.append("%s: %s %s" % (smap, SYM_KNOWS, "present" if knows else "absent"))
    ev.append("%s: %s" % (smap, ", ".join(sm["g3_symbols"]) + " present" if g3 else " and ".join(SYMS_G3) + " absent"))
    return knows, g3


def _probe_config(root, release, ev, errs):
    """(readable, value) of CONFIG_MITIGATION_VMSCAPE in the release's config: value True (=y), False
    (=n or not set: the option exists) or None (no such symbol); readable False when there is no
    readable config."""
    cfg = _first_existing(root, kernel_file_candidates(release, "config"))
    if cfg is None:
        errs.append("config: none for %s" % release)
        return False, None
    try:
        with _rootpath.open_file(root, cfg) as f:
            val = scan_config(bounded_lines(f))
    except OSError as exc:
        errs.append("config: " + _rootpath.describe_oserror(cfg, exc))
        return False, None
    except ProbeError as exc:
        errs.append("config: %s: %s" % (cfg, exc))
        return False, None
    if val is None:
        ev.append("%s: no %s" % (cfg, CONFIG_SYMBOL))
    else:
        ev.append("%s: %s=%s" % (cfg, CONFIG_SYMBOL, "y" if val else "n/not set"))
    return True, val


def probe_kernel(root, release, image, mode="auto", want_g3=True):
    """Probe one kernel. ``image`` is a host path or None. Returns the boot_kernel fields
    ``version``, ``version_source``, ``knows_vmscape``, ``bhb_series``,
    ``config_mitigation_vmscape``, ``evidence``, ``probe_errors``.

    ``want_g3=False`` (the CPU cannot use BHB clear) lets ``auto`` skip decompressing the
    image just to learn ``bhb_series``, which then stays null: on Debian, whose System.map is
    a placeholder, that decompression is the costliest part of gathering facts."""
    if mode not in PROBE_MODES:
        raise ValueError("probe_image must be one of %s" % ", ".join(PROBE_MODES))
    result = {
        "version": None,
        "version_source": None,
        "distro_version": None,
        "knows_vmscape": None,
        "bhb_series": None,
        "config_mitigation_vmscape": None,
        "evidence": [],
        "probe_errors": [],
    }
    ev = result["evidence"]
    errs = result["probe_errors"]
    knows = g3 = None
    if release:
        knows, g3 = _probe_system_map(root, release, ev, errs)
        readable, val = _probe_config(root, release, ev, errs)
        if readable:
            result["config_mitigation_vmscape"] = bool(val)
            if val is not None and knows is None:
                knows = True  # the option exists, set or not: the kernel has the VMSCAPE code
    if image:
        need = knows is None or (g3 is None and want_g3)
        if g3 is None and not want_g3 and mode == "auto":
            ev.append("image: BHB series not probed (the CPU does not enumerate BHI_CTRL: BHB clear cannot apply)")
        decompress = mode == "always" or (mode == "auto" and need)
        if mode == "never" and need:
            ev.append("image: not decompressed (probe_image=never)")
        ans = probe_image(
            root,
            image,
            knows is None or mode == "always",
            (g3 is None and want_g3) or mode == "always",
            decompress,
            result,
        )
        for key, mine in (("knows", knows), ("g3", g3)):
            theirs = ans[key]
            if theirs is not None and mine is not None and theirs != mine:
                errs.append("image and System.map/config disagree on %s: image says %s" % (key, theirs))
        if ans["knows"] is not None:
            knows = ans["knows"] if knows is None or mode == "always" else knows
        if ans["g3"] is not None:
            g3 = ans["g3"] if g3 is None or mode == "always" else g3
        result["version"], result["version_source"] = ans["version"], ans["version_source"]
        result["distro_version"] = ans.get("distro_version")
    elif release:
        errs.append("image: no kernel image found for %s" % release)
    if result["version"] is None and release:
        v = version_from_release(release)
        if v:
            result["version"], result["version_source"] = v, "release"
    result["knows_vmscape"] = knows
    result["bhb_series"] = g3
    return result
