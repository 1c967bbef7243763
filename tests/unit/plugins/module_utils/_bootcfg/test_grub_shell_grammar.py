"""The grammar of the GRUB defaults follower (``_bootcfg.grub_shell.Parser`` and ``ShellState._run``):
redirections after compound commands, ``!``, background jobs, if/elif/else, until, the forms of
for and case, function definitions, the syntax errors' texts, and where a conditional or a
subshell says it is (found by `make mutation`: these forms were parsed by no test, or only in a
snippet where a wrong parse changed nothing).

Values the follower knows are judged by the real /bin/sh (dash: test_grub_shell.sh_values);
refusals and syntax errors are written out by hand.
"""

import pytest
from test_grub_shell import REFUSING, parser_values, refusal, sh_values

FOLLOWED = {
    "group-redirected": "{ GRUB_CMDLINE_LINUX=a; } >/dev/null 2>&1\n",
    "if-redirected": "if true; then X=1; fi 2>/dev/null\nGRUB_CMDLINE_LINUX=ok\n",
    "while-redirected": "while false; do :; done </dev/null\nGRUB_CMDLINE_LINUX=w\n",
    "subshell-redirected": "( GRUB_CMDLINE_LINUX=sub ) >/dev/null\nGRUB_CMDLINE_LINUX_DEFAULT=d\n",
    "for-redirected": "for i in a; do :; done >/dev/null\nGRUB_CMDLINE_LINUX=f\n",
    "case-redirected": "case a in a) ;; esac >/dev/null\nGRUB_CMDLINE_LINUX=c\n",
    "bang-runs-here": "! GRUB_CMDLINE_LINUX=bang\n",
    "bang-pipeline-does-not": "GRUB_CMDLINE_LINUX=a\n! GRUB_CMDLINE_LINUX=b | cat\n",
    "background-does-not": "GRUB_CMDLINE_LINUX=a\nGRUB_CMDLINE_LINUX=b &\nwait\n",
    "background-then-more": "GRUB_CMDLINE_LINUX_DEFAULT=x & GRUB_CMDLINE_LINUX=y\nwait\n",
    "pipeline-over-lines": "echo a |\n  cat >/dev/null\nGRUB_CMDLINE_LINUX=p\n",
    "and-over-lines": "true &&\n  X=1\nGRUB_CMDLINE_LINUX=a\n",
    "until": "until true; do :; done\nGRUB_CMDLINE_LINUX=u\n",
    "if-else": "if false; then X=1; else Y=2; fi\nGRUB_CMDLINE_LINUX=e\n",
    "if-elif-fi": "if false; then :; elif true; then X=1; fi\nGRUB_CMDLINE_LINUX=e\n",
    "if-elif-elif-else": (
        "if false; then :\nelif false; then :\nelif true; then Z=3\nelse :\nfi\nGRUB_CMDLINE_LINUX=e\n"
    ),
    "for-on-lines": "for i in a b\ndo\n:\ndone\nGRUB_CMDLINE_LINUX=f\n",
    "for-without-in": "for j\ndo :; done\nfor k; do :; done\nGRUB_CMDLINE_LINUX=f\n",
    "case-forms": "case a in (a|b) X=1 ;; c) Y=2 ;; *) ;; esac\ncase b in b) :\nesac\nGRUB_CMDLINE_LINUX=c\n",
    "function-over-lines": "f ()\n{\n  X=1\n}\nGRUB_CMDLINE_LINUX=g\n",
    "fd-redirections": "echo x 2>/dev/null 1>&2\n{ :; } 2>/dev/null\nGRUB_CMDLINE_LINUX=r\n",
    "digit-argument": "echo 2 >/dev/null\nGRUB_CMDLINE_LINUX=2\n",
}


