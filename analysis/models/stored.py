"""Small results of long computations (grids of fits), stored in `results/` and stamped with what made them.

A grid (backtests, calibration, placebos) takes far longer than a chapter may, so it
runs as its own command and saves its summary as `results/<name>.json`, stamped
with what made it: the code it ran, the data it read, the software and the numerics. A chapter
reads the summary with `load`, which also says whether the stamp still matches the
code and data as they are now: a stale result is shown as stale, never silently.

The stamp follows what the grid uses, so that a change elsewhere does not send it
back to be recomputed (the largest grids take the better part of an hour):

* **code**: the task's module and every package module it imports, except the
  panel's readers (the modules of `analysis.data.panel.READERS`) where only the
  panel imports them: they reach a grid only through the panel columns below;
* **data**: the content of every panel column those modules name, the checksums
  of the registered files those columns are read from (`analysis.data.lineage`)
  and of any file the modules name by its registry key, and `data/cohorts.csv`
  where the modules read the cohorts. A corrected URL in the registry, a column
  the grid does not use or a reader rewritten without changing its output leave
  the result current; a revised value in a column it uses does not;
* **software**: the installed versions of the exactly pinned dependencies.

The stamp is taken when a grid starts and must still hold when it is saved.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from importlib import metadata
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


class StampChanged(RuntimeError):
    """The code, data or software changed while a grid ran: its results cannot be stamped with either."""


def stamp(module: str) -> dict:
    """The stamp of a result computed by `module` on the current data, software and numerics."""
    used = modules(module)
    return {"code": dependencies.code_hash(used), "data": data_hash(used), "software": software(),
            "numerics": numerics.fingerprint().split(":")[0]}


def modules(module: str) -> set[str]:
    """`module` and the package modules it imports, without the panel's readers that only the panel imports (a
    reader that another of the modules imports stays in: its functions may run inside the grid)."""
    used = dependencies.imported_modules(f"import {module}") | {module}
    readers = {reader.__module__ for reader in panel.READERS.values()}
    others = used - readers - {panel.__name__}
    called = set().union(*(dependencies.direct_imports(paths.module_file(m).read_text(encoding="utf-8")) for m in others))
    return used - (readers - called)


def software() -> str:
    """Hash of the installed versions of the study's exactly pinned dependencies (`==` in `pyproject.toml`): a new
    pin can change a grid's results as a code change can. A dependency given as a range (nbformat, which only
    reads and writes notebooks) is left out: pip may install any version in it, which would stale every grid."""
    pins = tomllib.loads((paths.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = sorted(pin.split("==", 1)[0].strip() for pin in pins if "==" in pin)
    return hashlib.sha256(",".join(f"{n}={metadata.version(n)}" for n in names).encode()).hexdigest()[:16]


def data_hash(used: set[str], inputs: lineage.Inputs | None = None) -> str:
    """Hash of the data the modules `used` read (from `inputs`, default the current ones): the panel columns they name (with
    the ID columns), the checksums of the registered files behind those columns and of the files they name by key,
    and the cohorts file if they use it."""
    inputs = inputs or lineage.Inputs.current()
    named: set[str] = set()
    for module in used:
        named |= dependencies.named_strings(paths.module_file(module).read_text(encoding="utf-8"))
    columns = sorted(named & (set(inputs.panel.columns) - set(panel.ID_COLUMNS)))
    keys = set(lineage.source_keys(columns, inputs.variables, inputs.lineage)) | (named & set(inputs.registry))
    digest = hashlib.sha256(pd.util.hash_pandas_object(inputs.panel[panel.ID_COLUMNS + columns], index=False).values.tobytes())
    digest.update(",".join(columns).encode())
    for key in sorted(keys):
        digest.update(f"{key}:{inputs.registry[key].sha256}".encode())
    if "analysis.data.cohorts" in used:
        digest.update(paths.COHORTS.read_bytes().replace(b"\r\n", b"\n"))  # a Windows checkout's line endings
    return digest.hexdigest()[:16]


def save(name: str, results: dict, module: str, made_with: dict | None = None, folder: Path = RESULTS) -> Path:
    """Store `results` of the grid run by `module`, stamped; `made_with` is the stamp taken when the grid started,
    which must still hold (`StampChanged` otherwise, and nothing is written)."""
    now = stamp(module)
    if made_with is not None and made_with != now:
        changed = [k for k in now if made_with.get(k) != now[k]]
        raise StampChanged(f"the {' and the '.join(changed)} changed while the {name} grid ran, so its results match neither "
                           f"stamp; nothing was written: rerun `python -m analysis grid {name}`")
    record = {"stamp": now, "module": module, "results": results}
    return write_atomic(folder / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))


def restamp(name: str, reproduced: list[str], folder: Path = RESULTS) -> Path:
    """Stamp the stored results of `name` with the code as it is now, keeping the results.

    For a change to shared code that leaves the grid's computation as it was (an option
    only another model uses, a refactor), shown by the grid's reduced tasks `reproduced`
    giving the stored results exactly: rerunning an hour-long grid to get the same
    numbers proves nothing more. Only the code may have changed (`ValueError`
    otherwise: new data, software or numerics need the grid rerun). The record keeps
    each earlier code hash and the tasks that reproduced the results; a full run of the
    grid replaces it."""
    path = folder / f"{name}.json"
    record = json.loads(path.read_text())
    stale = load(name, folder=folder).stale
    if stale != ["code"]:
        raise ValueError(f"{path}: only a result stale in its code alone can be re-stamped (it is "
                         f"{'current' if not stale else 'stale in its ' + ' and '.join(stale)}); rerun "
                         f"`python -m analysis grid {name}`")
    now = stamp(record["module"])
    record["restamped"] = [*record.get("restamped", []), {"from": record["stamp"]["code"], "to": now["code"], "reproduced": sorted(reproduced)}]
    record["stamp"] = now
    return write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))


def load(name: str, folder: Path = RESULTS) -> Stored:
    path = folder / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: compute it with `python -m analysis grid {name}`")
    record = json.loads(path.read_text())
    now = stamp(record["module"])
    labels = {"code": "code", "data": "data", "software": "software versions", "numerics": "numerical environment"}
    stale = [labels[k] for k in labels if record["stamp"].get(k) != now[k]]
    return Stored(name, record["results"], record["stamp"], stale)
