"""The shell-subset parser (_grub_shell) against the real /bin/sh, and its refusals.

Every snippet in FOLLOWED is sourced by the real /bin/sh (dash on Debian, the shell
grub-mkconfig runs under) in a scratch directory with an empty environment; the parser must
give the same two values byte for byte (or say "unset" where the shell has them unset).
REFUSED snippets must raise ShellError naming the file and the exact line.
"""

import subprocess

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_shell as _grub_shell
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow

UNSET = "<unset>"


def sh_values(files, tmp_path):
    paths = []
    for i, text in enumerate(files):
        p = tmp_path / f"f{i}.cfg"
        p.write_text(text)
        paths.append(str(p))
    out = tmp_path / "out"
    script = '__oracle_out="$1"\n' + "".join(f'. "{p}" >/dev/null\n' for p in paths)
    script += (
        'printf "%s\\0%s" "${GRUB_CMDLINE_LINUX-<unset>}" "${GRUB_CMDLINE_LINUX_DEFAULT-<unset>}" > "$__oracle_out"\n'
    )
    p = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "/bin/sh", "-c", script, "sh", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(tmp_path),
        check=False,
    )
    assert p.returncode == 0, p.stderr
    return tuple(out.read_bytes().decode().split("\0"))


REFUSING = "; refusing to guess what grub-mkconfig would see"


def refusal(text):
    """The message ``follow`` refuses a one-file snippet (named f0.cfg) with."""
    with pytest.raises(ShellError) as err:
        follow([("f0.cfg", text)])
    return str(err.value)


def parser_values(files):
    st = follow([(f"f{i}.cfg", t) for i, t in enumerate(files)])
    out = []
    for name in _grub_shell.WATCHED:
        v = st.value(name)
        out.append(UNSET if v is None else v.text)
    return tuple(out)


FOLLOWED = {
    "plain": ["GRUB_CMDLINE_LINUX=\"a b\"\nGRUB_CMDLINE_LINUX_DEFAULT='quiet  splash'\n"],
    "continuation-dq": ['GRUB_CMDLINE_LINUX="a \\\n b"\n'],
    "continuation-sq-kept": ["GRUB_CMDLINE_LINUX='a \\\n b'\n"],
    "continuation-unquoted": ["GRUB_CMDLINE_LINUX=a\\\nb\n"],
    "backslashes-unquoted": ['GRUB_CMDLINE_LINUX=a\\ b\\"c\n'],
    "backslashes-dq": ['GRUB_CMDLINE_LINUX="a\\$b \\\\ \\x \\` \\""\n'],
    "mixed-quotes": ['GRUB_CMDLINE_LINUX="it\'s"\'"q"\'x\n'],
    "self-reference-across-files": [
        'GRUB_CMDLINE_LINUX="x"\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX y"\n',
        'GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} z"\n',
    ],
    "defaults-ops-known-vars": ['X="p q"\nE=\nGRUB_CMDLINE_LINUX="$X ${X:-n} ${E:-def} ${X:+alt} ${E+set} ${E:+no}"\n'],
    "left-to-right": ['A=1 B=$A\nGRUB_CMDLINE_LINUX="$B"\n'],
    "export-no-split": ['Y="a  b"\nexport GRUB_CMDLINE_LINUX=$Y\n'],
    "unrelated-cmdsub": [
        "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT=quiet\n"
    ],
    "heredoc-skipped": [
        'cat > /dev/null <<EOF\nGRUB_CMDLINE_LINUX="heredoc"\n$(echo x)\nEOF\nGRUB_CMDLINE_LINUX=real\n'
    ],
    "heredoc-dash-quoted": [
        "cat > /dev/null <<-'EOF'\n\tGRUB_CMDLINE_LINUX=\"h $(x)\"\n\tEOF\nGRUB_CMDLINE_LINUX=real\n"
    ],
    "two-heredocs-one-line": [
        "cat <<A >/dev/null; cat <<B >/dev/null\n"
        "GRUB_CMDLINE_LINUX=a\nA\nGRUB_CMDLINE_LINUX=b\nB\nGRUB_CMDLINE_LINUX=c\n"
    ],
    "if-unrelated": [
        "if [ -f /nonexistent ]; then\n  FOO=1\nelif true; then BAR=2; else :; fi\nGRUB_CMDLINE_LINUX=ok\n"
    ],
    "case-unrelated": ["case x in\n a) echo a ;;\n *) Y=2 ;;\nesac\nGRUB_CMDLINE_LINUX=c\n"],
    "loops-unrelated": ["for i in 1 2; do echo $i; done\nwhile false; do :; done\nGRUB_CMDLINE_LINUX=w\n"],
    "function-unrelated": ["f() { X=1; }\nf\ng() (Y=2)\nGRUB_CMDLINE_LINUX=f\n"],
    "subshell-no-effect": ["( GRUB_CMDLINE_LINUX=sub )\nGRUB_CMDLINE_LINUX_DEFAULT=d\n"],
    "pipeline-no-effect": ["echo x | GRUB_CMDLINE_LINUX=p cat >/dev/null\nGRUB_CMDLINE_LINUX_DEFAULT=d\n"],
    "comments": ['#GRUB_CMDLINE_LINUX="commented"\nGRUB_CMDLINE_LINUX="real" # trailing\nX=a#b\n'],
    "top-level-return": [
        'GRUB_CMDLINE_LINUX="a"\nreturn\nGRUB_CMDLINE_LINUX="b"\n',
        "GRUB_CMDLINE_LINUX_DEFAULT=next\n",
    ],
    "unset": ["GRUB_CMDLINE_LINUX=a; GRUB_CMDLINE_LINUX_DEFAULT=b\nunset GRUB_CMDLINE_LINUX\n"],
    "semicolons-and-braces": ['{ GRUB_CMDLINE_LINUX="in group"; }; GRUB_CMDLINE_LINUX_DEFAULT=x; :\n'],
    "empty-values": ["GRUB_CMDLINE_LINUX=\nGRUB_CMDLINE_LINUX_DEFAULT=''\n"],
    "dollar-literal": ['GRUB_CMDLINE_LINUX="cost=$ 5$"\n'],
    "cmdsub-nested-parens-unrelated": ['X="$(echo "$(echo ")")")"\nGRUB_CMDLINE_LINUX=after\n'],
    "arith-unrelated": ["N=$((1+2))\nGRUB_CMDLINE_LINUX=n\n"],
    "redirections": ["echo hi 2>/dev/null >/dev/null </dev/null\nGRUB_CMDLINE_LINUX=r\n"],
    "and-or-unrelated": ["[ -e /nonexistent ] && X=1 || Y=2\nGRUB_CMDLINE_LINUX=ao\n"],
}


