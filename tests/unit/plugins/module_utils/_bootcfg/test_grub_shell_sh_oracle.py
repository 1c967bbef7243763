"""More shell shapes judged by the real /bin/sh (test_grub_shell.sh_values), and exact refusals
(found by `make mutation`: ${...} operators, lengths and special parameters, heredoc
delimiters, unset -f/-v, export/declare options, redirections).

Two shapes where the parser and dash differ are left out on purpose and reported to the owner
of _grub_shell (issue 12 closing note): ``export A=1 B="$A"`` (dash expands every argument
before export assigns any) and ``unset -f x -v NAME`` (dash reads options only before the
first name).
"""

import pytest
from test_grub_shell import parser_values, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow

REFUSING = "; refusing to guess what grub-mkconfig would see"

SNIPPETS = {
    "ops-on-a-set-value": 'X=v\nGRUB_CMDLINE_LINUX="${X:-d} ${X-d} ${X:+a} ${X+a} ${X:?e} ${X?e}"\n',
    "ops-on-an-empty-value": 'X=\nGRUB_CMDLINE_LINUX="${X:-d} ${X-d} ${X:+a} ${X+a} ${X?e}"\n',
    "ops-on-an-unset-value": 'unset U\nGRUB_CMDLINE_LINUX="${U:-d} ${U-d} ${U:+a} ${U+a}"\n',
    "assigning-ops": 'unset U\nE=\nGRUB_CMDLINE_LINUX="${U:=d} $U ${E=x}|${E:=y}|$E"\n',
    "default-with-quotes-inside": 'X=\nGRUB_CMDLINE_LINUX="${X:-"a b"}"${X:-\'q r\'}\n',
    "single-quotes-stay-inside-dq": "X=\nGRUB_CMDLINE_LINUX=\"${X:-'q'}\"\n",
    "length-of-another-variable": 'X=abc\nY=${#X}}\nGRUB_CMDLINE_LINUX="$X"\n',
    "length-then-more-words": 'X=abc\nY="${#X} ${X}"\nGRUB_CMDLINE_LINUX_DEFAULT="q${X}"\n',
    "hash-parameter-is-not-a-length": "Y=${#}\nGRUB_CMDLINE_LINUX=ok\n",
    "special-parameters": 'Y="${?}${$}${1}${#}"\nGRUB_CMDLINE_LINUX="ok ${GRUB_CMDLINE_LINUX_DEFAULT-}"\n',
    "pattern-with-braces-inside": 'X=a}b\nY="${X%\\}*}"\nGRUB_CMDLINE_LINUX="$X"\n',
    "heredoc-delimiter-in-double-quotes": (
        'cat >/dev/null <<"EOF"\nGRUB_CMDLINE_LINUX=inside\nEOF\nGRUB_CMDLINE_LINUX=after\n'
    ),
    "heredoc-delimiter-partly-quoted": 'cat >/dev/null <<\'E\'O"F"\nGRUB_CMDLINE_LINUX=x\nEOF\nGRUB_CMDLINE_LINUX="y ${GRUB_CMDLINE_LINUX-}"\n',  # noqa: E501
    "heredoc-delimiter-with-a-dollar": "cat >/dev/null <<$X\nGRUB_CMDLINE_LINUX=inside\n$X\nGRUB_CMDLINE_LINUX=after\n",
    "heredoc-delimiter-dollar-in-quotes": (
        'cat >/dev/null <<"E$X"\nGRUB_CMDLINE_LINUX=inside\nE$X\nGRUB_CMDLINE_LINUX=after\n'
    ),
    "unset-f-leaves-the-variable": "GRUB_CMDLINE_LINUX=a\nunset -f GRUB_CMDLINE_LINUX\n",
    "unset-v": "GRUB_CMDLINE_LINUX=a\nGRUB_CMDLINE_LINUX_DEFAULT=b\nunset -v GRUB_CMDLINE_LINUX\n",
    "unset-of-another-variable": 'X=1\nunset X\nGRUB_CMDLINE_LINUX="${X-none}"\n',
    "unset-several": 'X=1\nGRUB_CMDLINE_LINUX=a\nunset X GRUB_CMDLINE_LINUX\nGRUB_CMDLINE_LINUX_DEFAULT="${X-n}"\n',
    "export-options-and-names": 'export -p >/dev/null\nexport GRUB_CMDLINE_LINUX="x"\nexport GRUB_CMDLINE_LINUX\nA=1\nexport A B\nGRUB_CMDLINE_LINUX_DEFAULT="$A"\n',  # noqa: E501
    "export-assignments": 'export A=1\nexport GRUB_CMDLINE_LINUX="x $A" B=2\n',
    "export-of-a-computed-name-then-an-assignment": "Y=a\nexport $Y GRUB_CMDLINE_LINUX=z\n",
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_parser_equals_bin_sh(name, tmp_path):
    text = SNIPPETS[name]
    assert parser_values([text]) == sh_values([text], tmp_path)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("GRUB_CMDLINE_LINUX=a\nY=${.x}\n", 2, "bad substitution ${...}"),
        ("GRUB_CMDLINE_LINUX=a\nY=${}\n", 2, "bad substitution ${...}"),
        ("GRUB_CMDLINE_LINUX=a\necho >\n", 2, "syntax error: redirection target expected after '>'"),
        ("\necho x 2>>\n", 2, "syntax error: redirection target expected after '>>'"),
        (
            "readonly GRUB_CMDLINE_LINUX\n",
            1,
            "readonly GRUB_CMDLINE_LINUX: readonly is not a plain assignment in /bin/sh (readonly breaks later "
            "assignments, local/declare/typeset differ between shells)" + REFUSING,
        ),
        (
            'X=1\nlocal -r GRUB_CMDLINE_LINUX_DEFAULT="q"\n',
            2,
            "local GRUB_CMDLINE_LINUX_DEFAULT: local is not a plain assignment in /bin/sh (readonly breaks later "
            "assignments, local/declare/typeset differ between shells)" + REFUSING,
        ),
        ('export "$GRUB_CMDLINE_LINUX"x\n', 1, "export of a computed name cannot be followed" + REFUSING),
        ("X=1\nunset $X\n", 2, "unset of a computed name" + REFUSING),
        (
            "if true; then\n unset GRUB_CMDLINE_LINUX\nfi\n",
            2,
            "GRUB_CMDLINE_LINUX is unset inside an if-block (line 1)" + REFUSING,
        ),
        (
            "[ -f /x ] && exit 0\nunset GRUB_CMDLINE_LINUX_DEFAULT\n",
            2,
            "GRUB_CMDLINE_LINUX_DEFAULT is unset after a conditional 'exit' at f0.cfg:1" + REFUSING,
        ),
        (
            'X=1\nif true; then unset X; fi\nGRUB_CMDLINE_LINUX="$X"\n',
            3,
            "the value of GRUB_CMDLINE_LINUX depends on $X (unset inside an if-block (line 2) at f0.cfg:2)" + REFUSING,
        ),
    ],
)
def test_refusals_exactly(text, line, message):
    with pytest.raises(ShellError) as err:
        follow([("f0.cfg", text)])
    assert (err.value.path, err.value.line, err.value.message) == ("f0.cfg", line, message)
    assert str(err.value) == f"f0.cfg:{line}: {message}"


