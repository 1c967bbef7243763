"""The whole text of every refusal of the GRUB defaults follower (``_bootcfg.grub_shell``), and the
command forms around them: prefix assignments, ``command``/``exec`` in front of a command, a
computed command name, conditional ``return``/``exit``, ``unset`` (found by `make mutation`:
test_grub_shell's REFUSED table checks a part of each message, so a changed reason, a reason of
another place, or a lost ``; refusing to guess ...`` went unnoticed).

Messages are written out by hand. Where the snippet is one /bin/sh can run, what the follower
knows is also judged by the real /bin/sh (test_grub_shell.sh_values).
"""

import pytest
from test_grub_shell import REFUSED, REFUSING, parser_values, sh_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow

# test_grub_shell.REFUSED's snippets, each with its whole message.
EXACT = {
    "cmdsub": "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on command substitution at f0.cfg:1" + REFUSING,
    "backquotes": (
        "f0.cfg:2: the value of GRUB_CMDLINE_LINUX_DEFAULT depends on command substitution at f0.cfg:2" + REFUSING
    ),
    "if": "f0.cfg:3: GRUB_CMDLINE_LINUX is assigned inside an if-block (line 2)" + REFUSING,
    "case": "f0.cfg:2: GRUB_CMDLINE_LINUX_DEFAULT is assigned inside a case statement (line 1)" + REFUSING,
    "loop": "f0.cfg:2: GRUB_CMDLINE_LINUX is assigned inside a for loop (line 1)" + REFUSING,
    "function": "f0.cfg:2: GRUB_CMDLINE_LINUX is assigned inside function f() defined at line 1" + REFUSING,
    "and": "f0.cfg:1: GRUB_CMDLINE_LINUX is assigned after && or ||" + REFUSING,
    "source": ("f0.cfg:2: '.' runs another file whose code cannot be followed here; it could change GRUB_CMDLINE_*"),
    "source-word": (
        "f0.cfg:1: 'source' runs another file whose code cannot be followed here; it could change GRUB_CMDLINE_*"
    ),
    "eval": "f0.cfg:3: eval runs code built at run time; it could change GRUB_CMDLINE_*",
    "export-cmdsub": "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on command substitution at f0.cfg:1" + REFUSING,
    "unknown-var-flows-in": (
        "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (command substitution at f0.cfg:1)" + REFUSING
    ),
    "conditional-var-flows-in": (
        "f1.cfg:1: the value of GRUB_CMDLINE_LINUX depends on $X (assigned inside an if-block (line 1) at f0.cfg:1)"
        + REFUSING
    ),
    "env-var": (
        "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on $HOME, which these files do not set (it comes from "
        "grub-mkconfig or its environment), used at f0.cfg:1" + REFUSING
    ),
    "after-conditional-return": (
        "f0.cfg:2: GRUB_CMDLINE_LINUX is assigned after a conditional 'return' at f0.cfg:1" + REFUSING
    ),
    "bash-append": (
        "f0.cfg:1: GRUB_CMDLINE_LINUX+=... is bash-only (dash runs it as a command and fails); /bin/sh differs "
        "between distributions" + REFUSING
    ),
    "bash-array": "f0.cfg:1: GRUB_CMDLINE_LINUX=( ... ) is a bash array" + REFUSING,
    "read": "f0.cfg:1: read changes GRUB_CMDLINE_LINUX in a way that cannot be followed" + REFUSING,
    "readonly": (
        "f0.cfg:1: readonly GRUB_CMDLINE_LINUX: readonly is not a plain assignment in /bin/sh (readonly breaks "
        "later assignments, local/declare/typeset differ between shells)" + REFUSING
    ),
    "prefix": (
        "f0.cfg:1: GRUB_CMDLINE_LINUX is assigned as a prefix of a command; whether it persists depends on the "
        "command" + REFUSING
    ),
    "assign-default-op": "f0.cfg:1: ${GRUB_CMDLINE_LINUX:=...} assigns GRUB_CMDLINE_LINUX" + REFUSING,
    "computed-command": (
        "f0.cfg:2: the command name is computed at run time; it could be anything (eval, ., export ...)" + REFUSING
    ),
    "exit": "f0.cfg:1: exit would stop grub-mkconfig itself",
    "tilde": "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on tilde expansion at f0.cfg:1" + REFUSING,
    "unterminated-quote": "f0.cfg:2: unterminated double quote",
    "missing-fi": "f0.cfg:3: syntax error: 'fi' expected",
    "second-file-line": "f1.cfg:3: GRUB_CMDLINE_LINUX is assigned inside an if-block (line 3)" + REFUSING,
}


def message(files):
    with pytest.raises(ShellError) as err:
        follow([(f"f{i}.cfg", t) for i, t in enumerate(files)])
    return str(err.value)


