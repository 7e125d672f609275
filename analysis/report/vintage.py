"""The data vintage of each chapter and LA profile: the releases its figures come from.

A chapter declares in its metadata (`send_vfm.uses`) the panel columns it uses,
as names or shell-style globs, and the registered files it reads directly (map
boundaries, statistical neighbours). Those declarations decide when the chapter
is re-executed (`analysis.report.book`) and which releases it names at its end:
each source's title, publisher, release date and the start of its sha256, so a
revised file shows even when its release date does not change.
"""

from __future__ import annotations

import nbformat
import pandas as pd

from analysis import paths
from analysis.data import lineage, panel

KEY = "send_vfm"


def declared(nb: nbformat.NotebookNode, columns: list[str]) -> tuple[list[str], list[str]]:
    """The panel `columns` a notebook declares it uses (patterns expanded, in panel order) and the registry keys
    it declares it reads directly."""
    uses = nb.metadata.get(KEY, {}).get("uses", {})
    return lineage.expand(uses.get("panel", []), columns), sorted(uses.get("sources", []))


def sources(chapter: str) -> list[str]:
    """Registry keys behind chapter `chapter` (its file name without '.ipynb', e.g. '03-ehcp')."""
    path = paths.ROOT / "chapters" / f"{chapter}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no chapter {path}: name it as its file in chapters/ without '.ipynb'")
    variables = panel.load_variables()
    columns, direct = declared(nbformat.read(path, as_version=4), variables["name"].tolist())
    return sorted(set(lineage.source_keys(columns, variables)) | set(direct))


def table(chapter: str) -> pd.DataFrame:
    """The chapter's data vintage for the reader: one row per release, newest first."""
    v = lineage.vintage(sources(chapter))
    return pd.DataFrame({"Source": v["title"], "Publisher": v["publisher"], "Released": v["released"],
                         "sha256 (start)": "`" + v["sha256"] + "`"})
