"""`python -m analysis update`: a revised source is found, shown, and re-executes exactly the chapters that use it;
an update that fails leaves everything as it was; chapters' declarations cover what their code uses."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis import paths
from analysis.data import lineage, panel
from analysis.data.sources import load_registry
from analysis.evaluation import programmes
from analysis.report import book, update

REVISED_KEY, REVISED_LA, REVISED_YEAR, DELTA = "s251_2024", "E10000032", 2025, 1_000_000.0


# --------------------------------------------------------------------------- declarations and stamps


@pytest.mark.parametrize("path", book.notebooks(), ids=lambda p: p.stem)
def test_each_chapter_declares_every_column_and_source_its_code_names(path):
    nb = nbformat.read(path, as_version=4)
    columns, sources = book.uses(nb)
    named_columns, named_sources = book.scanned_uses(nb)
    assert named_columns <= set(columns), f"{path.name} uses undeclared panel columns {sorted(named_columns - set(columns))}"
    assert named_sources <= set(sources), f"{path.name} reads undeclared sources {sorted(named_sources - set(sources))}"


def _revised_inputs() -> lineage.Inputs:
    now = book.current_inputs()
    frame = now.panel.copy()
    at = (frame["la_code"] == REVISED_LA) & (frame["year"] == REVISED_YEAR)
    frame.loc[at, "hn_spend"] += DELTA
    return lineage.Inputs(frame, now.variables, now.lineage, now.registry)


def test_a_revised_value_makes_stale_exactly_the_chapters_that_declare_its_column():
    inputs = _revised_inputs()
    changed = set()
    for path in book.notebooks():
        nb = nbformat.read(path, as_version=4)
        if book.input_hash(nb) != book.input_hash(nb, inputs):
            changed.add(path.stem)
        assert (path.stem in changed) == ("hn_spend" in book.uses(nb)[0]), path.stem
    assert "04-spend" in changed and "03-ehcp" not in changed


def test_the_registry_is_revised_in_place_for_the_named_source_only_and_dated():
    text = paths.REGISTRY.read_text()
    registry = book.current_inputs().registry
    old = registry[REVISED_KEY].sha256
    rev = update.Revision(REVISED_KEY, registry[REVISED_KEY].mirror_path, old, "f" * 64, "mirror")
    new = update.revised_registry(text, [rev], "2026-12-05")
    assert new.count("f" * 64) == 1 and old not in new
    assert new.count('revised = "2026-12-05"') == 1 and f'sha256 = "{"f" * 64}"\nrevised = "2026-12-05"\n' in new
    # nothing else moved (comments, order, other entries)
    assert new.replace('revised = "2026-12-05"\n', "").replace("f" * 64, old) == text
    again = update.revised_registry(new, [update.Revision(REVISED_KEY, rev.path, "f" * 64, "e" * 64, "mirror")], "2027-01-31")
    assert 'revised = "2027-01-31"' in again and "2026-12-05" not in again and again.count("revised = ") == 1
    revised = load_registry(text=again.encode())[REVISED_KEY]
    assert revised.revised == "2027-01-31" and revised.sha256 == "e" * 64
    shown = lineage.vintage([REVISED_KEY], load_registry(text=again.encode()))
    assert shown["released"].iloc[0] == f"{registry[REVISED_KEY].released} (revised file taken up 2027-01-31)"
    with pytest.raises(ValueError, match=r"\[sources.s251_2023\]"):
        update.revised_registry(text, [update.Revision("s251_2023", "x", "0" * 64, "1" * 64, "mirror")], "2026-12-05")


def test_a_failed_download_is_said_in_a_few_words_and_files_missing_alike_are_one_line():
    import requests

    exc = requests.ConnectionError("HTTPSConnectionPool(host='x.example', port=443): Max retries exceeded " + "x" * 400,
                                   request=requests.Request("GET", "https://x.example/a.csv").prepare())
    assert update.failure(exc) == "no connection to x.example"
    assert update.failure(ValueError("bad\nmore")) == "ValueError: bad"
    missing = [update.Missing(f"k{i}", f"d/k{i}.csv", f"the download from https://x.example/k{i}.csv", "no connection to x.example")
               for i in range(6)]
    missing.append(update.Missing("one", "d/one.csv", "the download from https://y.example/one.csv", "HTTP 404"))
    lines = update._missing_lines(missing)
    assert lines == ["missing: one (d/one.csv): the download from https://y.example/one.csv failed: HTTP 404",
                     "missing: 6 files (k0, k1, k2, k3, k4, …): the download failed: no connection to x.example"]
    assert "offline?" in update._missing_lines(missing[:6])[-1]


def test_update_help_states_the_exit_statuses_the_command_returns(capsys):
    from analysis.__main__ import main

    with pytest.raises(SystemExit):
        main(["update", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{update.REVISIONS_PENDING} when revised files were found" in text and f"{update.MISSING} when a registered file is neither in the mirror nor downloadable" in text


def test_compare_names_changed_cells_added_rows_and_england_totals():
    old = pd.DataFrame({"la_code": ["A", "B"], "year": [2025, 2025], "la_name": ["a", "b"], "hn_spend": [1.0, 2.0], "x": [5.0, None]})
    new = pd.DataFrame({"la_code": ["A", "B", "A"], "year": [2025, 2025, 2026], "la_name": ["a", "b", "a"],
                        "hn_spend": [1.0, 3.0, 4.0], "x": [5.0, None]  + [None]})
    variables = pd.DataFrame({"name": ["hn_spend", "x"], "kind": ["money", "rate"]})
    changes, totals = update.compare(old.reindex(columns=old.columns), new, variables)
    assert [c["variable"] for c in changes] == ["hn_spend"]
    assert changes[0]["la_years"] == 2 and changes[0]["rows_added"] == 1 and changes[0]["years"] == [2025, 2026]
    assert {"variable": "hn_spend", "year": 2025, "before": 3.0, "after": 4.0} in totals


# --------------------------------------------------------------------------- the command, on a copy of the study


def _tree(root: Path) -> dict[str, str]:
    """sha256 of every file `update` may change."""
    files = [root / "data" / "sources.toml", *sorted((root / "data" / "raw").rglob("*")), *sorted((root / "data" / "processed").glob("*")),
             *sorted((root / "chapters").glob("*.ipynb")), root / "results" / "key_numbers.json", root / "_key-findings.md",
             *sorted((root / "downloads" / "profiles").glob("*")), *sorted((root / "_book").rglob("*"))]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def _copy_study(base: Path, fits: Path | None = None) -> tuple[Path, Path]:
    """A copy of the study (its files, the verified raw files and the built panel) and a mirror of symlinks to the
    real one's files; the copy's fit cache is `fits` (shared) when given, else its own, empty."""
    root, mirror = base / "study", base / "mirror"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=paths.ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        if (paths.ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(paths.ROOT / name, root / name)
    panel.ensure()
    book.current_inputs()  # writes data/processed/lineage.json if it is missing
    for folder in ("raw", "processed"):
        shutil.copytree(paths.DATA / folder, root / "data" / folder)
    if fits is not None:
        fits.mkdir(parents=True, exist_ok=True)
        (root / "data" / "cache").mkdir(parents=True)
        (root / "data" / "cache" / "fits").symlink_to(fits, target_is_directory=True)
    source = paths.mirror_dir()
    for path in source.rglob("*"):
        if path.is_file():
            (mirror / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (mirror / path.relative_to(source)).symlink_to(path)
    return root, mirror


def _replace(link: Path, data: bytes) -> None:
    """Put a revised file where the mirror had a symlink to the published one."""
    link.unlink()
    link.write_bytes(data)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the study and of the mirror in which one source, the 2024-25 s251 spend file, was revised: West
    Sussex's high-needs spend raised by £1m."""
    root, mirror = _copy_study(tmp_path_factory.mktemp("update"))
    revised = mirror / "s251" / "s251_lookup_2024.json"
    data = json.loads(revised.read_text())
    line = next(b for b in data[REVISED_LA]["education_breakdown"] if b["name"] == "High needs (SEND)")
    line["value"] += DELTA
    _replace(revised, json.dumps(data, indent=2).encode())
    return root, mirror


