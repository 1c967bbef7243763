"""Fixtures of the AWX / ansible-runner tests: the collection built and installed from its tarball
(once per session), a loopback bench fleet of their own (tools/bench, another base directory and
port than `make bench`, so neither stops the other's servers)."""

from __future__ import annotations

import pytest
from awx_jobs import build_and_install

from tools.bench import benchctl
from tools.oracle.cache import cache_dir


@pytest.fixture(scope="session")
def collection(tmp_path_factory):
    return build_and_install(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def fleet(request, tmp_path_factory):
    """A bench fleet for one test module: FLEET_SIZE hosts on FLEET_PORT (module attributes)."""
    n = getattr(request.module, "FLEET_SIZE", 8)
    port = request.module.FLEET_PORT
    base = cache_dir() / f"bench-it-{port}"
    inventory = tmp_path_factory.mktemp("fleet") / "hosts.yml"
    try:
        benchctl.start(n, port=port, base=base, inventory=inventory, log=lambda *_: None)
    except Exception:
        benchctl.stop(benchctl.paths(base), log=None, inventory=inventory)
        raise
    yield base, inventory
    benchctl.stop(benchctl.paths(base), log=None, inventory=inventory)
