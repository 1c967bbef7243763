"""The files of the built collection (galaxy.yml's manifest), as docs/collection-contents.md lists them.

    python -m tools.collection_contents            # print the list
    python -m tools.collection_contents --write    # rewrite the list in docs/collection-contents.md

Builds the collection with the real ``ansible-galaxy collection build`` into a temporary directory
and lists the regular files of the tarball (MANIFEST.json and FILES.json, which the build writes
itself, included). tests/unit/test_collection_contents.py compares that list with the document.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "collection-contents.md"
BEGIN = "<!-- files: begin (python -m tools.collection_contents --write) -->"
END = "<!-- files: end -->"
# Development tooling that must never ship: tests, the tools, make fragments, inventories, molecule,
# benchmark results, the Python packaging of the tooling.
NEVER = ("tests/", "tools/", "mk/", "inventories/", "extensions/", "bench/", "collections/", ".ci/", "build/")
NEVER_FILES = ("Makefile", "pyproject.toml", "ansible.cfg", ".ansible-lint", ".gitignore", "remediate.yml")


def build(repo: Path = REPO) -> tuple[list[str], int]:
    """(sorted file names, size of the .tar.gz in bytes) of a fresh build of ``repo``."""
    ansible_galaxy = Path(sys.executable).with_name("ansible-galaxy")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [str(ansible_galaxy), "collection", "build", "--force", "--output-path", out, str(repo)],
            check=True,
            capture_output=True,
            text=True,
        )
        (tarball,) = Path(out).glob("*.tar.gz")
        with tarfile.open(tarball) as tar:
            names = sorted(m.name for m in tar.getmembers() if m.isfile())
        return names, tarball.stat().st_size


def documented(doc: Path = DOC) -> list[str]:
    """The file list between the markers of docs/collection-contents.md."""
    text = doc.read_text()
    block = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("```")]


def write(names: list[str], doc: Path = DOC) -> None:
    text = doc.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(head + BEGIN + "\n```\n" + "\n".join(names) + "\n```\n" + END + tail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the list in docs/collection-contents.md")
    args = ap.parse_args(argv)
    names, size = build()
    if args.write:
        write(names)
        print(f"{DOC.relative_to(REPO)}: {len(names)} files ({size} bytes built)")
    else:
        print("\n".join(names))
        print(f"# {len(names)} files, {size} bytes .tar.gz", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