def _update(root: Path, mirror: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"SEND_DATA_MIRROR": str(mirror), "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-m", "analysis", "update", "--no-render", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1200)


def test_update_shows_a_revision_and_what_it_would_rerun_and_changes_nothing(study):
    root, mirror = study
    before = _tree(root)
    run = _update(root, mirror, "--json")
    assert run.returncode == update.REVISIONS_PENDING, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert [r["key"] for r in report["revisions"]] == [REVISED_KEY]
    assert [c["variable"] for c in report["changes"]] == ["hn_spend"]
    change = report["changes"][0]
    assert change["la_years"] == 1 and change["las"] == [REVISED_LA] and change["years"] == [REVISED_YEAR]
    total = next(t for t in report["totals"] if t["year"] == REVISED_YEAR)
    assert total["after"] - total["before"] == pytest.approx(DELTA)
    assert "04-spend" in report["chapters"] and "03-ehcp" not in report["chapters"]
    assert report["vintage_changes"]["04-spend"] == [REVISED_KEY]
    declared = {p.stem for p in book.notebooks() if "hn_spend" in book.uses(nbformat.read(p, as_version=4))[0]}
    assert set(report["chapters"]) == declared  # exactly the chapters that use the revised column
    # the grids that read high-needs spend (the spend model's and the evaluation's), not the EHCP backtest; the place
    # funding SBC reads none, but its module sits in the spend package, whose modules name the column
    assert report["grids"] == ["place-sbc", "placebo-crosschecks", "placebo-imputation", "placebo-synthetic", "placebos",
                               "simulation", "spend-holdout", "spend-sbc"]
    assert _tree(root) == before


