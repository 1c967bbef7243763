"""_grub_shell: compound commands, redirections and contexts judged by /bin/sh, and every syntax
error with its file, line and text (found by `make mutation`)."""

import pytest
from test_grub_shell import parser_values, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow

REFUSING = "; refusing to guess what grub-mkconfig would see"

FOLLOWED = {
    "case-with-open-paren-and-alternatives": (
        'x=b\ncase $x in\n(a|b) Y=1 ;;\n*) Y=2 ;;\nesac\nGRUB_CMDLINE_LINUX="after $x"\n'
    ),
    "case-patterns-on-one-line": 'case "$0" in a) : ;; b|c) : ;; esac\nGRUB_CMDLINE_LINUX=one\n',
    "case-without-final-double-semicolon": "case x in\n a) Y=1\nesac\nGRUB_CMDLINE_LINUX_DEFAULT=z\n",
    "empty-case": "case x in\nesac\nGRUB_CMDLINE_LINUX=e\n",
    "for-with-semicolon": 'for i in a b; do Y="$i"; done\nGRUB_CMDLINE_LINUX=f\n',
    "for-with-newline-before-do": "for i in a b\ndo\n Y=1\ndone\nGRUB_CMDLINE_LINUX=g\n",
    "for-over-positional-parameters": "for i; do :; done\nGRUB_CMDLINE_LINUX=h\n",
    "for-over-positional-parameters-semicolon": "for i\ndo :; done\nGRUB_CMDLINE_LINUX=h2\n",
    "if-elif-else": "if false; then\n Y=1\nelif false; then\n Y=2\nelse\n Y=3\nfi\nGRUB_CMDLINE_LINUX=i\n",
    "redirections-with-numbers": ":  2>/dev/null >/dev/null 2>&1\necho 2 >/dev/null\nGRUB_CMDLINE_LINUX=j\n",
    "redirection-before-an-assignment": "2>/dev/null GRUB_CMDLINE_LINUX=k\n",
    "subshell-inside-if-changes-nothing": "if true; then\n ( GRUB_CMDLINE_LINUX=x )\nfi\nGRUB_CMDLINE_LINUX=y\n",
    "return-inside-a-function-is-not-conditional": ("f() {\n if true; then return 0; fi\n}\nf\nGRUB_CMDLINE_LINUX=l\n"),
    "quoted-name-unset": "GRUB_CMDLINE_LINUX=a\nGRUB_CMDLINE_LINUX_DEFAULT=b\nunset 'GRUB_CMDLINE_LINUX'\n",
    "while-loop-of-another-variable": "n=0\nwhile false; do n=1; done\nGRUB_CMDLINE_LINUX=m\n",
}


@pytest.mark.parametrize("name", sorted(FOLLOWED))
def test_parser_equals_bin_sh(name, tmp_path):
    text = FOLLOWED[name]
    assert parser_values([text]) == sh_values([text], tmp_path)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("case\n", 1, "syntax error: word expected after 'case'"),
        ("\ncase ; in\nesac\n", 2, "syntax error: word expected after 'case'"),
        ("case x in\na) Y=1;;\n", 1, "syntax error: 'esac' expected"),
        ("case x in\n) Y=1;;\nesac\n", 2, "syntax error in case pattern"),
        ("case x in\na b) Y=1;;\nesac\n", 2, "syntax error in case pattern"),
        ("for 1x in a; do :; done\n", 1, "syntax error: bad for loop variable"),
        ("for x in a\n:\ndone\n", 2, "syntax error: expected 'do', found a word"),
        ("if true; then\n Y=1\n", 3, "syntax error: 'fi' expected"),
        ("while false; do\n :\n", 3, "syntax error: expected 'done', found end of file"),
        # how a message shows the token it stopped at: never the file's own words
        ("for x in a; ; do :; done\n", 1, "syntax error: expected 'do', found ';'"),
        ("for x in a\n\ndone\n", 3, "syntax error: expected 'do', found 'done'"),
        ("if\n", 2, "syntax error: expected 'then', found end of file"),
        ("!\n", 1, "syntax error near end of line"),
        ("X=1 ;;\n", 1, "syntax error near ';;'"),
        ("case x in a) :;; esac esac\n", 1, "syntax error near 'esac'"),
        ("if true; then :; done\n", 1, "syntax error: unexpected 'done'"),
        ("true |\n", 2, "syntax error: unexpected end of file"),
        (
            "if true; then\n if true; then\n  GRUB_CMDLINE_LINUX=x\n fi\nfi\n",
            3,
            "GRUB_CMDLINE_LINUX is assigned inside an if-block (line 1)" + REFUSING,
        ),
        (
            "for i in a; do\n if true; then\n  GRUB_CMDLINE_LINUX=x\n fi\ndone\n",
            3,
            "GRUB_CMDLINE_LINUX is assigned inside a for loop (line 1)" + REFUSING,
        ),
        (
            "f() {\n if true; then GRUB_CMDLINE_LINUX=x; fi\n}\n",
            2,
            "GRUB_CMDLINE_LINUX is assigned inside function f() defined at line 1" + REFUSING,
        ),
        (
            'X=$(c)\nY=$X\nGRUB_CMDLINE_LINUX="$Y"\n',
            3,
            "the value of GRUB_CMDLINE_LINUX depends on $Y ($X (command substitution at f0.cfg:1))" + REFUSING,
        ),
        (
            "read GRUB_CMDLINE_LINUX_DEFAULT\n",
            1,
            "read changes GRUB_CMDLINE_LINUX_DEFAULT in a way that cannot be followed" + REFUSING,
        ),
        (
            "case x in\n a) GRUB_CMDLINE_LINUX=x ;;\nesac\n",
            2,
            "GRUB_CMDLINE_LINUX is assigned inside a case statement (line 1)" + REFUSING,
        ),
    ],
)
def test_errors_exactly(text, line, message):
    with pytest.raises(ShellError) as err:
        follow([("f0.cfg", text)])
    assert (err.value.path, err.value.line, err.value.message) == ("f0.cfg", line, message)


def test_an_unknown_value_stays_unknown_when_copied_by_an_assigning_expansion():
    st = follow([("f.cfg", "X=$(c)\nunset Y\nZ=${Y:=$X}\n")])
    assert st.vars["Y"].unknown == "$X (command substitution at f.cfg:1)"
    assert st.vars["Z"].unknown == "$X (command substitution at f.cfg:1)"
