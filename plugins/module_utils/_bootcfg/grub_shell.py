# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Follow /etc/default/grub and its drop-ins the way grub-mkconfig's ``/bin/sh`` would, without running them.

Target side: standard library only, importable by Python 3.6+.

grub-mkconfig does ``. /etc/default/grub`` and then ``. "$x"`` for every
/etc/default/grub.d/*.cfg in glob order. Those files are shell and may hold any code (one seen
in the wild writes /boot/grub/custom.cfg from a heredoc), so they are never executed here. This
module parses the POSIX shell grammar (simple commands, pipelines, and-or lists, ``{ }``,
``( )``, if/while/until/for/case, functions, heredocs, comments) and evaluates only what
can change a variable: assignments with single/double quotes, backslashes and
backslash-newline continuations, ``$VAR``/``${VAR}`` and ``${VAR:-w}``/``-``/``:+``/``+``/
``:=``/``=``/``:?``/``?`` expansions, ``export``/``readonly``, ``unset``.

Every character of a variable's value remembers where it came from (file and offset), so a
caller can edit the exact bytes that produced a kernel parameter.

What cannot be followed is refused with ``ShellError`` naming file and line when it could
change a watched variable (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT): an assignment
inside if/case/loops/functions/``&&``/``||``, a value from command substitution, arithmetic,
tilde or an unknown variable, ``eval``, ``.``/``source`` of another file, ``read``, bash-only
``+=`` and arrays, a command whose name is computed. Everything else (other variables,
heredocs, conditionals that do not touch the watched names, commands) is tolerated: other
variables assigned in ways that cannot be followed just become "unknown", which only matters
when they later flow into a watched variable.

Semantics were checked against dash 0.5.12 (Debian's /bin/sh) by the unit tests, which
source every safe corpus file with the real /bin/sh and compare values byte for byte.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import re

WATCHED = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_APPEND_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+=")
_ARITH_ASSIGN_RE = re.compile(
    r"(?:\+\+|--)\s*([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*)\s*(?:\+\+|--|(?:<<|>>|[-+*/%&|^])?=(?!=))"
)
_METACHARS = " \t\n;&|<>()"
_OPERATORS = ("<<-", "&&", "||", ";;", ";&", "<<", ">>", "<&", ">&", "<>", ">|", "&", "|", ";", "<", ">", "(", ")")
_REDIRECTS = ("<<-", "<<", ">>", "<&", ">&", "<>", ">|", "<", ">")
_RESERVED = (
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "do",
    "done",
    "case",
    "esac",
    "while",
    "until",
    "for",
    "{",
    "}",
    "!",
    "in",
    "function",
)
_SPECIAL_PARAMS = "@*#?$!-0123456789"
_DECLARE = ("export", "readonly", "local", "declare", "typeset")
_READS = ("read", "getopts", "mapfile", "readarray")
_SOURCES = (".", "source", "eval")


_DQ_SPECIAL_RE = re.compile(r'["\\$`]')
_WORD_SPECIAL = {}


def _word_special_re(terminators):
    """Regex finding the next character a word scan must look at (cached per terminator set)."""
    rx = _WORD_SPECIAL.get(terminators)
    if rx is None:
        rx = _WORD_SPECIAL[terminators] = re.compile("[%s]" % re.escape(terminators + "\\'\"$`"))
    return rx


def _shown(tok, eof="end of file"):
    """How an error message shows a token: operators and reserved words as they are, anything
    else as "a word" - a message never echoes the file's text (a drop-in may be a link to a
    secret)."""
    if tok.kind == "EOF" or not tok.text:
        return eof
    if tok.kind == "NL":
        return "end of line"
    if tok.kind == "OP" or tok.text in _RESERVED:
        return "'%s'" % tok.text
    return "a word"


class ShellError(Exception):
    """Code that cannot be followed safely, with the file and line it sits on."""

    def __init__(self, path, line, message):
        Exception.__init__(self, "%s:%d: %s" % (path, line, message))
        self.path = path
        self.line = line
        self.message = message


# --------------------------------------------------------------------------- values
class Value(object):
    """A shell string whose characters carry their origin ``(file_index, offset)`` or None.

    ``unknown`` is None for a known value, else the reason it cannot be known. Characters are
    collected in a list and joined on demand, so building a value is linear in its length (a
    256k-token GRUB_CMDLINE_LINUX used to take 42 s through repeated string concatenation).
    """

    __slots__ = ("_chars", "_text", "origins", "unknown")

    def __init__(self, text="", origins=None, unknown=None):
        self._text = text
        self._chars = None
        self.origins = list(origins) if origins is not None else [None] * len(text)
        self.unknown = unknown

    @property
    def text(self):
        if self._chars is not None:
            self._text += "".join(self._chars)
            self._chars = None
        return self._text

    def _pending(self):
        if self._chars is None:
            self._chars = []
        return self._chars

    @classmethod
    def unknown_because(cls, reason):
        return cls("", [], reason)

    def append(self, other):
        if self.unknown is None and other.unknown is not None:
            self.unknown = other.unknown
        self._pending().append(other.text)
        self.origins.extend(other.origins)

    def extend(self, text, origins):
        """Append several characters at once (``origins`` one per character)."""
        self._pending().append(text)
        self.origins.extend(origins)

    def copy(self):
        return Value(self.text, self.origins, self.unknown)

    def __repr__(self):
        if self.unknown is not None:
            return "Value(unknown: %s)" % self.unknown
        return "Value(%r)" % (self.text,)


