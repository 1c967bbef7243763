"""_grub_shell paths no test reached before `make mutation` (printf -v, let, arithmetic, pattern
expansions, unterminated arrays), with exact messages. Where /bin/sh can run the snippet, the
known values are also compared with what the real shell prints (test_grub_shell.sh_values).
"""

import pytest
from test_grub_shell import REFUSING, UNSET, parser_values, refusal, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import (
    Assignment,
    Source,
    Token,
    Value,
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "printf -v GRUB_CMDLINE_LINUX '%s' x\n",
            "f0.cfg:1: printf changes GRUB_CMDLINE_LINUX in a way that cannot be followed" + REFUSING,
        ),
        (
            "printf -v X '%s' y\nGRUB_CMDLINE_LINUX=\"$X\"\n",
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (printf at f0.cfg:1)" + REFUSING,
        ),
        (
            'printf -v X\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (printf at f0.cfg:1)" + REFUSING,
        ),
        (
            "\nlet GRUB_CMDLINE_LINUX=1\n",
            "f0.cfg:2: GRUB_CMDLINE_LINUX is changed by arithmetic at f0.cfg:2" + REFUSING,
        ),
        (
            'let X=1 ++Y\nGRUB_CMDLINE_LINUX_DEFAULT="$Y"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX_DEFAULT depends on $Y (arithmetic at f0.cfg:1)" + REFUSING,
        ),
        (
            'let X=1 Y--\nGRUB_CMDLINE_LINUX_DEFAULT="$X"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX_DEFAULT depends on $X (arithmetic at f0.cfg:1)" + REFUSING,
        ),
        (
            ": $((GRUB_CMDLINE_LINUX_DEFAULT+=2))\n",
            "f0.cfg:1: GRUB_CMDLINE_LINUX_DEFAULT is changed by arithmetic at f0.cfg:1" + REFUSING,
        ),
        (
            'read -r X < /etc/hostname\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (read at f0.cfg:1)" + REFUSING,
        ),
        (
            'X=abc\nY=${X%c}\nGRUB_CMDLINE_LINUX="$Y"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $Y (${...} pattern or length expansion "
            "at f0.cfg:2)" + REFUSING,
        ),
        ("A=1\nB=(a b\n", "f0.cfg:2: unterminated array assignment"),
    ],
)
def test_refusal_messages(text, message):
    assert refusal(text) == message


def test_printf_without_v_changes_nothing():
    # printf -v only counts as the first argument; here it is printed data
    assert parser_values(["X=a\nprintf '%s' -v X\nGRUB_CMDLINE_LINUX=\"$X\"\n"]) == ("a", UNSET)
    assert parser_values(["printf -v\nGRUB_CMDLINE_LINUX=a\n"]) == ("a", UNSET)


SNIPPETS = [
    'X=abc\nY="${X%c}d e"\nGRUB_CMDLINE_LINUX="ok $X"\n',
    'X=abc\nY=${#X}\nGRUB_CMDLINE_LINUX="n $X"x\n',
    'X=a/b\nZ="${X##*/}}"\nGRUB_CMDLINE_LINUX_DEFAULT="q ${X}"\n',
    'let A=1 B=2\nGRUB_CMDLINE_LINUX="still known"\n',
    ': $((C=3))\nGRUB_CMDLINE_LINUX="after"\n',
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_unrelated_expansions_keep_the_watched_values_like_sh(text, tmp_path):
    assert parser_values([text]) == sh_values([text], tmp_path)


def test_a_pattern_expansion_of_a_watched_variable_is_unknown_not_wrong():
    assert refusal('GRUB_CMDLINE_LINUX="a b"\nGRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX% b} c"\n') == (
        "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on ${...} pattern or length expansion at f0.cfg:2" + REFUSING
    )


def test_reprs():
    assert repr(Token("WORD", "a=b", 0, 3)) == "Token(WORD 'a=b')"
    assert repr(Value("x y")) == "Value('x y')"
    assert repr(Value.unknown_because("command substitution at f:1")) == "Value(unknown: command substitution at f:1)"
    a = Assignment("GRUB_CMDLINE_LINUX", "assign", Source(0, "/etc/default/grub", "x\n"), 7, 0, 0, None, None)
    assert repr(a) == "Assignment(assign GRUB_CMDLINE_LINUX /etc/default/grub:7)"
