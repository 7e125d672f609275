"""Shared fixtures: the real store (mirror → data/raw) and the DfE LA list."""

from __future__ import annotations

import pytest

from analysis.data import geography
from analysis.data.sources import Store


@pytest.fixture(scope="session")
def store() -> Store:
    return Store()


@pytest.fixture(scope="session")
def las(store):
    return geography.load_las(store)
