"""``${X=...}``, ``${X:=...}``, ``${X-...}`` and ``${X+...}`` in the GRUB defaults follower
(``_bootcfg.grub_shell.ShellState._param``), and the reasons it gives for what it cannot know
(bash arrays, tilde and arithmetic expansion, an assignment by a default inside an if-block)
(found by `make mutation`: the reasons were checked only for being there).

Values the follower knows are judged by the real /bin/sh (test_grub_shell.sh_values sources the
snippet the way grub-mkconfig does); refusals are written out by hand.
"""

import pytest
from test_grub_shell import REFUSING, parser_values, refusal, sh_values


@pytest.mark.parametrize(
    "text",
    [
        'unset X\nY="${X=a b}"\nGRUB_CMDLINE_LINUX="$X"\n',  # assigns X when unset
        'X=\nY="${X:=a}"\nGRUB_CMDLINE_LINUX="$X"\n',  # ... or empty, with the colon
        'X=1\nunset X\nGRUB_CMDLINE_LINUX="${X-b}"\n',
        'unset X\nY="${X+a}"\nGRUB_CMDLINE_LINUX="[$Y]"\n',
        'X=1\nY="${X+a b}"\nGRUB_CMDLINE_LINUX="$Y"\n',
        'X=\nY="${X:+a}${X+b}"\nGRUB_CMDLINE_LINUX="$Y"\n',
        'X=q\nY="${X?}"\nGRUB_CMDLINE_LINUX="$Y"\n',
    ],
)
def test_defaults_and_alternatives_give_what_sh_gives(tmp_path, text):
    assert parser_values([text]) == sh_values([text], tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'unset X\nif true; then Y="${X=a}"; fi\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (${X=...} inside an if-block (line 2))",
        ),
        (
            'unset GRUB_CMDLINE_LINUX\nY="${GRUB_CMDLINE_LINUX:=a}"\n',
            "f0.cfg:2: ${GRUB_CMDLINE_LINUX:=...} assigns GRUB_CMDLINE_LINUX",
        ),
        (
            'unset X\nY="${X=$((1+1))}"\nGRUB_CMDLINE_LINUX="$Y"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $Y (arithmetic expansion at f0.cfg:2)",
        ),
        (
            'X=arr\nX=(a b)\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (bash array at f0.cfg:2)",
        ),
        ("GRUB_CMDLINE_LINUX=(a b)\n", "f0.cfg:1: GRUB_CMDLINE_LINUX=( ... ) is a bash array"),
        (
            'X=~/a\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (tilde expansion at f0.cfg:1)",
        ),
        (
            'GRUB_CMDLINE_LINUX="a"\nX=$((1+2))\nGRUB_CMDLINE_LINUX_DEFAULT="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX_DEFAULT depends on $X (arithmetic expansion at f0.cfg:2)",
        ),
    ],
)
def test_what_cannot_be_known_is_refused_with_its_reason(text, message):
    assert refusal(text) == message + REFUSING
