"""Substitutions in the GRUB defaults: where ``$( ... )`` and ``${...}`` end (quotes,
backslashes, comments, backquotes, nested parentheses or braces inside them), if/elif/else and
redirections around assignments, judged by the real /bin/sh; the refusals of an unterminated
substitution and of expansions the follower does not evaluate, exactly (found by `make mutation`:
Lexer._skip_parens and parts of _scan_brace_param had no test that could fail).
"""

import pytest
from test_grub_shell import REFUSING, parser_values, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults_edit import plan_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

SET = build_request({"vmscape": "ibpb"}, [])
REMOVE = build_request({}, ["vmscape"])

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
    "brace-after-a-parameter": "X=abc\nY=${X}}12\n",
    "quoted-brace-in-a-default": 'X=abc\nY=${X:-"}"}13\n',
    "escaped-brace-in-a-default": "unset U\nY=${U-{a\\}}14\n",
    "if-elif-else": "if false; then X=1; elif true; then X=2; else X=3; fi\nY=15\n",
    "redirections": "echo x 2>/dev/null; echo y 2 >/dev/null\nY=16 2>/dev/null\n",
    "dollar-quote-outside-the-values": "X=$'a b'\nY=17\n",
    "dollar-quote-inside-double-quotes": "Y=\"18 $'a'\"\n",
    "a-dollar-at-the-end": 'Y="19$" Z=20$\nY="$Y $Z"\n',
    "default-with-a-blank": 'unset U\nY="${U-a b}"\n',
    "assigning-default-then-use": 'unset U\nY="${U:=x} $U"\n',
    "alternative-value": 'X=1\nY="${X:+y}z"\n',
    "escapes-in-double-quotes": 'Y="a\\$b \\"c\\" \\\\ d\\e f\\\ng"\n',
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
        ("GRUB_CMDLINE_LINUX=a\n\nX=$'unterminated\nY=1\n", 3, "unterminated $'...'"),
        ("GRUB_CMDLINE_LINUX=a\nX=`echo a\nY=1\n", 2, "unterminated backquote"),
        (
            "GRUB_CMDLINE_LINUX=ro$'a b'\n",
            1,
            "the value of GRUB_CMDLINE_LINUX depends on $'...' (dash and bash read it differently) at f0.cfg:1"
            + REFUSING,
        ),
        (
            'X=1\nGRUB_CMDLINE_LINUX="ro $_ x"\n',
            2,
            "the value of GRUB_CMDLINE_LINUX depends on $_, which these files do not set (it comes from "
            "grub-mkconfig or its environment), used at f0.cfg:2" + REFUSING,
        ),
        (
            'X=abc\n\nGRUB_CMDLINE_LINUX="a=${#X} ro"\n',
            3,
            "the value of GRUB_CMDLINE_LINUX depends on ${...} pattern or length expansion at f0.cfg:3" + REFUSING,
        ),
        (
            'X=abc\nGRUB_CMDLINE_LINUX="${X%c}d ro"\n',
            2,
            "the value of GRUB_CMDLINE_LINUX depends on ${...} pattern or length expansion at f0.cfg:2" + REFUSING,
        ),
        (
            'GRUB_CMDLINE_LINUX="${#} ro"\n',
            1,
            "the value of GRUB_CMDLINE_LINUX depends on the special parameter $# at f0.cfg:1" + REFUSING,
        ),
        (
            'GRUB_CMDLINE_LINUX="${1}x ro"\n',
            1,
            "the value of GRUB_CMDLINE_LINUX depends on the special parameter $1 at f0.cfg:1" + REFUSING,
        ),
    ],
)
def test_an_unterminated_substitution_is_refused_where_it_starts(text, line, message):
    with pytest.raises(ShellError) as err:
        follow([("f0.cfg", text)])
    assert (err.value.path, err.value.line, err.value.message) == ("f0.cfg", line, message)


@pytest.mark.parametrize(
    ("before", "request_", "after"),
    [
        ('GRUB_CMDLINE_LINUX="x\\$y vmscape=off"\n', REMOVE, 'GRUB_CMDLINE_LINUX="x\\$y"\n'),
        ('GRUB_CMDLINE_LINUX="x\\$y vmscape=off"\n', SET, 'GRUB_CMDLINE_LINUX="x\\$y vmscape=ibpb"\n'),
        ('GRUB_CMDLINE_LINUX="a\\\\b vmscape=off c"\n', REMOVE, 'GRUB_CMDLINE_LINUX="a\\\\b c"\n'),
    ],
)
def test_tokens_next_to_escapes_are_edited_in_place(tmp_path, before, request_, after):
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/grub").write_text(before)
    gp = plan_defaults(str(tmp_path), request_)
    assert [c.after for c in gp.changes] == [after.encode()]


def test_a_parameter_built_from_an_escape_is_not_edited(tmp_path):
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX="x vmscape=\\$off y"\n')
    with pytest.raises(BootConfigError) as err:
        plan_defaults(str(tmp_path), REMOVE)
    assert str(err.value) == (
        f"{tmp_path}/etc/default/grub:1: the token 'vmscape=$off' of GRUB_CMDLINE_LINUX is built from quotes, "
        "escapes or variables; refusing to edit it automatically, change it by hand"
    )
