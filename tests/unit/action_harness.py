"""Run the collection's action plugins and its callback in-process with ansible-core's own objects.

What is real: the plugin classes, ansible-core's ``Task`` (loaded from a task dict the way a
play's task is), ``PlayContext``, ``DataLoader``, ``Templar``, the ``local`` connection plugin,
``ActionBase.run`` (argument validation, check-mode handling), the callback's option handling
(its DOCUMENTATION pushed to ansible's config manager, as the plugin loader does), ``Host`` and
the ``TaskResult`` a strategy hands to callbacks.

What stands in (and why): plugins are instantiated from their classes rather than through
``action_loader``/``callback_loader``. The loaders need ansible's collection finder installed
in the process, and the test process has already imported the collection from ``sys.path``
(tests/conftest.py), so the finder refuses it ("collection metadata was not loaded"). And the
one module an action runs on the target (fleetsec.vmscape.vmscape_facts) is executed from its
own file in a subprocess with the JSON arguments Ansible would give it (``ANSIBLE_MODULE_ARGS``),
instead of being wrapped into AnsiballZ and sent over a connection: the module code and its
result are real; the transport is what the CLI tests (tests/integration) cover.
"""

import copy
import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import yaml
from ansible import constants as C
from ansible.inventory.host import Host
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins import loader as plugin_loader
from ansible.plugins.connection.local import Connection as LocalConnection
from ansible.template import Templar
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import current_run

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"
MODULES = REPO / "plugins" / "modules"


def run_module_file(name, args, check_mode=False):
    """Run plugins/modules/<name>.py with ``args`` as Ansible's module arguments; its JSON result."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}})
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    proc = subprocess.run(
        [sys.executable, str(MODULES / f"{name}.py")],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return json.loads(proc.stdout)


class ModuleRuns:
    """Replaces ``ActionBase._execute_module``: records every call, runs the real module file
    (or returns ``canned`` to test how the plugin handles a failing or malformed module result)."""

    def __init__(self, canned=None):
        self.calls = []
        self.canned = canned

    def __call__(self, module_name=None, module_args=None, task_vars=None, **_kw):
        self.calls.append((module_name, dict(module_args or {})))
        if self.canned is not None:
            return copy.deepcopy(self.canned)  # the plugin stamps what it gets: keep the original clean
        prefix = "fleetsec.vmscape."
        assert module_name.startswith(prefix), module_name
        return run_module_file(module_name[len(prefix) :], module_args or {})


def make_action(plugin_class, fqcn, args, check_mode=False, module_runs=None):
    """An action plugin instance as a worker builds it for one task on one host."""
    loader = DataLoader()
    task = Task.load({"name": f"test {fqcn}", "action": fqcn, "args": args}, loader=loader)
    task.check_mode = check_mode
    play_context = PlayContext()
    play_context.check_mode = check_mode
    connection = LocalConnection(play_context, os.devnull)
    action = plugin_class(task, connection, play_context, loader, Templar(loader=loader), plugin_loader)
    if module_runs is not None:
        action._execute_module = module_runs
    return action


HOST = "hv01"


def observed_here(facts, action, host=HOST):
    """``facts`` as this collection's actions stamp a document they observed in this run for
    ``host`` (plugin_utils/_observe/action_facts.py: only such documents are used without a new run)."""
    doc = copy.deepcopy(facts)
    doc.setdefault("observation", {}).update(run=current_run(action), host=host)
    return doc


def run_action(plugin_class, fqcn, args, task_vars=None, check_mode=False, module_runs=None, this_run=True):
    """Run the plugin for ``task_vars`` (inventory_hostname hv01 unless given). With ``this_run``
    the facts handed over (the ``facts`` option and ``ansible_facts.vmscape``) are stamped as
    observed in this run for this host, as an earlier task of the same run would have left them."""
    args = dict(args)
    task_vars = {"inventory_hostname": HOST, **(task_vars or {})}
    action = make_action(plugin_class, fqcn, args, check_mode=check_mode, module_runs=module_runs)
    if this_run:
        host = task_vars["inventory_hostname"]
        if isinstance(args.get("facts"), dict):
            action._task.args["facts"] = observed_here(args["facts"], action, host)
        vm = (task_vars.get("ansible_facts") or {}).get("vmscape")
        if isinstance(vm, dict):
            task_vars["ansible_facts"] = {**task_vars["ansible_facts"], "vmscape": observed_here(vm, action, host)}
    return action.run(task_vars=task_vars)


class _CollectionFragments:
    """The part of ansible's fragment_loader that add_fragments uses (``get``, and the
    ``ansible_name`` the loader stamps on what it loads), for this collection's doc fragments,
    imported by module name as the tests import the collection."""

    @staticmethod
    def get(name):
        ns, coll, frag = name.split(".")
        if (ns, coll) != ("fleetsec", "vmscape"):
            return None
        mod = importlib.import_module(f"ansible_collections.fleetsec.vmscape.plugins.doc_fragments.{frag}")
        return types.SimpleNamespace(ansible_name=name, DOCUMENTATION=mod.ModuleDocFragment.DOCUMENTATION)


def make_callback(module, name, options):
    """The callback plugin with ``options`` set through ansible's config manager; its options are
    read the way ansible-doc and the plugin loader read them (DOCUMENTATION plus its
    ``extends_documentation_fragment``, merged by ansible's own add_fragments)."""
    if not C.config.has_configuration_definition("callback", name):
        doc = yaml.safe_load(module.DOCUMENTATION)
        add_fragments(doc, module.__file__, _CollectionFragments)
        C.config.initialize_plugin_configuration_definitions("callback", name, doc["options"])
    cb = module.CallbackModule()
    cb._load_name = name
    cb.set_options(direct=options)
    return cb


def task_result(host_name, task_name, result):
    """What a strategy passes to ``v2_runner_on_*``: a TaskResult of a real Host and Task."""
    host = Host(host_name)
    task = Task.load({"name": task_name, "action": "ansible.builtin.debug"})
    try:  # ansible-core >= 2.19
        from ansible._internal._task import UnifiedTaskResult
        from ansible.executor.task_result import CallbackTaskResult

        return CallbackTaskResult(host, task, UnifiedTaskResult.from_action_result_dict(dict(result)))
    except ImportError:  # 2.16 - 2.18
        from ansible.executor.task_result import TaskResult

        return TaskResult(host, task, dict(result))
