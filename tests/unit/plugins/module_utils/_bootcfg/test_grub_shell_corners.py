"""Corners of the GRUB defaults follower (``_bootcfg.grub_shell``) that no earlier test reached:
heredoc delimiters that look like expansions, the bodies of ``$( )`` (comments, quotes,
backquotes, escapes, a function defined inside), escaped backquotes, an unterminated heredoc, a
conditional inside a subshell or inside two other conditionals, the first of two unknown reasons,
and where unterminated constructs are reported (found by `make mutation`).

Values are judged by the real /bin/sh (dash: test_grub_shell.sh_values); refusals and errors are
written out by hand.
"""

import pytest
from test_grub_shell import REFUSING, parser_values, refusal, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_shell as _grub_shell


def heredoc(delimiter):
    return f"cat <<{delimiter} >/dev/null\nGRUB_CMDLINE_LINUX=in\n{delimiter}\nGRUB_CMDLINE_LINUX=after\n"


FOLLOWED = {
    # a delimiter is not expanded: the line that ends the heredoc is the same text
    "heredoc-delimiter-brace": heredoc("${X}"),
    "heredoc-delimiter-default": heredoc("${X:-a}"),
    "heredoc-delimiter-pattern": heredoc("${X%a}"),
    "heredoc-delimiter-length": heredoc("${#X}"),
    "heredoc-delimiter-quoted": heredoc('"$X"'),  # the delimiter is $X: the line "$X" (with quotes) is not it
    "heredoc-unterminated": "cat <<EOF >/dev/null\nGRUB_CMDLINE_LINUX=a",
    "heredoc-unterminated-newline": "GRUB_CMDLINE_LINUX=b\ncat <<EOF >/dev/null\nGRUB_CMDLINE_LINUX=a\n",
    "cmdsub-comment": "Y=$(# a ) b\n)\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-escape": "Y=$(echo \\a)\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-hash-after-escape": "Y=$(echo a\\b#c)\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-hash-in-a-word": "Y=$(echo X#c)\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-quoted-paren": "Y=$(echo ')' )\nZ='q'\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-empty-quotes": "Y=$(echo '' )\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-empty-backquotes": "Y=$(echo ``)\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-backquoted-paren": "Y=$(echo `echo \\)`)\nGRUB_CMDLINE_LINUX=e\n",
    "cmdsub-function": "Y=$(f() { :; }; f)\nGRUB_CMDLINE_LINUX=e\n",
    "escaped-backquotes": "Y=`echo \\`echo a\\``\nGRUB_CMDLINE_LINUX=e\n",
    "tilde-in-double-quotes": 'GRUB_CMDLINE_LINUX="~/a"\n',
    "conditional-in-a-subshell": "( if true; then GRUB_CMDLINE_LINUX=1; fi )\nGRUB_CMDLINE_LINUX_DEFAULT=d\n",
}


@pytest.mark.parametrize("name", sorted(FOLLOWED))
def test_what_sh_gives(name, tmp_path):
    assert parser_values([FOLLOWED[name]]) == sh_values([FOLLOWED[name]], tmp_path)


def test_a_fresh_word_scanner_cache_reads_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(_grub_shell, "_WORD_SPECIAL", {})
    text = 'e=E\nX=a\'b\'"c"\\d$e\nunset U\nGRUB_CMDLINE_LINUX="${U:-x y}"$X\n'
    assert parser_values([text]) == sh_values([text], tmp_path) == ("x yabcdE", "<unset>")
    assert sorted(_grub_shell._WORD_SPECIAL) == [" \t\n;&|<>()", "}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'unset 1\nGRUB_CMDLINE_LINUX="${1=x}"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on ${1=...}",
        ),
        (
            'X=1\nGRUB_CMDLINE_LINUX="${X+$(echo a)}"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on command substitution at f0.cfg:2",
        ),
        (
            "if true; then [ -f /x ] && return; fi\nGRUB_CMDLINE_LINUX=b\n",
            "f0.cfg:2: GRUB_CMDLINE_LINUX is assigned after a conditional 'return' at f0.cfg:1",
        ),
        (
            "if true; then\n for i in a; do\n  while false; do GRUB_CMDLINE_LINUX=1; done\n done\nfi\n",
            "f0.cfg:3: GRUB_CMDLINE_LINUX is assigned inside an if-block (line 1)",
        ),
        (
            'X=~\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (tilde expansion at f0.cfg:1)",
        ),
        (  # the first reason is kept
            'X=$(a)\nGRUB_CMDLINE_LINUX="$X$HOME"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (command substitution at f0.cfg:1)",
        ),
        (  # a known part after an unknown one does not make the value known
            'GRUB_CMDLINE_LINUX="$(echo a)""b"\n',
            "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on command substitution at f0.cfg:1",
        ),
    ],
)
def test_refusals(text, expected):
    assert refusal(text) == expected + REFUSING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X=1\n`\nabc", "f0.cfg:2: unterminated backquote"),  # where the construct opens
        ('X=1\n"\nabc', "f0.cfg:2: unterminated double quote"),
        ("X=${", "f0.cfg:1: bad substitution ${...}"),
        ("X=${Y", "f0.cfg:1: unterminated ${...}"),
        ("X=${#", "f0.cfg:1: unterminated ${...}"),
        ("X=${Y:-a", "f0.cfg:1: unterminated ${...}"),
        ("X=${#Y\n", "f0.cfg:2: unterminated ${...}"),
        ("X=${Y%a\n", "f0.cfg:2: unterminated ${...}"),
    ],
)
def test_unterminated_constructs(text, expected):
    assert refusal(text) == expected
