"""Property tests: random GRUB defaults in every quoting style, against the real /bin/sh.

hypothesis writes /etc/default/grub (and sometimes a drop-in) holding random token lists as
double-quoted, single-quoted, unquoted, backslash-newline continued, self-referencing,
exported or via-another-variable assignments. The parser must see exactly what /bin/sh sees;
after the grub backend's edit, /bin/sh must see exactly the decided tokens (set: one
vmscape=ibpb; remove: none; everything else in order).
"""

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_kernel_cmdline_support import dash_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults_edit as _grub_defaults_edit
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request, check_result
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw

NAMES = ["vmscape", "vmscape_x", "quiet", "foo-bar", "mitigations", "console", "nosmt"]
VALUES = [None, "off", "ibpb", "force", "auto,nosmt", "ttyS0,115200", ""]
STYLES = ["dq", "sq", "unquoted", "continuation", "selfref", "export", "via-var", "dropin"]


@st.composite
def token(draw):
    name = draw(st.sampled_from(NAMES))
    value = draw(st.sampled_from(VALUES))
    return name if value is None else f"{name}={value}"


def render(var, toks, style, split):
    """Lines for the main file and for a drop-in that give ``var`` the tokens ``toks``."""
    joined = " ".join(toks)
    if style == "unquoted" and len(toks) == 1:
        return [f"{var}={toks[0]}"], []
    if style == "sq":
        return [f"{var}='{joined}'"], []
    if style == "continuation" and toks:
        return [f'{var}="' + " \\\n\t".join(toks) + '"'], []
    if style in ("selfref", "dropin") and toks:
        head, tail = " ".join(toks[:split]), " ".join(toks[split:])
        second = f'{var}="${var} {tail}"' if tail else f'{var}="${{{var}}}"'
        if style == "dropin":
            return [f'{var}="{head}"'], [second]
        return [f'{var}="{head}"', second], []
    if style == "export":
        return [f'export {var}="{joined}"'], []
    if style == "via-var" and toks:
        helper = "_" + var.lower()
        return [f'{helper}="{" ".join(toks[:split])}"', f'{var}="${helper} {" ".join(toks[split:])}"'], []
    return [f'{var}="{joined}"'], []


@st.composite
def defaults_tree(draw):
    linux = draw(st.lists(token(), max_size=6))
    default = draw(st.lists(token(), max_size=4))
    main = ["GRUB_DEFAULT=0", "GRUB_DISTRIBUTOR=`echo Debian`"]
    dropin = []
    for var, toks in (("GRUB_CMDLINE_LINUX", linux), ("GRUB_CMDLINE_LINUX_DEFAULT", default)):
        style = draw(st.sampled_from(STYLES))
        split = draw(st.integers(min_value=0, max_value=len(toks)))
        m, d = render(var, toks, style, split)
        main += m
        dropin += d
    if draw(st.booleans()):
        main.append('# GRUB_CMDLINE_LINUX="vmscape=force"  (commented-out alternative)')
    return "\n".join(main) + "\n", ("\n".join(dropin) + "\n" if dropin else None)


def write_tree(d, main, dropin):
    root = os.path.join(d, "root")
    os.makedirs(os.path.join(root, "etc", "default", "grub.d"))
    with open(os.path.join(root, "etc", "default", "grub"), "w") as f:
        f.write(main)
    if dropin is not None:
        with open(os.path.join(root, "etc", "default", "grub.d", "50-site.cfg"), "w") as f:
            f.write(dropin)
    return root


def apply(gp):
    for c in gp.changes:
        with open(c.path, "wb") as f:
            f.write(c.after)


REQUESTS = [
    build_request({"vmscape": "ibpb"}, []),
    build_request({}, ["vmscape"]),
    build_request({"vmscape": "force", "nosmt": None}, ["mitigations"]),
]


@settings(max_examples=examples(60))
@given(defaults_tree(), st.sampled_from(REQUESTS))
def test_random_defaults_follow_sh_before_and_after(tree, request):
    main, dropin = tree
    with tempfile.TemporaryDirectory() as d:
        root = write_tree(d, main, dropin)
        _s, lt, dt, lv, dv = _grub_defaults.evaluate(_grub_defaults.load(root))
        sh_linux, sh_default = dash_values(root, d)
        assert (lv.text if lv else "", dv.text if dv else "") == (sh_linux, sh_default)

        gp = _grub_defaults_edit.plan_defaults(root, request)
        apply(gp)
        sh_linux, sh_default = dash_values(root, d)
        assert split_raw(sh_linux) == gp.linux_after
        assert split_raw(sh_default) == gp.default_after
        assert check_result(lt + dt, gp.tokens_after, request) == []
        # and the edit is idempotent
        assert _grub_defaults_edit.plan_defaults(root, request).changes == []