def test_a_failed_update_is_rolled_back(study):
    root, mirror = study
    chapter = root / "chapters" / "01-data.ipynb"  # the first the revision re-executes: it fails before any other runs
    nb = nbformat.read(chapter, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = 'raise RuntimeError("a chapter that fails")\n' + first.source
    nbformat.write(nb, chapter)
    (root / "_book").mkdir(exist_ok=True)
    (root / "_book" / "index.html").write_text("<p>the book as last rendered</p>")
    before = _tree(root)
    assert any(name.startswith("data/raw/") for name in before) and "_book/index.html" in before
    run = _update(root, mirror, "--accept-revisions")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "back as they were" in run.stderr and "a chapter that fails" in run.stderr
    assert _tree(root) == before  # registry, raw files, panel, chapters, downloads and the rendered book as they were


def test_stale_grids_are_named_with_what_changed(tmp_path):
    from analysis.models import stored

    for name in ("backtest", "placebos", "key_numbers"):
        shutil.copy2(stored.RESULTS / f"{name}.json", tmp_path / f"{name}.json")
    assert update.stale_grids(tmp_path) == {}
    record = json.loads((tmp_path / "backtest.json").read_text())
    record["stamp"]["data"] = "0" * 16
    (tmp_path / "backtest.json").write_text(json.dumps(record))
    assert update.stale_grids(tmp_path) == {"backtest": ["data"]}  # key_numbers.json is not a grid
    text = update.summary(update.Report(stale_grids={"backtest": ["data"]}), accept=True)
    assert "results/backtest.json (its data changed); rerun `python -m analysis grid backtest`" in text


def test_the_grids_a_revision_reaches_are_those_whose_data_it_changes_not_those_already_stale(tmp_path):
    from analysis.models import stored

    record = json.loads((stored.RESULTS / "backtest.json").read_text())
    record["stamp"]["data"] = "0" * 16  # stale before any revision
    (tmp_path / "backtest.json").write_text(json.dumps(record))
    now = lineage.Inputs.current()
    assert update.grids_reached(now, tmp_path) == []
    counts = now.panel.assign(ehcp_total=now.panel["ehcp_total"] + 1)
    assert update.grids_reached(dataclasses.replace(now, panel=counts), tmp_path) == ["backtest"]


def test_update_stores_the_forecast_before_it_executes_chapters(tmp_path, monkeypatch):
    """Chapter 8 reads the stored forecast of the next January, so `update` must store it before any chapter runs."""
    calls = []
    monkeypatch.setattr(update, "check", lambda scratch, store, log: (update.Report(), None))
    monkeypatch.setattr(update, "stale_grids", lambda: {})
    monkeypatch.setattr(update, "store_forecast", lambda report, log: calls.append("forecast"))
    monkeypatch.setattr(update, "_execute", lambda report, log: calls.append("execute"))
    assert update._run(tmp_path, accept=False, store=None, render=False, log=lambda _: None) == (update.Report(), 0)
    assert calls == ["forecast", "execute"]


def test_a_new_january_has_its_forecast_stored_once(tmp_path, monkeypatch):
    """When the forecast of the January after the panel's last is not stored (as after a SEN2 release with a new
    January), `store_forecast` stores it with the table and writer of `python -m analysis forecast` and says so;
    once it is stored, it writes nothing."""
    from analysis.models.ehcp import EHCPModel, publish

    real = publish.path_for
    monkeypatch.setattr(publish, "path_for", lambda january, folder=publish.FOLDER: tmp_path / real(january).name)
    january = EHCPModel(panel.load()).last_year + 1
    report = update.Report()
    update.store_forecast(report, log=lambda _: None)
    stored = publish.read(tmp_path / real(january).name)
    assert report.forecast == real(january).name and (stored["january"] == january).all()
    assert stored["median"].notna().sum() > 140 and stored.loc[stored["la_code"] == "E92000001", "median"].notna().all()
    assert f"stored: results/forecasts/{real(january).name}" in update.summary(report, accept=True)
    again = update.Report()
    update.store_forecast(again, log=lambda _: None)
    assert again.forecast == ""


# --------------------------------------------------------------------------- a revision accepted, end to end

TOTALS_KEY, TOTALS_SHEET, TOTALS_LA, TOTALS_OLD_CODE, TOTALS_YEAR = "dsg_totals", "dsg_budget_2024_03_30", "E10000032", "938", 2024


def _revise_dsg_total(path: Path, delta: float) -> bytes:
    """The DSG totals workbook rewritten with one LA's 2023-24 total (and England's, so that the two still add up)
    raised by `delta`; every other sheet and cell as read."""
    import io

    sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    table = sheets[TOTALS_SHEET]
    rows = table["la_code"].astype(str).isin([TOTALS_OLD_CODE, "ENGLAND"])
    assert rows.sum() == 2
    table.loc[rows, "Total DSG allocation (£s)"] = table.loc[rows, "Total DSG allocation (£s)"].astype(float) + delta
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return out.getvalue()


def _outputs(root: Path) -> dict[str, str]:
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "chapters").glob("*.ipynb"))}


