"""Command and arithmetic substitutions in the GRUB defaults: where ``$( ... )`` ends (quotes,
backslashes, comments, backquotes, nested parentheses inside it), judged by the real /bin/sh, and
the refusals of an unterminated one, exactly (found by `make mutation`: Lexer._skip_parens had no
test that could fail).
"""

import pytest
from test_grub_shell import parser_values, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow

AFTER = 'GRUB_CMDLINE_LINUX="ro $Y"\nGRUB_CMDLINE_LINUX_DEFAULT=q\n'
SNIPPETS = {
    "single-quoted-paren": "X=\"$(printf '%s' 'a)b')\"\nY=1\n",
    "double-quoted-paren": 'X=$(echo "a)b")\nY=2\n',
    "escaped-paren": "X=$(echo \\)x)\nY=3\n",
    "comment-with-a-paren": "X=$(echo a # comment )\n)\nY=4\n",
    "hash-inside-a-word": "X=$(echo a#b)\nY=5\n",
    "comment-after-a-semicolon": "X=$(echo a;#c)\n)\nY=6\n",
    "comment-line": "X=$(echo a\n# only a comment )\n)\nY=7\n",
    "nested-subshell": "X=$( (echo a) )\nY=8\n",
    "arithmetic-with-parens": "X=$((1 + (2) ))\nY=9\n",
    "backquotes-inside": "X=$(echo `echo b`)\nY=10\n",
    "two-on-a-line": 'X="$(echo ")")$(echo "(")"; Y=11\n',
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_where_a_substitution_ends_like_bin_sh(name, tmp_path):
    text = SNIPPETS[name] + AFTER
    assert parser_values([text]) == sh_values([text], tmp_path)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("GRUB_CMDLINE_LINUX=a\n\nX=$(echo a\nY=1\n", 3, "unterminated $( ... )"),
        ("GRUB_CMDLINE_LINUX=a\nX=$(echo a # a comment at the end )", 2, "unterminated $( ... )"),
        ("GRUB_CMDLINE_LINUX=a\nX=$(\necho\n'a)\n", 4, "unterminated single quote"),
    ],
)
def test_an_unterminated_substitution_is_refused_where_it_starts(text, line, message):
    with pytest.raises(ShellError) as err:
        follow([("f0.cfg", text)])
    assert (err.value.path, err.value.line, err.value.message) == ("f0.cfg", line, message)
