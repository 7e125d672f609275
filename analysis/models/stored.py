"""Small results of long computations (grids of fits), stored in `results/` and stamped with what made them.

A grid (backtests, calibration, placebos) takes far longer than a chapter may, so it
runs as its own command and saves its summary as `results/<name>.json`, stamped
with a hash of the code it ran (the task's module and everything it imports in the
package), the data (the panel's stamp: registry, cohorts, data code) and the
numerics. A chapter reads the summary with `load`, which also says whether the
stamp still matches the code and data as they are now: a stale result is shown as
stale, never silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from analysis import dependencies, numerics, paths
from analysis.atomic import write_atomic

RESULTS = paths.ROOT / "results"


@dataclass(frozen=True)
class Stored:
    """A stored result: what it holds, its stamp, and how the stamp differs from now ([] = current)."""

    name: str
    results: dict
    stamp: dict
    stale: list[str]

    def note(self, command: str) -> str:
        """'' when current, else a sentence for the chapter naming what changed and the command to rerun."""
        if not self.stale:
            return ""
        return (f"**These results are stale**: the {' and the '.join(self.stale)} changed since they were computed. "
                f"Rerun `{command}` to bring them up to date.")


def stamp(module: str) -> dict:
    """The stamp of a result computed by `module` on the current data and numerics."""
    from analysis.data import panel

    return {"code": dependencies.code_hash(dependencies.imported_modules(f"import {module}") | {module}),
            "data": panel.stamp(), "numerics": numerics.fingerprint().split(":")[0]}


def save(name: str, results: dict, module: str, folder: Path = RESULTS) -> Path:
    record = {"stamp": stamp(module), "module": module, "results": results}
    return write_atomic(folder / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))


def load(name: str, folder: Path = RESULTS) -> Stored:
    path = folder / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: compute it with `python -m analysis grid {name}`")
    record = json.loads(path.read_text())
    now = stamp(record["module"])
    labels = {"code": "code", "data": "data", "numerics": "numerical environment"}
    stale = [labels[k] for k in ("code", "data", "numerics") if record["stamp"].get(k) != now[k]]
    return Stored(name, record["results"], record["stamp"], stale)