@pytest.mark.parametrize("name", sorted(FOLLOWED))
def test_compound_forms_give_what_sh_gives(name, tmp_path):
    assert parser_values([FOLLOWED[name]]) == sh_values([FOLLOWED[name]], tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("( true\n", "f0.cfg:2: syntax error: expected ')'"),
        ("function\n", "f0.cfg:1: syntax error: function name expected"),
        ("function f ( x\n", "f0.cfg:1: syntax error in function definition"),
        ("\nf ( x )\n", "f0.cfg:2: syntax error in function definition"),
        (";\n", "f0.cfg:1: syntax error near ';'"),
        ("if true; then :; fi\n|\n", "f0.cfg:2: syntax error near '|'"),
        ("{ :; } > \n", "f0.cfg:1: syntax error: redirection target expected after '>'"),
        ("case a in\n", "f0.cfg:1: syntax error: 'esac' expected"),
        ("case a in a b) ;; esac\n", "f0.cfg:1: syntax error in case pattern"),
        ("for 1x in a; do :; done\n", "f0.cfg:1: syntax error: bad for loop variable"),
        ("for i in a | do :; done\n", "f0.cfg:1: syntax error: expected 'do', found '|'"),
        ("case a in a) echo )\n;; esac\n", "f0.cfg:1: syntax error in case pattern"),
    ]
    + [(f"\n{word} x\n", f"f0.cfg:2: syntax error: unexpected '{word}'") for word in ("then", "else", "elif", "fi")]
    + [(f"{word}\n", f"f0.cfg:1: syntax error: unexpected '{word}'") for word in ("do", "done", "esac", "}", "in")],
)
def test_syntax_errors_name_the_line_and_what_was_found(text, expected):
    assert refusal(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "function f { GRUB_CMDLINE_LINUX=1; }\n",
            "f0.cfg:1: GRUB_CMDLINE_LINUX is assigned inside function f() defined at line 1",
        ),
        (
            'function g() {\n  X=1\n}\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:4: the value of GRUB_CMDLINE_LINUX depends on $X (assigned inside function g() defined at "
            "line 1 at f0.cfg:2)",
        ),
        (
            "until false; do GRUB_CMDLINE_LINUX=1; done\n",
            "f0.cfg:1: GRUB_CMDLINE_LINUX is assigned inside an until loop (line 1)",
        ),
        (
            "\nwhile false; do\n GRUB_CMDLINE_LINUX_DEFAULT=1\ndone\n",
            "f0.cfg:3: GRUB_CMDLINE_LINUX_DEFAULT is assigned inside a while loop (line 2)",
        ),
        (  # the outer condition is the one named
            "true && if true; then GRUB_CMDLINE_LINUX=1; fi\n",
            "f0.cfg:1: GRUB_CMDLINE_LINUX is assigned after && or ||",
        ),
        (
            "if true; then\n  for i in a; do\n    GRUB_CMDLINE_LINUX=1\n  done\nfi\n",
            "f0.cfg:3: GRUB_CMDLINE_LINUX is assigned inside an if-block (line 1)",
        ),
        (
            'unset X\n( case ${X=a} in *) ;; esac )\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (${X=...} in a ( subshell ))",
        ),
        (
            'unset X\ncase ${X=a} in *) ;; esac | cat\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (${X=...} in a pipeline)",
        ),
        (
            'unset X\ncase ${X=a} in *) ;; esac &\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (${X=...} in a background job)",
        ),
        (  # a digit next to a redirection is its descriptor, not an argument
            'X=1\nread X</dev/null\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:3: the value of GRUB_CMDLINE_LINUX depends on $X (read at f0.cfg:2)",
        ),
        (  # "2" is a command (not found): X=1 is its prefix
            'X=1 2;\nGRUB_CMDLINE_LINUX="$X"\n',
            "f0.cfg:2: the value of GRUB_CMDLINE_LINUX depends on $X (prefix assignment of a command at f0.cfg:1)",
        ),
    ],
)
def test_conditions_and_subshells_say_where_they_are(text, expected):
    assert refusal(text) == expected + REFUSING


def test_a_bash_fallthrough_in_case_is_read_as_the_end_of_an_item():
    # ";&" is bash's (dash has no such terminator, so /bin/sh cannot judge this one)
    assert parser_values(["case a in a) X=1 ;& b) Y=2 ;; esac\nGRUB_CMDLINE_LINUX=c\n"]) == ("c", "<unset>")


def test_a_length_or_pattern_of_a_special_parameter_is_unknown():
    assert refusal('GRUB_CMDLINE_LINUX="${#-x}"\n') == (
        "f0.cfg:1: the value of GRUB_CMDLINE_LINUX depends on ${...} pattern or length expansion at f0.cfg:1" + REFUSING
    )
