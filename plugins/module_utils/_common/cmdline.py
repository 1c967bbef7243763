# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel command line tokenizer following the kernel's own rules (lib/cmdline.c next_arg).

Target side: standard library only, importable by Python 3.6+.

Rules reproduced from the kernel:
- arguments are separated by unquoted whitespace; a double quote toggles quoting anywhere
  in a token (there is no escape character and no single-quote quoting);
- the first ``=`` splits name and value; a value starting with ``"`` loses that quote and a
  closing ``"`` at the end of the token; a token that starts with ``"`` loses its
  surrounding quotes;
- ``--`` ends the kernel's own parameters: what follows goes to init;
- ``-`` and ``_`` are equivalent in parameter names (parameq), so ``foo-bar`` is ``foo_bar``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# A parameter name as the kernel accepts it in practice: letters, digits and ._-/ (module
# parameters are "module.param"; a few built-in names carry '/' or ':'). Used to validate
# names we are asked to write, never to reject what a running kernel already has.
PARAM_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,127}\Z")
# A value we agree to write unquoted: no whitespace, quotes, shell or GRUB metacharacters.
PARAM_VALUE_RE = re.compile(r"^[A-Za-z0-9_.,:+@%/=\-]{0,255}\Z")


class CmdlineToken(object):
    """One kernel argument: ``raw`` as written, ``name`` and ``value`` as the kernel sees them."""

    __slots__ = ("name", "raw", "value")

    def __init__(self, raw, name, value):
        self.raw = raw
        self.name = name
        self.value = value

    @property
    def key(self):
        """The name as the kernel compares it (dashes equal underscores)."""
        return normalize_name(self.name)

    def as_dict(self):
        return {"raw": self.raw, "name": self.name, "value": self.value}

    def __repr__(self):
        return "CmdlineToken(%r)" % (self.raw,)

    def __eq__(self, other):
        return isinstance(other, CmdlineToken) and self.raw == other.raw

    def __hash__(self):
        return hash(self.raw)


def normalize_name(name):
    return name.replace("-", "_")


def parse_token(raw):
    """Split one raw argument into a CmdlineToken with the kernel's quote stripping."""
    body = raw
    quoted = body.startswith('"')
    if quoted:
        body = body[1:]
    eq = body.find("=")
    # next_arg only records '=' at index > 0 ("equals == 0" means none found).
    if eq <= 0:
        name = body
        if quoted and name.endswith('"'):
            name = name[:-1]
        return CmdlineToken(raw, name, None)
    name = body[:eq]
    value = body[eq + 1 :]
    if value.startswith('"'):
        value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
    elif quoted and value.endswith('"'):
        value = value[:-1]
    return CmdlineToken(raw, name, value)


# One argument as lib/cmdline.c next_arg scans it: runs of non-space characters (isspace in
# lib/ctype.c: space, \t \n \v \f \r) and quoted runs (a quote toggles quoting anywhere; an
# unterminated quote runs to the end). Linear time.
_ARG_RE = re.compile(r'(?:[^ \t\n\v\f\r"]+|"[^"]*"?)+')


def split_spans(text):
    """[(start, end)] of each raw argument of a command line, in order."""
    return [m.span() for m in _ARG_RE.finditer(text)]


def split_raw(text):
    """Split a command line into raw argument strings (quotes kept), all of them."""
    return [m.group(0) for m in _ARG_RE.finditer(text)]


def tokenize(text):
    """Return (kernel_tokens, init_args) for a command line string.

    ``kernel_tokens`` are CmdlineToken objects for the kernel's parameters; ``init_args``
    are the raw strings after a bare ``--``.
    """
    tokens = []
    init_args = []
    after_dashes = False
    for raw in split_raw(text):
        if after_dashes:
            init_args.append(raw)
            continue
        tok = parse_token(raw)
        # parse_args compares the name after quote stripping: a quoted "--" ends them too.
        if tok.name == "--" and tok.value is None:
            after_dashes = True
            continue
        tokens.append(tok)
    return tokens, init_args


def values_of(tokens, name):
    """All values given to ``name`` in order (None for a bare flag); the kernel applies
    early parameters in order, so the last one usually wins."""
    key = normalize_name(name)
    return [t.value for t in tokens if t.key == key]


def last_value(tokens, name, default=None):
    vals = values_of(tokens, name)
    return vals[-1] if vals else default


def format_token(name, value):
    """Render name/value for writing. Values must already be validated as safe."""
    if value is None:
        return name
    return "%s=%s" % (name, value)


def validate_param(name, value):
    """Return an error string when name/value must not be written, else None."""
    if not isinstance(name, str) or not PARAM_NAME_RE.match(name):
        return "invalid kernel parameter name %r" % (name,)
    if value is None:
        return None
    if not isinstance(value, str):
        return "invalid value for %s: %r is not a string" % (name, value)
    if not PARAM_VALUE_RE.match(value):
        return (
            "invalid value for %s: %r (allowed: letters, digits and . , : + @ %% / = -; "
            "no spaces, quotes, shell or GRUB metacharacters)" % (name, value)
        )
    return None
