"""Small results of long computations (grids of fits), stored in `results/` and stamped with what made them.

A grid (backtests, calibration, placebos) takes far longer than a chapter may, so it
runs as its own command and saves its summary as `results/<name>.json`, stamped
with what made it: the code it ran, the data it read and the numerics. A chapter
reads the summary with `load`, which also says whether the stamp still matches the
code and data as they are now: a stale result is shown as stale, never silently.

The stamp follows what the grid uses, so that a change elsewhere does not send it
back to be recomputed (the largest grids take the better part of an hour):

* **code**: the task's module and every package module it imports, except the
  panel's readers (the modules of `analysis.data.panel.READERS`), which reach a
  grid only through the panel columns below;
* **data**: the content of every panel column those modules name, the checksums
  of the registered files those columns are read from (`analysis.data.lineage`)
  and of any file the modules name by its registry key, and `data/cohorts.csv`
  where the modules read the cohorts. A corrected URL in the registry, a column
  the grid does not use or a reader rewritten without changing its output leave
  the result current; a revised value in a column it uses does not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
import pandas as pd

from analysis import dependencies, numerics, paths
from analysis.atomic import write_atomic
from analysis.data import lineage, panel

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
    used = modules(module)
    return {"code": dependencies.code_hash(used), "data": data_hash(used), "numerics": numerics.fingerprint().split(":")[0]}


def modules(module: str) -> set[str]:
    """`module` and the package modules it imports, without the panel's readers."""
    readers = {reader.__module__ for reader in panel.READERS.values()}
    return (dependencies.imported_modules(f"import {module}") | {module}) - readers


def data_hash(used: set[str], inputs: lineage.Inputs | None = None) -> str:
    """Hash of the data the modules `used` read (from `inputs`, default the current ones): the panel columns they name (with
    the ID columns), the checksums of the registered files behind those columns and of the files they name by key,
    and the cohorts file if they use it."""
    inputs = inputs or lineage.Inputs.current()
    named: set[str] = set()
    for module in used:
        named |= dependencies.named_strings(paths.module_file(module).read_text())
    columns = sorted(named & (set(inputs.panel.columns) - set(panel.ID_COLUMNS)))
    keys = set(lineage.source_keys(columns, inputs.variables, inputs.lineage)) | (named & set(inputs.registry))
    digest = hashlib.sha256(pd.util.hash_pandas_object(inputs.panel[panel.ID_COLUMNS + columns], index=False).values.tobytes())
    digest.update(",".join(columns).encode())
    for key in sorted(keys):
        digest.update(f"{key}:{inputs.registry[key].sha256}".encode())
    if "analysis.data.cohorts" in used:
        digest.update(paths.COHORTS.read_bytes())
    return digest.hexdigest()[:16]


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