class Source(object):
    """One file's text plus the index used in origins and the path used in messages."""

    def __init__(self, index, path, text):
        self.index = index
        self.path = path
        self.text = text
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, pos):
        return bisect.bisect_right(self._starts, pos)


# --------------------------------------------------------------------------- word parts
# A word is a list of parts:
#   ("lit", [(ch, pos, escaped), ...])          unquoted characters (backslashes removed)
#   ("sq", [(ch, pos), ...], open_pos, close_pos)
#   ("dq", [parts...], open_pos, close_pos)      inner parts: lit / param / cmdsub / arith
#   ("param", name, op, arg_parts_or_None, start, end)
#   ("cmdsub", start, end) ("arith", text, start, end) ("ansi", start, end)


class Token(object):
    __slots__ = ("kind", "text", "start", "end", "parts")

    def __init__(self, kind, text, start, end, parts=None):
        self.kind = kind  # WORD, OP, NL, EOF
        self.text = text
        self.start = start
        self.end = end
        self.parts = parts

    def __repr__(self):
        return "Token(%s %r)" % (self.kind, self.text)


class Lexer(object):
    def __init__(self, src):
        self.src = src
        self.text = src.text
        self.n = len(self.text)
        self.pos = 0
        self.pending_heredocs = []
        self.buf = []

    def error(self, pos, message):
        raise ShellError(self.src.path, self.src.line_of(pos), message)

    # ----- token stream with lookahead
    def peek(self, k=0):
        while len(self.buf) <= k:
            self.buf.append(self._lex())
        return self.buf[k]

    def next(self):
        tok = self.peek()
        self.buf.pop(0)
        return tok

    def add_heredoc(self, delim, strip_tabs):
        self.pending_heredocs.append((delim, strip_tabs))

    # ----- lexing
    def _skip_blanks(self):
        text = self.text
        while self.pos < self.n:
            c = text[self.pos]
            if c in " \t":
                self.pos += 1
            elif c == "\\" and self.pos + 1 < self.n and text[self.pos + 1] == "\n":
                self.pos += 2
            else:
                break

    def _lex(self):
        self._skip_blanks()
        text = self.text
        if self.pos >= self.n:
            return Token("EOF", "", self.n, self.n)
        c = text[self.pos]
        if c == "#":
            end = text.find("\n", self.pos)
            self.pos = self.n if end < 0 else end
            return self._lex()
        if c == "\n":
            start = self.pos
            self.pos += 1
            self._read_heredocs()
            return Token("NL", "\n", start, start + 1)
        for op in _OPERATORS:
            if text.startswith(op, self.pos):
                start = self.pos
                self.pos += len(op)
                return Token("OP", op, start, self.pos)
        start = self.pos
        parts, end = self._scan_word(start, terminators=_METACHARS, in_brace=False)
        self.pos = end
        return Token("WORD", text[start:end], start, end, parts)

    def _read_heredocs(self):
        text = self.text
        while self.pending_heredocs:
            delim, strip_tabs = self.pending_heredocs.pop(0)
            while True:
                if self.pos >= self.n:
                    return  # dash: "here-document delimited by end-of-file"; accepted
                end = text.find("\n", self.pos)
                line_end = self.n if end < 0 else end
                line = text[self.pos : line_end]
                self.pos = self.n if end < 0 else end + 1
                if strip_tabs:
                    line = line.lstrip("\t")
                if line == delim:
                    break

    # ----- words
    def _scan_word(self, pos, terminators, in_brace, in_dq=False):
        """Parse a word from ``pos`` until an unquoted terminator; return (parts, end)."""
        text = self.text
        n = self.n
        parts = []
        lit = []

        def flush():
            if lit:
                parts.append(("lit", list(lit)))
                del lit[:]

        while pos < n:
            c = text[pos]
            if c in terminators:
                break
            if c == "\\":
                if pos + 1 < n and text[pos + 1] == "\n":
                    pos += 2
                    continue
                if pos + 1 < n:
                    if in_dq and text[pos + 1] not in '$`"\\}':
                        lit.append(("\\", pos, False))
                        pos += 1
                        continue
                    lit.append((text[pos + 1], pos + 1, True))
                    pos += 2
                    continue
                lit.append(("\\", pos, False))
                pos += 1
                continue
            if c == "'" and not in_dq:
                end = text.find("'", pos + 1)
                if end < 0:
                    self.error(pos, "unterminated single quote")
                flush()
                parts.append(("sq", [(text[i], i) for i in range(pos + 1, end)], pos, end))
                pos = end + 1
                continue
            if c == '"':
                flush()
                sub, end = self._scan_dq(pos + 1)
                parts.append(("dq", sub, pos, end))
                pos = end + 1
                continue
            if c == "$":
                flush()
                pos = self._scan_dollar(pos, parts, in_dq)
                continue
            if c == "`":
                flush()
                end = self._skip_backtick(pos + 1)
                parts.append(("cmdsub", pos, end))
                pos = end
                continue
            m = _word_special_re(terminators).search(text, pos + 1)
            stop = m.start() if m else n
            lit.extend([(text[i], i, False) for i in range(pos, stop)])
            pos = stop
        flush()
        if in_brace and (pos >= n or text[pos] != "}"):
            self.error(pos, "unterminated ${...}")
        return parts, pos

    def _scan_dq(self, pos):
        """Parts inside double quotes starting after the opening quote; returns (parts, close_pos)."""
        text = self.text
        n = self.n
        parts = []
        lit = []

        def flush():
            if lit:
                parts.append(("lit", list(lit)))
                del lit[:]

        start = pos
        while True:
            if pos >= n:
                self.error(start - 1, "unterminated double quote")
            c = text[pos]
            if c == '"':
                flush()
                return parts, pos
            if c == "\\" and pos + 1 < n:
                nxt = text[pos + 1]
                if nxt == "\n":
                    pos += 2
                    continue
                if nxt in '$`"\\':
                    lit.append((nxt, pos + 1, True))
                    pos += 2
                    continue
                lit.append(("\\", pos, False))
                pos += 1
                continue
            if c == "$":
                flush()
                pos = self._scan_dollar(pos, parts, True)
                continue
            if c == "`":
                flush()
                end = self._skip_backtick(pos + 1)
                parts.append(("cmdsub", pos, end))
                pos = end
                continue
            # A run of plain characters at once (linear time, few Python steps per character).
            m = _DQ_SPECIAL_RE.search(text, pos + 1)
            stop = m.start() if m else n
            lit.extend([(text[i], i, False) for i in range(pos, stop)])
            pos = stop

    def _scan_dollar(self, pos, parts, in_dq):
        """``text[pos] == '$'``: append one expansion part (or a literal $); return the new pos."""
        text = self.text
        n = self.n
        nxt = text[pos + 1] if pos + 1 < n else ""
        if nxt == "{":
            return self._scan_brace_param(pos, parts, in_dq)
        if nxt == "(":
            if text.startswith("((", pos + 1):
                end = self._skip_parens(pos + 3, depth=2)
                parts.append(("arith", text[pos + 3 : end - 2], pos, end))
                return end
            end = self._skip_parens(pos + 2, depth=1)
            parts.append(("cmdsub", pos, end))
            return end
        if nxt and (nxt.isalpha() or nxt == "_") and nxt < "\x80":
            m = _NAME_RE.match(text, pos + 1)
            parts.append(("param", m.group(0), None, None, pos, m.end()))
            return m.end()
        if nxt and nxt in _SPECIAL_PARAMS:
            parts.append(("param", nxt, None, None, pos, pos + 2))
            return pos + 2
        if nxt == "'" and not in_dq:
            # $'...' : bash expands escapes, dash keeps a literal "$" then a quoted string.
            end = pos + 2
            while end < n and text[end] != "'":
                end += 2 if text[end] == "\\" else 1
            if end >= n:
                self.error(pos, "unterminated $'...'")
            parts.append(("ansi", pos, end + 1))
            return end + 1
        parts.append(("lit", [("$", pos, False)]))
        return pos + 1

    def _scan_brace_param(self, pos, parts, in_dq):
        text = self.text
        n = self.n
        i = pos + 2
        if i < n and text[i] == "#" and i + 1 < n and text[i + 1] != "}":
            end = self._skip_to_brace(i)
            parts.append(("param", None, "length", None, pos, end))
            return end
        m = _NAME_RE.match(text, i)
        if m:
            name = m.group(0)
            i = m.end()
        elif i < n and text[i] in _SPECIAL_PARAMS:
            name = text[i]
            i += 1
        else:
            self.error(pos, "bad substitution ${...}")
        if i < n and text[i] == "}":
            parts.append(("param", name, None, None, pos, i + 1))
            return i + 1
        for op in (":-", ":=", ":+", ":?", "-", "=", "+", "?"):
            if text.startswith(op, i):
                arg, end = self._scan_word(i + len(op), terminators="}", in_brace=True, in_dq=in_dq)
                parts.append(("param", name, op, arg, pos, end + 1))
                return end + 1
        end = self._skip_to_brace(i)
        parts.append(("param", name, "pattern", None, pos, end))
        return end

    def _skip_to_brace(self, pos):
        """Skip a ${...} body we do not evaluate; return the position after the closing brace."""
        _parts, end = self._scan_word(pos, terminators="}", in_brace=True)
        return end + 1

    def _skip_backtick(self, pos):
        text = self.text
        start = pos
        while pos < self.n:
            c = text[pos]
            if c == "\\":
                pos += 2
                continue
            if c == "`":
                return pos + 1
            pos += 1
        self.error(start - 1, "unterminated backquote")

    def _skip_parens(self, pos, depth):
        """Skip the body of $( ) or $(( )); return the position after the closing parenthesis."""
        text = self.text
        n = self.n
        start = pos
        prev_blank = True
        while pos < n:
            c = text[pos]
            if c == "\\":
                pos += 2
                prev_blank = False
                continue
            if c == "'":
                end = text.find("'", pos + 1)
                if end < 0:
                    self.error(pos, "unterminated single quote")
                pos = end + 1
            elif c == '"':
                _p, end = self._scan_dq(pos + 1)
                pos = end + 1
            elif c == "`":
                pos = self._skip_backtick(pos + 1)
            elif c == "#" and prev_blank:
                end = text.find("\n", pos)
                pos = n if end < 0 else end
            elif c == "(":
                depth += 1
                pos += 1
            elif c == ")":
                depth -= 1
                pos += 1
                if depth == 0:
                    return pos
            else:
                pos += 1
            prev_blank = c in " \t\n;&|("
        self.error(start, "unterminated $( ... )")


