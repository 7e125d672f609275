"""Stored grid results say when the code or data that made them has changed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from analysis import paths
from analysis.data import lineage
from analysis.models import stored


def test_a_fresh_result_is_current_and_an_edited_stamp_is_stale(tmp_path):
    stored.save("demo", {"origin-2022": {"x": 1.5}}, "analysis.models.ehcp.backtest", folder=tmp_path)
    result = stored.load("demo", folder=tmp_path)
    assert result.results == {"origin-2022": {"x": 1.5}} and result.stale == [] and result.note("cmd") == ""
    path = tmp_path / "demo.json"
    record = json.loads(path.read_text())
    record["stamp"]["data"] = "an older panel"
    record["stamp"]["code"] = "older code"
    path.write_text(json.dumps(record))
    stale = stored.load("demo", folder=tmp_path)
    assert stale.stale == ["code", "data"]
    assert "**These results are stale**" in stale.note("python -m analysis grid demo") and "grid demo" in stale.note("python -m analysis grid demo")


def test_the_stamp_covers_the_modules_the_task_imports():
    stamp = stored.stamp("analysis.models.ehcp.backtest")
    assert set(stamp) == {"code", "data", "software", "numerics"}
    assert stamp["code"] != stored.stamp("analysis.models.ehcp.scores")["code"]


def test_the_stamp_leaves_out_the_panel_readers_and_keeps_what_runs_at_grid_time():
    used = stored.modules("analysis.models.ehcp.backtest")
    assert {"analysis.models.ehcp.model", "analysis.data.breaks", "analysis.data.panel", "analysis.models.fitting"} <= used
    assert not used & {"analysis.data.sen2", "analysis.data.finance", "analysis.data.population", "analysis.data.outcomes"}
    # a reader whose functions another module calls at run time stays in: the scenarios call finance.financial_year
    assert "analysis.data.finance" in stored.modules("analysis.evaluation.scenarios")


def test_a_new_pin_stales_a_result_and_a_grid_whose_inputs_changed_while_it_ran_is_not_saved(tmp_path, monkeypatch):
    stored.save("demo", {"x": 1}, "analysis.models.ehcp.backtest", folder=tmp_path)
    real_version = stored.metadata.version
    monkeypatch.setattr(stored.metadata, "version", lambda name: "0.0" if name == "statsforecast" else real_version(name))
    assert stored.load("demo", folder=tmp_path).stale == ["software versions"]
    monkeypatch.setattr(stored.metadata, "version", lambda name: "5.99" if name == "nbformat" else real_version(name))
    assert stored.load("demo", folder=tmp_path).stale == []  # a range, not a pin: whatever pip picks in it
    monkeypatch.undo()
    made_with = stored.stamp("analysis.models.ehcp.backtest") | {"code": "the code when the grid started"}
    with pytest.raises(stored.StampChanged, match="the code changed while the demo2 grid ran"):
        stored.save("demo2", {"x": 1}, "analysis.models.ehcp.backtest", made_with, folder=tmp_path)
    assert not (tmp_path / "demo2.json").exists()


def test_the_data_stamp_moves_with_the_columns_and_files_a_grid_uses_and_nothing_else(monkeypatch, tmp_path):
    """The backtest reads plan counts and population: a revised count or a new checksum of a SEN2 file moves its
    data stamp; a changed KS4 column, a new column, a new checksum of a file behind neither, a corrected URL or a
    changed cohorts file does not. The evaluation's grids read KS4 attainment and the cohorts: those move theirs."""
    backtest, placebos = stored.modules("analysis.models.ehcp.backtest"), stored.modules("analysis.evaluation.placebos")
    now = lineage.Inputs.current()
    before = {"backtest": stored.data_hash(backtest, now), "placebos": stored.data_hash(placebos, now)}

    def with_frame(frame):
        return replace(now, panel=frame)

    def with_source(key, **change):
        return replace(now, registry=now.registry | {key: replace(now.registry[key], **change)})

    count = now.panel.copy()
    count.loc[count["ehcp_total"].notna().idxmax(), "ehcp_total"] += 1
    assert stored.data_hash(backtest, with_frame(count)) != before["backtest"]
    unused = with_frame(now.panel.assign(ks4_attainment8_ehcp=now.panel["ks4_attainment8_ehcp"] + 1, a_new_column=1.0))
    assert stored.data_hash(backtest, unused) == before["backtest"] and stored.data_hash(placebos, unused) != before["placebos"]
    assert stored.data_hash(backtest, with_source("sen2_2025", sha256="0" * 64)) != before["backtest"]
    assert stored.data_hash(backtest, with_source("lait", sha256="0" * 64)) == before["backtest"]
    assert stored.data_hash(backtest, with_source("sen2_2025", url="https://example.invalid/moved.ods")) == before["backtest"]

    cohorts = tmp_path / "cohorts.csv"
    original = paths.COHORTS.read_bytes()
    cohorts.write_bytes(original.replace(b"\n", b"\r\n"))  # a Windows checkout: the same cohorts
    monkeypatch.setattr(paths, "COHORTS", cohorts)
    assert stored.data_hash(placebos, now) == before["placebos"]
    cohorts.write_bytes(original + b"\n")
    assert stored.data_hash(backtest, now) == before["backtest"] and stored.data_hash(placebos, now) != before["placebos"]