def test_an_accepted_revision_reruns_exactly_its_chapters_states_the_new_vintage_and_moves_nothing_else(tmp_path):
    """A revised DSG totals workbook (one LA's 2023-24 total and England's raised by £1m) accepted with
    `--accept-revisions`: the registry records the new checksum for that source only, the panel changes in that
    one value only, exactly the chapters that declare a column of that source are re-executed and name the new
    file in their data vintage, no model's data changes (so no fit is refitted: the fit cache, shared with this
    checkout, is keyed by the data), the key numbers are the same, and the other chapters are untouched."""
    from analysis.models import fitting

    root, mirror = _copy_study(tmp_path, fits=fitting.FITS)
    registry = book.current_inputs().registry
    revised = mirror / registry[TOTALS_KEY].mirror_path
    _replace(revised, _revise_dsg_total(revised, 1_000_000.0))
    new_sha = hashlib.sha256(revised.read_bytes()).hexdigest()
    before_registry = (root / "data" / "sources.toml").read_text()
    before_panel = pd.read_parquet(root / "data" / "processed" / "panel.parquet")
    before_chapters = _outputs(root)
    before_numbers = json.loads((root / "results" / "key_numbers.json").read_text())["numbers"]
    inputs = book.current_inputs()
    declared = {p.stem for p in book.notebooks()
                if TOTALS_KEY in lineage.source_keys(book.uses(nbformat.read(p, as_version=4))[0], inputs.variables, inputs.lineage)}

    started = date.today().isoformat()
    run = _update(root, mirror, "--accept-revisions", "--json")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert [r["key"] for r in report["revisions"]] == [TOTALS_KEY] and report["accepted"]
    assert set(report["executed"]) == set(report["chapters"]) == declared and "03-ehcp" not in declared

    after_registry = (root / "data" / "sources.toml").read_text()
    # the day the revision was taken up: the run may cross midnight (a CI run did)
    today = next((d for d in {started, date.today().isoformat()} if f'revised = "{d}"' in after_registry), started)
    assert after_registry == before_registry.replace(f'sha256 = "{registry[TOTALS_KEY].sha256}"\n',
                                                     f'sha256 = "{new_sha}"\nrevised = "{today}"\n')
    after_panel = pd.read_parquet(root / "data" / "processed" / "panel.parquet")
    changed = (before_panel.set_index(["la_code", "year"]) != after_panel.set_index(["la_code", "year"])) & \
        ~(before_panel.set_index(["la_code", "year"]).isna() & after_panel.set_index(["la_code", "year"]).isna())
    assert changed.to_numpy().sum() == 1 and changed.loc[(TOTALS_LA, TOTALS_YEAR), "dsg_total"]

    after_chapters = _outputs(root)
    assert {c for c in after_chapters if after_chapters[c] != before_chapters[c]} <= declared
    for chapter in declared:
        text = (root / "chapters" / f"{chapter}.ipynb").read_text()
        assert new_sha[:12] in text and registry[TOTALS_KEY].sha256[:12] not in text, chapter  # the vintage names the new file
        assert f"revised file taken up {today}" in text, chapter
    after_numbers = json.loads((root / "results" / "key_numbers.json").read_text())["numbers"]
    assert after_numbers == before_numbers
    assert _model_data(root) == _model_data(paths.ROOT)