# --------------------------------------------------------------------------- parser
# Nodes: ("simple", assigns, words, line, start) ; assigns: [(name, value_parts, token, kind)]
#        ("andor", [pipelines]) ("pipeline", [commands], bang) ("group", body) ("subshell", body)
#        ("cond", kind, [bodies], line, extra_words) ("func", name, body, line) ("background", node)


class Parser(object):
    def __init__(self, src):
        self.src = src
        self.lx = Lexer(src)

    def error(self, tok, message):
        raise ShellError(self.src.path, self.src.line_of(tok.start), message)

    def line(self, tok):
        return self.src.line_of(tok.start)

    # ----- helpers
    def is_word(self, tok, word):
        return tok.kind == "WORD" and tok.text == word

    def is_op(self, tok, op):
        return tok.kind == "OP" and tok.text == op

    def skip_newlines(self):
        while self.lx.peek().kind == "NL":
            self.lx.next()

    def expect_word(self, word):
        tok = self.lx.next()
        if not self.is_word(tok, word):
            self.error(tok, "syntax error: expected '%s', found %s" % (word, _shown(tok)))
        return tok

    # ----- grammar
    def parse_program(self):
        body = self.parse_list(terminators=())
        tok = self.lx.peek()
        if tok.kind != "EOF":
            self.error(tok, "syntax error near %s" % _shown(tok))
        return body

    def at_terminator(self, terminators):
        tok = self.lx.peek()
        if tok.kind == "EOF":
            return True
        if tok.kind == "OP" and tok.text in (")", ";;", ";&"):
            return True
        return tok.kind == "WORD" and tok.text in terminators

    def parse_list(self, terminators):
        items = []
        while True:
            self.skip_newlines()
            if self.at_terminator(terminators):
                return items
            node = self.parse_and_or()
            tok = self.lx.peek()
            if self.is_op(tok, "&"):
                self.lx.next()
                node = ("background", node)
            elif self.is_op(tok, ";"):
                self.lx.next()
            elif tok.kind not in ("NL", "EOF") and not self.at_terminator(terminators):
                self.error(tok, "syntax error near %s" % _shown(tok))
            items.append(node)

    def parse_and_or(self):
        pipes = [self.parse_pipeline()]
        while True:
            tok = self.lx.peek()
            if tok.kind == "OP" and tok.text in ("&&", "||"):
                self.lx.next()
                self.skip_newlines()
                pipes.append(self.parse_pipeline())
            else:
                break
        return pipes[0] if len(pipes) == 1 else ("andor", pipes)

    def parse_pipeline(self):
        bang = False
        if self.is_word(self.lx.peek(), "!"):
            self.lx.next()
            bang = True
        cmds = [self.parse_command()]
        while self.is_op(self.lx.peek(), "|"):
            self.lx.next()
            self.skip_newlines()
            cmds.append(self.parse_command())
        if len(cmds) == 1 and not bang:
            return cmds[0]
        return ("pipeline", cmds, bang)

    def parse_command(self):
        tok = self.lx.peek()
        if tok.kind == "OP" and tok.text == "(":
            self.lx.next()
            body = self.parse_list(terminators=())
            close = self.lx.next()
            if not self.is_op(close, ")"):
                self.error(close, "syntax error: expected ')'")
            self.parse_redirects()
            return ("subshell", body)
        if tok.kind == "WORD":
            word = tok.text
            if word == "{":
                self.lx.next()
                body = self.parse_list(terminators=("}",))
                self.expect_word("}")
                self.parse_redirects()
                return ("group", body)
            if word == "if":
                return self.parse_if()
            if word in ("while", "until"):
                self.lx.next()
                cond = self.parse_list(terminators=("do",))
                self.expect_word("do")
                body = self.parse_list(terminators=("done",))
                self.expect_word("done")
                self.parse_redirects()
                return ("cond", word, [cond, body], self.line(tok), [])
            if word == "for":
                return self.parse_for()
            if word == "case":
                return self.parse_case()
            if word == "function":
                self.lx.next()
                name = self.lx.next()
                if name.kind != "WORD":
                    self.error(name, "syntax error: function name expected")
                if self.is_op(self.lx.peek(), "("):
                    self.lx.next()
                    if not self.is_op(self.lx.next(), ")"):
                        self.error(name, "syntax error in function definition")
                self.skip_newlines()
                body = self.parse_command()
                return ("func", name.text, [body], self.line(tok))
            if word in ("then", "else", "elif", "fi", "do", "done", "esac", "}", "in"):
                self.error(tok, "syntax error: unexpected '%s'" % word)
            if _NAME_RE.fullmatch(word) and self.is_op(self.lx.peek(1), "("):
                self.lx.next()
                self.lx.next()
                if not self.is_op(self.lx.next(), ")"):
                    self.error(tok, "syntax error in function definition")
                self.skip_newlines()
                body = self.parse_command()
                return ("func", word, [body], self.line(tok))
        return self.parse_simple()

    def parse_if(self):
        tok = self.lx.next()
        bodies = []
        bodies.append(self.parse_list(terminators=("then",)))
        self.expect_word("then")
        bodies.append(self.parse_list(terminators=("elif", "else", "fi")))
        while True:
            t = self.lx.next()
            if self.is_word(t, "elif"):
                bodies.append(self.parse_list(terminators=("then",)))
                self.expect_word("then")
                bodies.append(self.parse_list(terminators=("elif", "else", "fi")))
            elif self.is_word(t, "else"):
                bodies.append(self.parse_list(terminators=("fi",)))
                self.expect_word("fi")
                break
            elif self.is_word(t, "fi"):
                break
            else:
                self.error(t, "syntax error: 'fi' expected")
        self.parse_redirects()
        return ("cond", "if", bodies, self.line(tok), [])

    def parse_for(self):
        tok = self.lx.next()
        var = self.lx.next()
        if var.kind != "WORD" or not _NAME_RE.fullmatch(var.text):
            self.error(var, "syntax error: bad for loop variable")
        words = []
        self.skip_newlines()
        if self.is_word(self.lx.peek(), "in"):
            self.lx.next()
            while self.lx.peek().kind == "WORD":
                words.append(self.lx.next())
            sep = self.lx.peek()
            if self.is_op(sep, ";") or sep.kind == "NL":
                self.lx.next()
            self.skip_newlines()
        elif self.is_op(self.lx.peek(), ";"):
            self.lx.next()
            self.skip_newlines()
        self.expect_word("do")
        body = self.parse_list(terminators=("done",))
        self.expect_word("done")
        self.parse_redirects()
        return ("cond", "for", [body], self.line(tok), [var.text, *words])

    def parse_case(self):
        tok = self.lx.next()
        subject = self.lx.next()
        if subject.kind != "WORD":
            self.error(subject, "syntax error: word expected after 'case'")
        self.skip_newlines()
        self.expect_word("in")
        bodies = []
        while True:
            self.skip_newlines()
            t = self.lx.peek()
            if self.is_word(t, "esac"):
                self.lx.next()
                break
            if t.kind == "EOF":
                self.error(tok, "syntax error: 'esac' expected")
            if self.is_op(t, "("):
                self.lx.next()
            while True:
                pat = self.lx.next()
                if pat.kind != "WORD":
                    self.error(pat, "syntax error in case pattern")
                sep = self.lx.next()
                if self.is_op(sep, ")"):
                    break
                if not self.is_op(sep, "|"):
                    self.error(sep, "syntax error in case pattern")
            bodies.append(self.parse_list(terminators=("esac",)))
            t = self.lx.peek()
            if t.kind == "OP" and t.text in (";;", ";&"):
                self.lx.next()
        self.parse_redirects()
        return ("cond", "case", bodies, self.line(tok), [subject])

    def parse_redirects(self):
        while True:
            tok = self.lx.peek()
            if tok.kind == "OP" and tok.text in _REDIRECTS:
                self.parse_one_redirect()
            elif tok.kind == "WORD" and tok.text.isdigit() and self._adjacent_redirect(tok):
                self.lx.next()
            else:
                return

    def _adjacent_redirect(self, tok):
        nxt = self.lx.peek(1)
        return nxt.kind == "OP" and nxt.text in _REDIRECTS and nxt.start == tok.end

    def parse_one_redirect(self):
        op = self.lx.next()
        target = self.lx.next()
        if target.kind != "WORD":
            self.error(op, "syntax error: redirection target expected after %r" % op.text)
        if op.text in ("<<", "<<-"):
            delim = "".join(_strip_quotes(target.parts, self.src.text))
            self.lx.add_heredoc(delim, op.text == "<<-")

    def parse_simple(self):
        assigns = []
        words = []
        first = self.lx.peek()
        while True:
            tok = self.lx.peek()
            if tok.kind == "WORD":
                if tok.text.isdigit() and self._adjacent_redirect(tok):
                    self.lx.next()
                    continue
                if not words:
                    m = _ASSIGN_RE.match(tok.text)
                    if m:
                        self.lx.next()
                        nxt = self.lx.peek()
                        if self.is_op(nxt, "(") and nxt.start == tok.end:
                            self._skip_array(nxt)
                            assigns.append((m.group(1), None, tok, "array"))
                        else:
                            assigns.append((m.group(1), _value_parts(tok, len(m.group(0))), tok, "assign"))
                        continue
                words.append(self.lx.next())
            elif tok.kind == "OP" and tok.text in _REDIRECTS:
                self.parse_one_redirect()
            else:
                break
        if not assigns and not words:
            if first.kind == "EOF":
                self.error(first, "syntax error: unexpected end of file")
            self.error(first, "syntax error near %s" % _shown(first, "end of line"))
        return ("simple", assigns, words, self.line(first), first.start)

    def _skip_array(self, open_tok):
        self.lx.next()
        while True:
            tok = self.lx.next()
            if tok.kind == "EOF":
                self.error(open_tok, "unterminated array assignment")
            if self.is_op(tok, ")"):
                return


