# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error every boot-configuration reader, backend and the apply path raise.

Target side: standard library only, importable by Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class BootConfigError(Exception):
    """A refusal or failure with a message meant for the user (file and line when known)."""

    def __init__(self, message, output=None):
        Exception.__init__(self, message)
        self.message = message
        self.output = output
