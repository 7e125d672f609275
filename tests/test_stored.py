"""Stored grid results say when the code or data that made them has changed."""

from __future__ import annotations

import json

from analysis.models import stored


def test_a_fresh_result_is_current_and_an_edited_stamp_is_stale(tmp_path):
    stored.save("demo", {"origin-2022": {"x": 1.5}}, "analysis.models.ehcp.scores", folder=tmp_path)
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
    assert set(stamp) == {"code", "data", "numerics"}
    assert stamp["code"] != stored.stamp("analysis.models.ehcp.scores")["code"]