def _value_parts(tok, prefix_len):
    """The parts of an assignment word after ``NAME=`` (the prefix is plain unquoted text)."""
    parts = [list(p) if p[0] == "lit" else p for p in tok.parts]
    remaining = prefix_len
    out = []
    for p in parts:
        if remaining and p[0] == "lit":
            chars = p[1][remaining:]
            remaining = max(0, remaining - len(p[1]))
            if chars:
                out.append(("lit", chars))
            continue
        out.append(tuple(p))
    return out


def _strip_quotes(parts, text):
    """A heredoc delimiter: the word after quote removal only; ``$X`` stays ``$X`` (POSIX)."""
    out = []
    for p in parts:
        if p[0] == "lit":
            out.extend(ch for ch, _pos, _esc in p[1])
        elif p[0] == "sq":
            out.extend(ch for ch, _pos in p[1])
        elif p[0] == "dq":
            out.extend(_strip_quotes(p[1], text))
        else:  # an expansion is not expanded in a delimiter: its source text (start, end)
            out.append(text[p[-2] : p[-1]])
    return out


def static_text(parts):
    """The text of a word without expansions, or None when it contains any."""
    out = []
    for p in parts:
        if p[0] == "lit":
            out.extend(ch for ch, _pos, _esc in p[1])
        elif p[0] == "sq":
            out.extend(ch for ch, _pos in p[1])
        elif p[0] == "dq":
            inner = static_text(p[1])
            if inner is None:
                return None
            out.append(inner)
        else:
            return None
    return "".join(out)


