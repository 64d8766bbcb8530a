"""Hypothesis profiles of the fuzz suite. `make test` runs the "ci" profile: derandomized (the
same examples every run, so CI cannot turn red by luck), no per-example deadline (2 cores under
load), a bounded number of examples. By hand, a larger random search:

    FEDPROBE_FUZZ=large .venv/bin/python -m pytest -q tests/fuzz     (or: make fuzz)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# function_scoped_fixture: the per-test state directory (tests/conftest.py) is shared by the
# examples of a test, as it would be by runs of one machine
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None,
                          database=None, suppress_health_check=_SLOW_OK)
settings.register_profile("large", max_examples=2000, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("FEDPROBE_FUZZ", "ci"))


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fuzzed runs start in a directory of their own: a relative path an example draws (or one
    a bug takes for the current directory) lands there, never in the checkout."""
    monkeypatch.chdir(tmp_path)
