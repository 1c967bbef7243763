# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytes of configuration files as text and back, losslessly (undecodable bytes survive a round trip).

Target side: standard library only, importable by Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def decode(data):
    """UTF-8 text of ``data`` (None: ""), undecodable bytes kept as surrogates."""
    return "" if data is None else data.decode("utf-8", "surrogateescape")


def encode(text):
    """The bytes ``decode`` read ``text`` from."""
    return text.encode("utf-8", "surrogateescape")
