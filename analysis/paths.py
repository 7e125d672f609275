"""Where the project keeps its files: one place, so no module guesses paths."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RAW = DATA / "raw"
PROCESSED = DATA / "processed"
CACHE = DATA / "cache"
REGISTRY = DATA / "sources.toml"
COHORTS = DATA / "cohorts.csv"
PANEL = PROCESSED / "panel.parquet"


def module_file(name: str) -> Path:
    """The source file of package module `name` ("analysis.data.panel" → analysis/data/panel.py)."""
    parts = name.split(".")
    if parts[0] != "analysis":
        raise ValueError(f"{name} is not a module of the analysis package")
    base = ROOT.joinpath(*parts)
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def mirror_dir() -> Path:
    """The offline mirror: `$SEND_DATA_MIRROR`, else `../shared/data` beside the project."""
    env = os.environ.get("SEND_DATA_MIRROR")
    return Path(env).expanduser().resolve() if env else (ROOT.parent / "shared" / "data").resolve()
