"""The dated forecast file: complete, consistent, re-created by the model, and never silently rewritten."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis.data import panel
from analysis.models import ehcp
from analysis.models.ehcp import publish


@pytest.fixture(scope="module")
def model():
    panel.ensure()
    return ehcp.EHCPModel(panel.load())


@pytest.fixture(scope="module")
def stored(model):
    path = publish.path_for(model.last_year + 1)
    assert path.exists(), f"{path} is missing: run `python -m analysis forecast`"
    return publish.read(path)


def test_every_la_of_the_last_january_has_a_row_and_quantiles_are_ordered(model, stored):
    latest = model.panel[model.panel["year"] == model.last_year]
    assert set(latest["la_code"]) | {ehcp.ENGLAND[0]} == set(stored["la_code"])
    have = stored.dropna(subset=["median"])
    q = have[publish.QUANTILES].to_numpy(dtype=float)
    assert (q[:, :-1] <= q[:, 1:]).all()
    missing = stored[stored["median"].isna()]
    assert missing["note"].str.contains("reporting break").all() and list(missing["la_name"]) == ["Newham"]
    la = have[have["la_code"] != ehcp.ENGLAND[0]]
    england = have.set_index("la_code").loc[ehcp.ENGLAND[0]]
    assert la["median"].sum() == pytest.approx(england["median"], rel=0.01)


def test_the_model_re_creates_the_stored_forecast(model, stored):
    fresh = publish.forecast_table(model, model.last_year + 1)
    assert publish.same_forecast(stored, fresh), "the stored forecast no longer matches the model: a new forecast needs a new file"


def test_a_different_forecast_is_not_written_over_the_stored_one(stored, tmp_path):
    publish.write(stored, tmp_path)
    path = publish.path_for(int(stored["january"].iloc[0]), tmp_path)
    before = path.read_bytes()
    publish.write(stored.assign(issued=dt.date(2030, 1, 1).isoformat()), tmp_path)  # same numbers: left as issued
    assert path.read_bytes() == before
    changed = stored.copy()
    changed.loc[0, "median"] = changed.loc[0, "median"] + 10
    with pytest.raises(FileExistsError, match="not rewritten"):
        publish.write(changed, tmp_path)
    assert publish.same_forecast(publish.read(publish.path_for(int(stored["january"].iloc[0]), tmp_path)), stored)


def test_round_sig_keeps_three_figures():
    assert publish.round_sig(pd.Series([1234.0, 98.6, 0.0, 639_421.0])).tolist() == [1230.0, 99.0, 0.0, 639_000.0]


def test_the_command_leaves_a_stored_forecast_as_issued_and_refuses_a_january_it_does_not_forecast(model, capsys):
    from analysis.__main__ import main

    path = publish.path_for(model.last_year + 1)
    before = path.read_bytes()
    assert main(["forecast"]) == 0
    assert path.read_bytes() == before  # same numbers: the file keeps the date it was issued
    assert "already holds this forecast" in capsys.readouterr().err
    for january in (model.last_year, model.forecast_to + 1):
        assert main(["forecast", "--january", str(january)]) == 2
        assert f"not {january}" in capsys.readouterr().err