@pytest.mark.parametrize("name", sorted(FOLLOWED))
def test_parser_equals_bin_sh(name, tmp_path):
    files = FOLLOWED[name]
    assert parser_values(files) == sh_values(files, tmp_path)


REFUSED = {
    "cmdsub": (["GRUB_CMDLINE_LINUX=$(echo hi)\n"], "f0.cfg", 1, "command substitution"),
    "backquotes": (['\nGRUB_CMDLINE_LINUX_DEFAULT="`cat /x`"\n'], "f0.cfg", 2, "command substitution"),
    "if": (["# c\nif [ -f /x ]; then\n  GRUB_CMDLINE_LINUX=1\nfi\n"], "f0.cfg", 3, "inside an if-block"),
    "case": (["case $x in\n*) GRUB_CMDLINE_LINUX_DEFAULT=1 ;;\nesac\n"], "f0.cfg", 2, "inside a case statement"),
    "loop": (["for i in a; do\nGRUB_CMDLINE_LINUX=$i\ndone\n"], "f0.cfg", 2, "inside a for loop"),
    "function": (["f() {\n  GRUB_CMDLINE_LINUX=x\n}\n"], "f0.cfg", 2, "inside function f()"),
    "and": (["true && GRUB_CMDLINE_LINUX=x\n"], "f0.cfg", 1, "after && or ||"),
    "source": (["X=1\n. /etc/os-release\n"], "f0.cfg", 2, "'.' runs another file"),
    "source-word": (["source /x\n"], "f0.cfg", 1, "'source' runs another file"),
    "eval": (['\n\neval "X=1"\n'], "f0.cfg", 3, "eval runs code"),
    "export-cmdsub": (["export GRUB_CMDLINE_LINUX=$(cat /x)\n"], "f0.cfg", 1, "command substitution"),
    "unknown-var-flows-in": (['X=$(date)\nGRUB_CMDLINE_LINUX="$X"\n'], "f0.cfg", 2, "$X (command substitution"),
    "conditional-var-flows-in": (
        ["if true; then X=1; fi\n", 'GRUB_CMDLINE_LINUX="a $X"\n'],
        "f1.cfg",
        1,
        "$X (assigned inside an if-block",
    ),
    "env-var": (['GRUB_CMDLINE_LINUX="$HOME"\n'], "f0.cfg", 1, "$HOME, which these files do not set"),
    "after-conditional-return": (["[ -f /x ] && return\nGRUB_CMDLINE_LINUX=b\n"], "f0.cfg", 2, "conditional 'return'"),
    "bash-append": (['GRUB_CMDLINE_LINUX+=" x"\n'], "f0.cfg", 1, "bash-only"),
    "bash-array": (["GRUB_CMDLINE_LINUX=(a b)\n"], "f0.cfg", 1, "bash array"),
    "read": (["read GRUB_CMDLINE_LINUX < /x\n"], "f0.cfg", 1, "read changes GRUB_CMDLINE_LINUX"),
    "readonly": (['readonly GRUB_CMDLINE_LINUX="x"\n'], "f0.cfg", 1, "readonly"),
    "prefix": (["GRUB_CMDLINE_LINUX=x env\n"], "f0.cfg", 1, "prefix of a command"),
    "assign-default-op": (["Y=${GRUB_CMDLINE_LINUX:=x}\n"], "f0.cfg", 1, "assigns GRUB_CMDLINE_LINUX"),
    "computed-command": (['CMD=eval\n$CMD "GRUB_CMDLINE_LINUX=x"\n'], "f0.cfg", 2, "computed at run time"),
    "exit": (["exit 0\n"], "f0.cfg", 1, "exit would stop grub-mkconfig"),
    "tilde": (["GRUB_CMDLINE_LINUX=~/x\n"], "f0.cfg", 1, "tilde"),
    "unterminated-quote": (['A=1\nGRUB_CMDLINE_LINUX="abc\n'], "f0.cfg", 2, "unterminated double quote"),
    "missing-fi": (["if true; then\n  A=1\n"], "f0.cfg", 3, "expected"),
    "second-file-line": (["A=1\n", "\n\nif x; then GRUB_CMDLINE_LINUX=1; fi\n"], "f1.cfg", 3, "inside an if-block"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refusals_name_file_and_line(name):
    files, path, line, text = REFUSED[name]
    with pytest.raises(ShellError) as e:
        follow([(f"f{i}.cfg", t) for i, t in enumerate(files)])
    assert e.value.path == path
    assert e.value.line == line
    assert text in str(e.value)
    assert str(e.value).startswith(f"{path}:{line}: ")


def test_never_executes_anything(tmp_path):
    marker = tmp_path / "ran"
    text = f"touch {marker}\nX=$(touch {marker})\ncat > {marker} <<EOF\nx\nEOF\nGRUB_CMDLINE_LINUX=ok\n"
    st = follow([("f.cfg", text)])
    assert st.value("GRUB_CMDLINE_LINUX").text == "ok"
    assert not marker.exists()


def test_origins_point_at_the_source_bytes():
    text = 'X=1\nGRUB_CMDLINE_LINUX="a \\\n  bb"\n'
    st = follow([("f.cfg", text)])
    v = st.value("GRUB_CMDLINE_LINUX")
    assert v.text == "a   bb"
    assert [text[o[1]] for o in v.origins] == list("a   bb")
    assert v.origins[4] == (0, text.index("bb"))


def test_last_assignment_is_recorded_with_value_span():
    files = [("a.cfg", 'GRUB_CMDLINE_LINUX="x"\n'), ("b.cfg", "A=2\nexport GRUB_CMDLINE_LINUX='y z'\n")]
    st = follow(files)
    last = st.last_assignment("GRUB_CMDLINE_LINUX")
    assert last.src.path == "b.cfg" and last.line == 2
    assert files[1][1][last.value_start : last.value_end] == "'y z'"


def test_unrelated_unknowns_do_not_refuse():
    st = follow([("f.cfg", 'A=$(x)\nif y; then B=1; fi\nf() { C=2; }\nGRUB_CMDLINE_LINUX="ok"\n')])
    assert st.value("GRUB_CMDLINE_LINUX").text == "ok"
    assert st.vars["A"].unknown and st.vars["B"].unknown and st.vars["C"].unknown
