"""Shared fixtures (the real store, mirror → data/raw, and the DfE LA list) and the order the test files run in."""

from __future__ import annotations

import json

import pytest

from analysis import paths

from analysis.data import geography
from analysis.data.sources import Store


@pytest.fixture(scope="session")
def store() -> Store:
    return Store()


@pytest.fixture(scope="session")
def las(store):
    return geography.load_las(store)


#: Each test file's time in the last recorded run of the suite (`benchmarks/tests.py`).
TIMES = paths.ROOT / "benchmarks" / "results" / "tests.json"


def _file_key(nodeid: str) -> str:
    """A test's file as the record names it: tests/test_x.py → tests.test_x, chapters/03-x.ipynb → chapters.03-x.ipynb."""
    file = nodeid.split("::")[0]
    return (file.removesuffix(".py") if file.endswith(".py") else file).replace("/", ".")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slowest files first, by their last recorded times (files not recorded last).

    README's test command runs two pytest-xdist workers, each taking a whole file at a time
    (`--dist loadfile`: a chapter's cells share one kernel, a module's fixtures one process).
    Starting the longest files first lets the workers finish together instead of one
    waiting on a long file that happened to come last. Tests within a file keep their order.
    """
    seconds = json.loads(TIMES.read_text()).get("files_s", {}) if TIMES.exists() else {}
    items.sort(key=lambda item: -seconds.get(_file_key(item.nodeid), 0.0))

