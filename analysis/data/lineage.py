"""Which registered files each panel variable is read from, and the vintage of those files.

A chapter, an LA profile or a reader quoting a figure needs to say which
release it came from. The panel's data dictionary names each variable's source
table; this module finds which registry entries (`data/sources.toml`) each table
is read from by running its reader with a store that records every file it
opens, so the answer cannot drift from the code. The result is kept in
`data/processed/lineage.json`, stamped with the panel's stamp, and rebuilt
(about half a minute) only when the registry or the data code changes.

`vintage(columns)` lists, for a set of panel columns, the releases behind them:
title, publisher, release date and the start of the file's sha256 (a revised
file has a new one, so a revision shows in the vintage even when its release
date does not change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd

from analysis import paths
from analysis.atomic import write_atomic
from analysis.data import geography, panel
from analysis.data.sources import Source, Store, load_registry

FILE = paths.PROCESSED / "lineage.json"


@dataclass
class _Recording(Store):
    """A store that records the key of every file handed out."""

    keys: list[str] = field(default_factory=list)

    def path(self, key: str) -> Path:
        self.keys.append(key)
        return super().path(key)


def _recording(store: Store) -> _Recording:
    return _Recording(registry=store.registry, raw=store.raw, mirror=store.mirror, route=store.route,
                      registry_bytes=store.registry_bytes)


def trace(store: Store | None = None) -> dict:
    """Run every panel reader with a recording store: the registry keys each source table reads, and those every
    table depends on (the LA list). Reads the files; writes nothing."""
    store = store or Store()
    common = _recording(store)
    las = geography.load_las(common)
    tables = {}
    for reader in panel.READERS.values():
        rec = _recording(store)
        table = reader(rec, las)
        tables[table.name] = sorted(set(rec.keys))
    return {"stamp": panel.stamp(store), "common": sorted(set(common.keys)), "tables": tables}


@dataclass(frozen=True)
class Inputs:
    """The data a chapter's or a grid's stamp is computed from: the panel and its dictionary, which registered
    files each source table is read from (`load`) and the registry. `update` builds one from a candidate panel
    and registry to say which chapters a revision would re-execute, before accepting it."""

    panel: pd.DataFrame
    variables: pd.DataFrame
    lineage: dict
    registry: dict[str, Source]

    @classmethod
    def current(cls) -> Inputs:
        return cls(panel.load(), panel.load_variables(), load(), load_registry())


def load(store: Store | None = None, path: Path = FILE) -> dict:
    """The stored trace if it was made from the current registry and data code, else a new one (stored)."""
    stamp = panel.stamp(store)
    try:
        record = json.loads(path.read_text())
        if record.get("stamp") == stamp:
            return record
    except (OSError, ValueError):
        pass
    record = trace(store)
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1) + "\n"))
    return record


def expand(patterns: list[str], columns: list[str]) -> list[str]:
    """The panel `columns` matching any of `patterns` (names or shell-style globs such as 'ehcp_*' or '*')."""
    return [c for c in columns if any(fnmatch(c, p) for p in patterns)]


def source_keys(columns: list[str], variables: pd.DataFrame | None = None, record: dict | None = None) -> list[str]:
    """Registry keys the given panel columns are read from, with those every column depends on."""
    variables = panel.load_variables() if variables is None else variables
    record = load() if record is None else record
    tables = variables.loc[variables["name"].isin(columns), "table"].unique()
    keys = set(record["common"]) | {k for t in tables for k in record["tables"].get(t, [])}
    return sorted(keys)


def vintage(keys: list[str], registry: dict[str, Source] | None = None) -> pd.DataFrame:
    """One row per source: key, title, publisher, release date (and the date a revised file was taken up), start
    of its sha256 and its page."""
    registry = Store().registry if registry is None else registry
    rows = [{"key": k, "title": registry[k].title, "publisher": registry[k].publisher,
             "released": registry[k].released + (f" (revised file taken up {registry[k].revised})" if registry[k].revised else ""),
             "sha256": registry[k].sha256[:12], "page": registry[k].page} for k in keys]
    return pd.DataFrame(rows).sort_values(["released", "title"], ascending=[False, True], ignore_index=True)