def test_unset_at_top_level_is_recorded_where_it_stands():
    text = "GRUB_CMDLINE_LINUX=a\nX=1\nunset X  GRUB_CMDLINE_LINUX\n"
    st = follow([("f.cfg", text)])
    last = st.last_assignment("GRUB_CMDLINE_LINUX")
    assert (last.kind, last.name, last.line, last.value, last.parts) == ("unset", "GRUB_CMDLINE_LINUX", 3, None, None)
    assert text[last.value_start : last.value_end] == "GRUB_CMDLINE_LINUX"
    assert st.vars["X"] is None and st.value("GRUB_CMDLINE_LINUX") is None


def test_unset_f_then_v_switches_back_to_variables():
    st = follow([("f.cfg", "X=1\nY=2\nunset -f X -v Y\n")])
    assert st.vars["X"].text == "1" and st.vars["Y"] is None


def test_conditional_unset_of_another_variable_makes_it_unknown():
    st = follow([("f.cfg", "X=1\nif true; then unset X; fi\n")])
    assert st.vars["X"].unknown == "unset inside an if-block (line 2) at f.cfg:2"


def test_export_with_an_assignment_is_an_assignment():
    st = follow([("f.cfg", 'export GRUB_CMDLINE_LINUX="a b"\n')])
    last = st.last_assignment("GRUB_CMDLINE_LINUX")
    assert (last.kind, last.line, st.value("GRUB_CMDLINE_LINUX").text) == ("assign", 1, "a b")