# --------------------------------------------------------------------------- evaluation
class Assignment(object):
    """A top-level, unconditional change of a watched variable."""

    __slots__ = ("name", "kind", "src", "line", "value_start", "value_end", "value", "parts")

    def __init__(self, name, kind, src, line, value_start, value_end, value, parts):
        self.name = name
        self.kind = kind  # assign | unset
        self.src = src
        self.line = line
        self.value_start = value_start
        self.value_end = value_end
        self.value = value
        self.parts = parts

    def __repr__(self):
        return "Assignment(%s %s %s:%d)" % (self.kind, self.name, self.src.path, self.line)


class _Stop(Exception):
    """A top-level ``return`` ends the sourced file."""


class ShellState(object):
    """Variables as grub-mkconfig sees them while sourcing the files one after another.

    ``vars`` maps name -> Value (set) or None (unset). A name never assigned is unset for
    the watched variables and unknown for every other one (it would come from grub-mkconfig
    or its environment).
    """

    def __init__(self, watched=WATCHED):
        self.watched = tuple(watched)
        self.vars = {}
        self.assignments = []
        self.functions = set()
        self.sources = []

    # ----- public
    def source(self, path, text):
        """Follow one file as ``. path`` would. Raises ShellError."""
        src = Source(len(self.sources), path, text)
        self.sources.append(src)
        body = Parser(src).parse_program()
        ctx = _Ctx(src, "top")
        try:
            self._run_list(body, ctx)
        except _Stop:
            pass
        return src

    def value(self, name):
        """The final Value of a watched variable, or None when unset."""
        return self.vars.get(name)

    def last_assignment(self, name):
        for a in reversed(self.assignments):
            if a.name == name:
                return a
        return None

    # ----- walking
    def _run_list(self, items, ctx):
        for node in items:
            self._run(node, ctx)

    def _run(self, node, ctx):
        kind = node[0]
        if kind == "simple":
            self._simple(node, ctx)
        elif kind == "andor":
            pipes = node[1]
            self._run(pipes[0], ctx)
            for p in pipes[1:]:
                self._run(p, ctx.derive("cond", "after && or ||"))
        elif kind == "pipeline":
            cmds = node[1]
            if len(cmds) == 1:
                self._run(cmds[0], ctx)
            else:
                for c in cmds:
                    self._run(c, ctx.derive("sub", "in a pipeline"))
        elif kind == "group":
            self._run_list(node[1], ctx)
        elif kind == "subshell":
            self._run_list(node[1], ctx.derive("sub", "in a ( subshell )"))
        elif kind == "background":
            self._run(node[1], ctx.derive("sub", "in a background job"))
        elif kind == "cond":
            ckind, bodies, line, extra = node[1], node[2], node[3], node[4]
            what = {
                "if": "inside an if-block",
                "while": "inside a while loop",
                "until": "inside an until loop",
                "for": "inside a for loop",
                "case": "inside a case statement",
            }[ckind]
            sub = ctx.derive("cond", "%s (line %d)" % (what, line))
            if ckind == "for":
                self._assign_unknown(
                    extra[0], "loop variable of the for loop at %s:%d" % (ctx.src.path, line), sub, line
                )
                for w in extra[1:]:
                    self._eval_parts(w.parts, sub, self._line(ctx, w))
            elif ckind == "case":
                self._eval_parts(extra[0].parts, sub, self._line(ctx, extra[0]))
            for body in bodies:
                self._run_list(body, sub)
        elif kind == "func":
            name, body, line = node[1], node[2], node[3]
            self.functions.add(name)
            sub = ctx.derive("cond", "inside function %s() defined at line %d" % (name, line))
            sub.in_function = True
            self._run_list(body, sub)
        else:  # pragma: no cover - parser produces only the kinds above
            raise AssertionError(kind)

    def _line(self, ctx, tok):
        return ctx.src.line_of(tok.start)

    # ----- simple commands
    def _simple(self, node, ctx):
        assigns, words, line = node[1], node[2], node[3]
        if ctx.kind == "sub":
            return  # runs in a subshell: no variable of ours can change
        if not words:
            for name, parts, tok, akind in assigns:
                self._assignment(name, parts, tok, akind, ctx, self._line(ctx, tok))
            return
        # NAME=value cmd ...: temporary for regular commands, persistent for special builtins.
        for name, _parts, tok, _akind in assigns:
            aline = self._line(ctx, tok)
            if name in self.watched:
                self._refuse(
                    ctx,
                    aline,
                    "%s is assigned as a prefix of a command; whether it persists depends on the command" % name,
                )
            self._assign_unknown(name, "prefix assignment of a command at %s:%d" % (ctx.src.path, aline), ctx, aline)
        cmd = static_text(words[0].parts)
        if cmd is None:
            self._refuse(
                ctx,
                line,
                "the command name is computed at run time; it could be anything (eval, ., export ...)",
            )
        args = words[1:]
        while cmd in ("command", "builtin", "exec", "nohup", "time") and args:
            if cmd == "exec":
                self._refuse(ctx, line, "exec would replace grub-mkconfig's shell")
            nxt = static_text(args[0].parts)
            if nxt is None:
                self._refuse(ctx, line, "the command name after %s is computed at run time" % cmd)
            cmd, args = nxt, args[1:]
        for w in args:
            self._eval_parts(w.parts, ctx, self._line(ctx, w))
        if cmd in _SOURCES:
            what = (
                "eval runs code built at run time"
                if cmd == "eval"
                else "'%s' runs another file whose code cannot be followed here" % cmd
            )
            raise ShellError(ctx.src.path, line, "%s; it could change GRUB_CMDLINE_*" % what)
        m = _APPEND_RE.match(words[0].text)
        if m:
            name = m.group(1)
            if name in self.watched:
                self._refuse(
                    ctx,
                    line,
                    "%s+=... is bash-only (dash runs it as a command and fails); /bin/sh "
                    "differs between distributions" % name,
                )
            self._assign_unknown(name, "bash-only += at %s:%d" % (ctx.src.path, line), ctx, line)
            return
        if cmd in _DECLARE:
            self._declare(cmd, args, ctx, line)
        elif cmd == "unset":
            self._unset(args, ctx, line)
        elif cmd in _READS or cmd in ("printf", "let"):
            self._reads(cmd, args, ctx, line)
        elif cmd == "return":
            if not ctx.in_function:
                if ctx.kind == "top":
                    raise _Stop()
                ctx.mark_rest_conditional("a conditional 'return' at %s:%d" % (ctx.src.path, line))
        elif cmd == "exit" and not ctx.in_function:
            if ctx.kind == "top":
                raise ShellError(ctx.src.path, line, "exit would stop grub-mkconfig itself")
            ctx.mark_rest_conditional("a conditional 'exit' at %s:%d" % (ctx.src.path, line))

    def _declare(self, cmd, args, ctx, line):
        for w in args:
            text = w.text
            if text.startswith("-") or text.startswith("+"):
                continue
            m = _ASSIGN_RE.match(text)
            name = m.group(1) if m else (text if _NAME_RE.fullmatch(text) else None)
            if name is None:
                if any(v in text for v in self.watched):
                    self._refuse(ctx, line, "%s of a computed name cannot be followed" % cmd)
                continue
            if name in self.watched and cmd != "export":
                self._refuse(
                    ctx,
                    line,
                    "%s %s: %s is not a plain assignment in /bin/sh (readonly breaks later "
                    "assignments, local/declare/typeset differ between shells)" % (cmd, name, cmd),
                )
            if m:
                self._assignment(name, _value_parts(w, len(m.group(0))), w, "assign", ctx, self._line(ctx, w))

    def _unset(self, args, ctx, line):
        functions = False
        for w in args:
            text = static_text(w.parts)
            if text is None:
                self._refuse(ctx, line, "unset of a computed name")
                continue
            if text == "-f":
                functions = True
                continue
            if text == "-v":
                functions = False
                continue
            if functions:
                continue
            if text in self.watched:
                if ctx.kind != "top" or ctx.rest_conditional:
                    self._refuse(ctx, line, "%s is unset %s" % (text, ctx.why()))
                self.vars[text] = None
                self.assignments.append(Assignment(text, "unset", ctx.src, line, w.start, w.end, None, None))
            elif ctx.kind == "top" and not ctx.rest_conditional:
                self.vars[text] = None
            else:
                self.vars[text] = Value.unknown_because("unset %s at %s:%d" % (ctx.why(), ctx.src.path, line))

    def _reads(self, cmd, args, ctx, line):
        """read/getopts/mapfile NAME..., printf -v NAME, let EXPR: targets become unknown."""
        texts = [w.text for w in args]
        if cmd == "let":
            for text in texts:
                self._arith_effects(text, ctx, line)
            return
        if cmd == "printf":
            targets = [texts[1]] if len(texts) > 1 and texts[0] == "-v" else []
        else:
            targets = [t for t in texts if _NAME_RE.fullmatch(t)]
        for name in targets:
            reason = "%s at %s:%d" % (cmd, ctx.src.path, line)
            if name in self.watched:
                self._refuse(ctx, line, "%s changes %s in a way that cannot be followed" % (cmd, name))
            self._assign_unknown(name, reason, ctx, line)

    # ----- assignments
    def _refuse(self, ctx, line, message):
        raise ShellError(ctx.src.path, line, message + "; refusing to guess what grub-mkconfig would see")

    def _assign_unknown(self, name, reason, ctx, line):
        if name in self.watched:
            self._refuse(ctx, line, "%s is changed by %s" % (name, reason))
        self.vars[name] = Value.unknown_because(reason)

    def _assignment(self, name, parts, tok, akind, ctx, line):
        watched = name in self.watched
        if akind == "array":
            if watched:
                self._refuse(ctx, line, "%s=( ... ) is a bash array" % name)
            self.vars[name] = Value.unknown_because("bash array at %s:%d" % (ctx.src.path, line))
            return
        conditional = ctx.kind != "top" or ctx.rest_conditional
        if watched and conditional:
            self._refuse(ctx, line, "%s is assigned %s" % (name, ctx.why()))
        value = self._eval_parts(parts, ctx, line, assignment=True)
        if watched and value.unknown is not None:
            self._refuse(ctx, line, "the value of %s depends on %s" % (name, value.unknown))
        if conditional:
            self.vars[name] = Value.unknown_because("assigned %s at %s:%d" % (ctx.why(), ctx.src.path, line))
            return
        self.vars[name] = value
        if watched:
            start = tok.start + len(name) + 1 if tok.text.startswith(name + "=") else tok.start
            self.assignments.append(Assignment(name, "assign", ctx.src, line, start, tok.end, value, parts))

    def _lookup(self, name, ctx, line):
        if name in self.vars:
            val = self.vars[name]
            if val is not None and val.unknown is not None:
                return Value.unknown_because("$%s (%s)" % (name, val.unknown))
            return None if val is None else val.copy()
        if name in self.watched:
            return None
        if name in _SPECIAL_PARAMS:
            return Value.unknown_because("the special parameter $%s at %s:%d" % (name, ctx.src.path, line))
        return Value.unknown_because(
            "$%s, which these files do not set (it comes from grub-mkconfig or its "
            "environment), used at %s:%d" % (name, ctx.src.path, line)
        )

    def _eval_parts(self, parts, ctx, line, assignment=False):
        out = Value()
        idx = ctx.src.index
        for i, p in enumerate(parts):
            kind = p[0]
            if kind == "lit":
                chars = p[1]
                if assignment and i == 0 and chars and chars[0][0] == "~" and not chars[0][2]:
                    out.unknown = out.unknown or "tilde expansion at %s:%d" % (ctx.src.path, line)
                out.extend("".join([c[0] for c in chars]), [(idx, c[1]) for c in chars])
            elif kind == "sq":
                out.extend("".join([c[0] for c in p[1]]), [(idx, c[1]) for c in p[1]])
            elif kind == "dq":
                out.append(self._eval_parts(p[1], ctx, line))
            elif kind == "param":
                out.append(self._param(p, ctx, line))
            elif kind == "cmdsub":
                out.append(Value.unknown_because("command substitution at %s:%d" % (ctx.src.path, line)))
            elif kind == "arith":
                self._arith_effects(p[1], ctx, line)
                out.append(Value.unknown_because("arithmetic expansion at %s:%d" % (ctx.src.path, line)))
            elif kind == "ansi":
                out.append(
                    Value.unknown_because("$'...' (dash and bash read it differently) at %s:%d" % (ctx.src.path, line))
                )
        return out

    def _arith_effects(self, text, ctx, line):
        for m in _ARITH_ASSIGN_RE.finditer(text):
            name = m.group(1) or m.group(2)
            self._assign_unknown(name, "arithmetic at %s:%d" % (ctx.src.path, line), ctx, line)

    def _param(self, p, ctx, line):
        _kind, name, op, arg, _start, _end = p
        if op in ("length", "pattern"):
            return Value.unknown_because("${...} pattern or length expansion at %s:%d" % (ctx.src.path, line))
        val = self._lookup(name, ctx, line)
        if op is None:
            return val if val is not None else Value()
        if val is not None and val.unknown is not None:
            return val
        colon = op.startswith(":")
        base = op[-1]
        use_arg_when_unset = val is None or (colon and val.text == "")
        if base in "-=":
            if not use_arg_when_unset:
                return val
            result = self._eval_parts(arg, ctx, line)
            if base == "=":
                if name in self.watched:
                    self._refuse(ctx, line, "${%s%s...} assigns %s" % (name, op, name))
                if name in _SPECIAL_PARAMS:
                    return Value.unknown_because("${%s%s...}" % (name, op))
                if ctx.kind == "top" and not ctx.rest_conditional:
                    self.vars[name] = result.copy()
                else:
                    self.vars[name] = Value.unknown_because("${%s%s...} %s" % (name, op, ctx.why()))
            return result
        if base == "+":
            return Value() if use_arg_when_unset else self._eval_parts(arg, ctx, line)
        # "?" : error when unset (grub-mkconfig would stop); otherwise the value
        return val if val is not None else Value()


