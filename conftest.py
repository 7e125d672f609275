"""Hooks for every test pytest runs, the chapters' nbval cells included (a conftest under `tests/` reaches only the
tests there)."""

from __future__ import annotations

import os
import time

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Stamp each test with when it started and on which worker, for the JUnit XML (`benchmarks/tests.py` lays
    the files out on a timeline from these, to show where one worker waited for the other)."""
    item.user_properties += [("started", f"{time.time():.1f}"), ("worker", os.environ.get("PYTEST_XDIST_WORKER", "main"))]
