"""Hypothesis profiles of the whole suite (loaded once by tests/conftest.py).

- ``ci``: selected when ``CI=true``. Derandomized (the same examples on every run, so a CI
  failure is reproducible and a green run stays green), no example database, no deadline (CI
  shares its cores), ``print_blob`` so a failure prints how to reproduce it.
- ``dev``: the default outside CI. Random examples, the local example database
  (``.hypothesis/``, replays what failed before) and **twice** CI's number of examples: local
  runs keep exploring new inputs.
- ``thorough``: ten times CI's examples, for an occasional deep local run
  (``HYPOTHESIS_PROFILE=thorough make unit``).
- ``mutation``: what ``make mutation`` uses (tools/mutation). Derandomized and a tenth of CI's
  examples: a mutant is run against every test that covers it, so the budget per test is small;
  the hand-written example tests carry the kill.

``HYPOTHESIS_PROFILE`` overrides the choice. Tests that need more (or fewer) examples than the
profile's default ask for ``examples(n)``: n in CI, scaled by the active profile elsewhere.
"""

import os

from hypothesis import HealthCheck, settings

CI_MAX_EXAMPLES = 100  # hypothesis' own default
_SCALE = {"ci": 1.0, "dev": 2.0, "thorough": 10.0, "mutation": 0.1}


def in_ci():
    """True when the CI environment variable says so (``true``, ``1`` or ``yes``, any case)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _register():
    common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile(
        "ci", derandomize=True, database=None, print_blob=True, max_examples=CI_MAX_EXAMPLES, **common
    )
    settings.register_profile("dev", max_examples=int(CI_MAX_EXAMPLES * _SCALE["dev"]), **common)
    settings.register_profile("thorough", max_examples=int(CI_MAX_EXAMPLES * _SCALE["thorough"]), **common)
    settings.register_profile(
        "mutation", derandomize=True, database=None, max_examples=int(CI_MAX_EXAMPLES * _SCALE["mutation"]), **common
    )


def active_profile():
    """The profile this run uses: ``HYPOTHESIS_PROFILE``, else ``ci`` under CI=true, else ``dev``."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "").strip()
    if name:
        if name not in _SCALE:
            raise ValueError(f"HYPOTHESIS_PROFILE={name!r}: expected one of {sorted(_SCALE)}")
        return name
    return "ci" if in_ci() else "dev"


def load():
    _register()
    name = active_profile()
    settings.load_profile(name)
    return name


def examples(n):
    """``n`` examples in CI, scaled like the active profile's default elsewhere (at least 5)."""
    return max(5, int(n * _SCALE[active_profile()]))