def test_a_grid_whose_software_changed_while_it_ran_writes_nothing(monkeypatch, capsys):
    """`python -m analysis grid NAME` takes the stamp before the grid runs; a pin changed meanwhile (here: the
    software hash changes inside the run) leaves no result file and exits 2 naming what changed."""
    from analysis import __main__ as cli
    from analysis import grid

    monkeypatch.setitem(cli.GRIDS, "demo-grid", ("analysis.models.ehcp.backtest", "tasks"))

    def run(tasks, **kwargs):
        monkeypatch.setattr(stored, "software", lambda: "a pin changed mid-run")
        return {"origin-2019": {}}

    monkeypatch.setattr(grid, "run", run)
    written = stored.RESULTS / "demo-grid.json"
    try:
        assert cli.main(["grid", "demo-grid"]) == 2
    finally:
        existed = written.exists()
        written.unlink(missing_ok=True)
    assert not existed and "the software changed while the demo-grid grid ran" in capsys.readouterr().err


def test_only_a_result_stale_in_its_code_alone_is_restamped_and_the_record_says_so(tmp_path):
    stored.save("demo", {"a": {"x": 1}}, "analysis.models.ehcp.backtest", folder=tmp_path)
    path = tmp_path / "demo.json"
    with pytest.raises(ValueError, match="it is current"):
        stored.restamp("demo", ["a"], folder=tmp_path)
    record = json.loads(path.read_text())
    record["stamp"] |= {"code": "older code", "data": "an older panel"}
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="stale in its code and data"):
        stored.restamp("demo", ["a"], folder=tmp_path)
    record["stamp"]["data"] = stored.stamp("analysis.models.ehcp.backtest")["data"]
    path.write_text(json.dumps(record))
    stored.restamp("demo", ["a"], folder=tmp_path)
    again = json.loads(path.read_text())
    assert stored.load("demo", folder=tmp_path).stale == [] and again["results"] == {"a": {"x": 1}}
    assert again["restamped"] == [{"from": "older code", "to": again["stamp"]["code"], "reproduced": ["a"]}]
    stored.save("demo", {"a": {"x": 1}}, "analysis.models.ehcp.backtest", folder=tmp_path)
    assert "restamped" not in json.loads(path.read_text())  # a full run replaces the record


def test_the_grid_command_restamps_only_what_its_reduced_grid_reproduces(tmp_path, monkeypatch, capsys):
    import sys
    import types
    from functools import partial

    from analysis import __main__ as cli
    from analysis import grid

    module = types.ModuleType("demo_grid")
    module.value = 1
    module.tasks = lambda reduced: [grid.Task("a", lambda: {"x": module.value})]
    monkeypatch.setitem(sys.modules, "demo_grid", module)
    monkeypatch.setattr(cli, "GRIDS", {"demo": ("demo_grid", "tasks")})
    monkeypatch.setattr(stored, "load", partial(stored.load, folder=tmp_path))
    monkeypatch.setattr(stored, "restamp", partial(stored.restamp, folder=tmp_path))
    stored.save("demo", {"a": {"x": 1}, "b": {"x": 2}}, "analysis.models.ehcp.backtest", folder=tmp_path)
    path = tmp_path / "demo.json"
    record = json.loads(path.read_text())
    record["stamp"]["code"] = "older code"
    path.write_text(json.dumps(record))
    module.value = 3  # the change did move the result: nothing is re-stamped
    assert cli.main(["grid", "demo", "--restamp", "--scheduler", "serial"]) == 1
    assert "different: a" in capsys.readouterr().err and json.loads(path.read_text()) == record
    module.value = 1
    assert cli.main(["grid", "demo", "--reduced", "--scheduler", "serial"]) == 1  # stale: --reduced only checks
    assert "stale: code" in capsys.readouterr().err
    # part of a stored task (the synthetic-control placebos' first group of a batch) reproduces it too
    assert cli._reproduced({"x": 1}, {"x": 1, "y": 2}) and not cli._reproduced({"x": 1, "z": 0}, {"x": 1})
    assert cli.main(["grid", "demo", "--restamp", "--scheduler", "serial"]) == 0
    assert "reproduces results/demo.json exactly under the changed code" in capsys.readouterr().err
    assert stored.load("demo").stale == [] and json.loads(path.read_text())["restamped"][0]["reproduced"] == ["a"]