def _model_data(root: Path) -> str:
    """The data hashes of the EHCP, spend and outcome models on the panel of the study at `root`."""
    code = ("import analysis\nfrom analysis.data import panel\nfrom analysis.models.ehcp import EHCPModel\n"
            "from analysis.models.spend import SpendModel\nfrom analysis.models.outcomes import OutcomeModel\n"
            "f = panel.load()\nprint(EHCPModel(f).data_hash(), SpendModel(f).data_hash(), OutcomeModel(f).data_hash())")
    env = os.environ | {"PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True).stdout


def test_a_panel_out_of_date_with_the_registry_is_rebuilt_compared_and_installed(tmp_path):
    """A registry entry added by hand (here for a mirror file no reader uses yet, as when a new release is
    registered before its reader is written) leaves every file as registered but the panel out of date:
    `update` rebuilds it from the registered files, says no value changed and no chapter needs re-executing,
    installs it without asking (the edit was the decision), and then reports the panel current."""
    root, mirror = _copy_study(tmp_path)
    sums = {line.split()[1].removeprefix("./"): line.split()[0] for line in (paths.mirror_dir() / "SHA256SUMS").read_text().splitlines()}
    entry = ('\n[sources.dashboard_sen_la]\ntitle = "SEND dashboard: SEN by LA"\npublisher = "Department for Education"\n'
             'url = "https://example.invalid/sen_la.csv"\npage = "https://example.invalid/"\nreleased = "2024-01-01"\n'
             'licence = "OGL-3.0"\nmirror_path = "dashboard/sen_la.csv"\n'
             f'sha256 = "{sums["dashboard/sen_la.csv"]}"\ncitation = ""\ncoverage = ""\nderived = false\nnotes = ""\n')
    registry = root / "data" / "sources.toml"
    as_committed = registry.read_text()
    # first an entry whose file the mirror does not have: reported as missing (status 4), nothing built or moved
    registry.write_text(as_committed + entry.replace("dashboard/sen_la.csv", "dashboard/not_there.csv").replace("https://example.invalid/sen_la.csv", "https://example.invalid/not_there.csv"))
    before = _tree(root)
    missing = _update(root, mirror, "--json", "--from", "mirror")
    assert missing.returncode == update.MISSING, missing.stdout[-2000:] + missing.stderr[-2000:]
    reported = json.loads(missing.stdout)["missing"]
    assert [(m["key"], m["path"], m["reason"]) for m in reported] == [("dashboard_sen_la", "dashboard/not_there.csv", "")]
    assert reported[0]["tried"].startswith("not in the mirror") and _tree(root) == before
    registry.write_text(as_committed + entry)
    before = _tree(root)

    run = _update(root, mirror, "--json")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["outdated"] and not report["revisions"] and not report["accepted"]
    assert report["changes"] == [] and report["chapters"] == [] and report["executed"] == [] and not report["key_numbers"]
    after = _tree(root)
    moved = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert moved and moved <= {"data/processed/build.json", "data/processed/lineage.json"}, moved  # the new stamps, nothing else
    assert "the panel is out of date (the one on disk was built before the source registry" in run.stderr
    again = json.loads(_update(root, mirror, "--json").stdout)
    assert not again["outdated"]


def test_a_revised_value_changes_the_data_of_exactly_the_models_that_read_it():
    """The fit cache is keyed by each model's data, so a revision refits exactly the models whose data it changes:
    West Sussex's 2024-25 high-needs spend (a DBV LA) moves the spend model and DBV's event study and its
    synthetic control of spend per head, and not the EHCP model, the outcome model, Safety Valve's fits or DBV's
    synthetic control of plans."""
    from analysis.evaluation import experiment
    from analysis.models.ehcp import EHCPModel
    from analysis.models.outcomes import OutcomeModel
    from analysis.models.spend import SpendModel

    now, revised = book.current_inputs().panel, _revised_inputs().panel
    real = experiment.load()

    def hashes(frame: pd.DataFrame) -> dict[str, str]:
        ev = experiment.Evaluation(frame, real.cohorts, real.neighbours)
        out = {"ehcp": EHCPModel(frame).data_hash(), "spend": SpendModel(frame).data_hash(), "outcomes": OutcomeModel(frame).data_hash()}
        for p in programmes.PROGRAMMES:
            out[f"event {p}"] = ev.event_study(p).data_hash
            out |= {f"synthetic {p} {o}": ev.synthetic_control(p, o).data_hash for o in programmes.HEADLINE}
        return out

    before, after = hashes(now), hashes(revised)
    assert {k for k in before if before[k] != after[k]} == {"spend", "event dbv", "synthetic dbv hn_spend_per_head"}