def test_every_refused_snippet_has_its_message_here():
    assert sorted(EXACT) == sorted(REFUSED)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_the_whole_refusal_message(name):
    assert message(REFUSED[name][0]) == EXACT[name]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'X=1 true\nGRUB_CMDLINE_LINUX="$X"\n',  # X is unknown after it (a special builtin would keep it)
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (prefix assignment of a command at f0.cfg:1)",
        ),
        (
            '\nA=1 X=2 B=3 :\nGRUB_CMDLINE_LINUX_DEFAULT="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX_DEFAULT depends on $X (prefix assignment of a command at "
            "f0.cfg:2)",
        ),
        ("exec true\n", "f0.cfg:1: exec would replace grub-mkconfig's shell"),
        ("command exec /bin/true\n", "f0.cfg:1: exec would replace grub-mkconfig's shell"),
        ('C=x\ncommand "$C" X\n', "f0.cfg:2: the command name after command is computed at run time"),
        ("command command $(echo unset)\n", "f0.cfg:1: the command name after command is computed at run time"),
        (
            '[ -f /nonexistent ] && exit 0\nGRUB_CMDLINE_LINUX="b"\n',
            "f0.cfg:2: GRUB_CMDLINE_LINUX is assigned after a conditional 'exit' at f0.cfg:1",
        ),
        (  # the first conditional end is the one named
            "[ -f /x ] && return\n[ -f /y ] && exit 1\nunset GRUB_CMDLINE_LINUX\n",
            "f0.cfg:3: GRUB_CMDLINE_LINUX is unset after a conditional 'return' at f0.cfg:1",
        ),
        (
            "GRUB_CMDLINE_LINUX=a\ntrue || unset GRUB_CMDLINE_LINUX\n",
            "f0.cfg:2: GRUB_CMDLINE_LINUX is unset after && or ||",
        ),
        ("X=GRUB_CMDLINE_LINUX\nunset $X\n", "f0.cfg:2: unset of a computed name"),
        (  # the function may be called later
            "g() { [ -f /x ] && return 1; unset GRUB_CMDLINE_LINUX_DEFAULT; }\n",
            "f0.cfg:1: GRUB_CMDLINE_LINUX_DEFAULT is unset inside function g() defined at line 1",
        ),
        (
            'X=a\nif true; then unset X; fi\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (unset inside an if-block (line 2) at f0.cfg:2)",
        ),
        ("export ${P}GRUB_CMDLINE_LINUX=1\n", "f0.cfg:1: export of a computed name cannot be followed"),
        (
            "X+=1\nGRUB_CMDLINE_LINUX=$X\n",
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (bash-only += at f0.cfg:1)",
        ),
        (
            'for i in a "$(echo b)"; do :; done\nGRUB_CMDLINE_LINUX="$i"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $i (loop variable of the for loop at f0.cfg:1)",
        ),
    ],
)
def test_command_forms_are_refused_with_their_reason(text, expected):
    assert message([text]) == expected + REFUSING


@pytest.mark.parametrize(
    "text",
    [
        "GRUB_CMDLINE_LINUX=a\ncommand unset GRUB_CMDLINE_LINUX\n",  # command runs the builtin in this shell
        "GRUB_CMDLINE_LINUX=a\ncommand command unset GRUB_CMDLINE_LINUX\n",
        "command export GRUB_CMDLINE_LINUX='b c'\n",
        "exec 3>/dev/null\nGRUB_CMDLINE_LINUX=a\n",  # exec with redirections only keeps the shell
        "exec\nGRUB_CMDLINE_LINUX=a\n",
        "f() { return; exit 1; }\nGRUB_CMDLINE_LINUX=a\n",  # defined, never called
        "g() { [ -f /x ] && return 1; unset Y; }\nGRUB_CMDLINE_LINUX=b\n",
        "GRUB_CMDLINE_LINUX=a\nunset -f GRUB_CMDLINE_LINUX\n",  # a function of that name, not the variable
        "GRUB_CMDLINE_LINUX=a\nunset -f g -v\nGRUB_CMDLINE_LINUX_DEFAULT=d\n",
        "GRUB_CMDLINE_LINUX=a\nunset -v GRUB_CMDLINE_LINUX\n",
        'X=a\nunset X\nGRUB_CMDLINE_LINUX="[$X]"\n',
        'X=a\nunset Y X\nGRUB_CMDLINE_LINUX="[$X]"\n',
        "export X GRUB_CMDLINE_LINUX=e\nexport -p >/dev/null\n",
        'readonly -p >/dev/null\nreadonly Y=1\nGRUB_CMDLINE_LINUX="$Y"\n',
        "X=1 :\nGRUB_CMDLINE_LINUX=after-prefix\n",
        "true && X=1\nGRUB_CMDLINE_LINUX=sure\n",
    ],
)
def test_command_forms_give_what_sh_gives(text, tmp_path):
    assert parser_values([text]) == sh_values([text], tmp_path)


def test_a_conditional_end_in_one_file_leaves_the_next_file_sure():
    files = ["[ -f /nonexistent ] && return\n", 'GRUB_CMDLINE_LINUX="b"\n']
    assert parser_values(files) == ("b", "<unset>")


def test_an_unset_after_a_conditional_end_leaves_the_name_unknown_to_the_next_file():
    files = ["X=a\n[ -f /x ] && return\nunset X\n", 'GRUB_CMDLINE_LINUX="$X"\n']
    assert message(files) == (
        "f1.cfg:1: the value of GRUB_CMDLINE_LINUX depends on $X (unset after a conditional 'return' at f0.cfg:2 "
        "at f0.cfg:3)" + REFUSING
    )
