"""The check every stored grid's test starts from: the results are current, and CI's reduced grid re-creates its
tasks exactly."""

from __future__ import annotations

import json
from collections.abc import Callable

from analysis import grid
from analysis.models import stored


def current_and_reproduced(name: str, tasks: Callable[..., list[grid.Task]]) -> stored.Stored:
    """The stored grid `name`, after checking it is current and that `tasks(reduced=True)` reproduces it exactly."""
    saved = stored.load(name)
    assert not saved.stale, saved.note(f"python -m analysis grid {name}")
    fresh = grid.run(tasks(reduced=True), scheduler="serial", progress=False)
    for key, value in fresh.items():
        assert json.loads(json.dumps(value)) == saved.results[key], key
    return saved