class _Ctx(object):
    """Where a command runs: ``top`` (always, in grub-mkconfig's shell), ``cond`` (maybe) or
    ``sub`` (in a subshell: no effect on our variables)."""

    __slots__ = ("src", "kind", "reason", "in_function", "file_flags")

    def __init__(self, src, kind, reason=None, file_flags=None):
        self.src = src
        self.kind = kind
        self.reason = reason
        self.in_function = False
        self.file_flags = file_flags if file_flags is not None else {}

    def derive(self, kind, reason):
        if self.kind == "sub" or (self.kind == "cond" and kind == "cond"):
            new = _Ctx(self.src, self.kind, self.reason, self.file_flags)
        else:
            new = _Ctx(self.src, kind, reason, self.file_flags)
        new.in_function = self.in_function
        return new

    @property
    def rest_conditional(self):
        return self.file_flags.get("rest_conditional")

    def why(self):
        if self.kind != "top":
            return self.reason
        return "after %s" % self.rest_conditional

    def mark_rest_conditional(self, reason):
        # A conditional return/exit: nothing later in this file is sure to run.
        self.file_flags.setdefault("rest_conditional", reason)


def follow(files, watched=WATCHED):
    """Source ``files`` ([(path, text)]) in order; return the ShellState. Raises ShellError."""
    state = ShellState(watched)
    for path, text in files:
        state.source(path, text)
    return state
