"""How the GRUB defaults follower (``_bootcfg.grub_shell.Lexer``) reads backslashes, quotes, ``$``
at the end of a file, empty ``$()``, backquotes and ``$'...'``, and where each character of a
value comes from (found by `make mutation`: an escape or an expansion read one character off,
or an origin one byte off, changed no tested value; the editor rewrites the bytes the origins
name, so an origin one byte off edits the wrong byte).

Values are judged by the real /bin/sh (dash: test_grub_shell.sh_values). The origins are
checked against the snippet itself: every character of a known value names the byte of the file
it was read from, and that byte is the character.
"""

import pytest
import test_grub_shell
import test_grub_shell_grammar
from test_grub_shell import REFUSING, parser_values, refusal, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import (
    WATCHED,
    follow,
)

LEXED = {
    "unquoted-escapes": "GRUB_CMDLINE_LINUX=a\\ b\\\"c\\\\d\\'e\n",
    "dq-escapes": 'GRUB_CMDLINE_LINUX="x\\$y \\` \\" \\\\ \\q \\} \\X"\n',
    "escapes-in-a-default-in-dq": 'X=v\nunset U\nGRUB_CMDLINE_LINUX="${U:-a\\}b} ${U:-\\$X} ${U:-\\q} ${U:-"$X"}"\n',
    "escaped-tilde": "GRUB_CMDLINE_LINUX=\\~/a\n",
    "dollar-at-the-end": "GRUB_CMDLINE_LINUX=a$",
    "dollar-before-the-quote": 'GRUB_CMDLINE_LINUX="a$"\n',
    "backslash-at-the-end": "GRUB_CMDLINE_LINUX=a\\",
    "quotes-and-dollars": "X=1\nGRUB_CMDLINE_LINUX=\"$X\"'$X'\\$X\n",
    "an-assignment-word-after-arithmetic": 'Z=1\n: $((1))Z=3\nGRUB_CMDLINE_LINUX="$Z"\n',
    "arithmetic-starting-with-a-parenthesis": "N=$(((1)+2))\nGRUB_CMDLINE_LINUX=n\n",
    "empty-command-substitutions": 'Y=$()\nY=``\nY="a`echo x`b"\nY="``"\nGRUB_CMDLINE_LINUX=e\n',
    "empty-dollar-quote": "Y=$''\nGRUB_CMDLINE_LINUX=e\n",
    "heredoc-delimited-by-a-parameter": (
        "cat <<$1 >/dev/null\nGRUB_CMDLINE_LINUX=in-heredoc\n$1\nGRUB_CMDLINE_LINUX=after\n"
    ),
    "continuation-at-the-end": "GRUB_CMDLINE_LINUX=a\\\n",
    "escape-at-the-end": "GRUB_CMDLINE_LINUX=a\\b",
    "parameter-at-the-end": "X=1\nGRUB_CMDLINE_LINUX=a$X",
    "dollar-quote-and-escape-in-a-default-in-dq": "unset U\nGRUB_CMDLINE_LINUX=\"${U:-$'x'} ${U:-\\X}\"\n",
    "backquotes-inside-a-word": "X=`:`GRUB_CMDLINE_LINUX=z\n",
    "continuations": 'GRUB_CMDLINE_LINUX=a\\\nb" c\\\nd"\\\n\nGRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX"\n',
}


@pytest.mark.parametrize("name", sorted(LEXED))
def test_what_sh_reads(name, tmp_path):
    assert parser_values([LEXED[name]]) == sh_values([LEXED[name]], tmp_path)


CORPUS = [
    *LEXED.values(),
    *(t for files in test_grub_shell.FOLLOWED.values() for t in files if len(files) == 1),
    *test_grub_shell_grammar.FOLLOWED.values(),
]


@pytest.mark.parametrize("text", CORPUS)
def test_every_character_of_a_value_names_the_byte_it_was_read_from(text):
    state = follow([("f0.cfg", text)])
    for name in WATCHED:
        value = state.value(name)
        if value is None:
            continue
        assert len(value.origins) == len(value.text)
        assert [text[pos] if idx == 0 else None for idx, pos in value.origins] == list(value.text)


def test_escaped_characters_name_the_character_not_the_backslash():
    text = 'GRUB_CMDLINE_LINUX=\\~"\\$"\n'
    value = follow([("f0.cfg", text)]).value("GRUB_CMDLINE_LINUX")
    assert (value.text, value.origins) == ("~$", [(0, 20), (0, 23)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GRUB_CMDLINE_LINUX=$'a\\'b'\n",  # bash: a'b; dash: $ then 'a\' then b and an open quote
            "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on $'...' (dash and bash read it differently) at "
            "f0.cfg:1" + REFUSING,
        ),
        (
            "\nGRUB_CMDLINE_LINUX=$'\\a'\n",
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $'...' (dash and bash read it differently) at "
            "f0.cfg:2" + REFUSING,
        ),
        (
            'X=1\n: $((Y+X++))\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (arithmetic at f0.cfg:2)" + REFUSING,
        ),
        (
            "GRUB_CMDLINE_LINUX=`echo a`\n",
            "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on command substitution at f0.cfg:1" + REFUSING,
        ),
        ("A=1\nGRUB_CMDLINE_LINUX='abc\n", "f0.cfg:2: unterminated single quote"),
        ('GRUB_CMDLINE_LINUX="a\\"', "f0.cfg:1: unterminated double quote"),  # the quote is escaped
        ('X="a\\', "f0.cfg:1: unterminated double quote"),
        ("X='a\nb\nGRUB_CMDLINE_LINUX=\"$X\n", "f0.cfg:1: unterminated single quote"),
        ('\nX="${Y:-a\n', "f0.cfg:3: unterminated ${...}"),
        ("X=${Y\n", "f0.cfg:2: unterminated ${...}"),
        ('X=1\nY="a\nb', "f0.cfg:2: unterminated double quote"),
        ("X=1\nY=`a\nb", "f0.cfg:2: unterminated backquote"),
        ('X=1\nY="`a\nb"', "f0.cfg:2: unterminated backquote"),
        ("X=1\nY=$(a\nb", "f0.cfg:2: unterminated $( ... )"),
        ("X=1\nY=$((1+\n", "f0.cfg:2: unterminated $( ... )"),
        ("X=1\nY=$'a\nb", "f0.cfg:2: unterminated $'...'"),
        ("X=${}\n", "f0.cfg:1: bad substitution ${...}"),
    ],
)
def test_lexing_refusals_and_errors(text, expected):
    assert refusal(text) == expected
