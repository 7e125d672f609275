"""The assembled panel, its checks, the CLI report, and failure safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from analysis.data import panel

from analysis import paths
from analysis.errors import SourceFormatError, ValidationError

#: DfE's published national totals of active EHC plans (statements + plans before 2019), January 2010–2025.
DFE_NATIONAL_EHCP = {
    2010: 228221, 2011: 229017, 2012: 230156, 2013: 233431, 2014: 237111, 2015: 240183, 2016: 256530, 2017: 287290,
    2018: 312626, 2019: 353995, 2020: 390109, 2021: 430697, 2022: 473255, 2023: 517048, 2024: 576474, 2025: 638745,
}


@pytest.fixture(scope="module")
def built():
    panel.ensure()
    return panel.load(), panel.load_variables()


def test_one_row_per_la_year_and_the_schema_holds(built):
    frame, dictionary = built
    assert not frame.duplicated(["la_code", "year"]).any()
    panel.schema(dictionary).validate(frame)
    assert frame.groupby("year")["la_code"].nunique().loc[[2010, 2020, 2022, 2025]].tolist() == [152, 151, 152, 153]


def test_la_totals_reproduce_dfe_national_ehcp_for_every_january(built):
    frame, _ = built
    sums = frame.groupby("year")["ehcp_total"].sum().astype(int).to_dict()
    assert sums == DFE_NATIONAL_EHCP


def test_every_variable_is_documented_with_unit_and_period(built):
    frame, dictionary = built
    assert set(dictionary["name"]) == set(frame.columns) - set(panel.ID_COLUMNS)
    assert dictionary[["description", "unit", "period", "source", "kind", "table"]].notna().all().all()


def test_suppressed_cells_are_missing_never_zero(built):
    frame, _ = built
    sup = pd.read_parquet(paths.PROCESSED / panel.OUTPUTS["suppressed"])
    assert len(sup) > 0
    sample = sup[sup["variable"].isin(frame.columns)].drop_duplicates(["la_code", "year", "variable"]).head(200)
    values = [frame.loc[(frame["la_code"] == r.la_code) & (frame["year"] == int(r.year)), r.variable] for r in sample.itertuples()]
    assert all(v.isna().all() for v in values)
    # Hackney and Peterborough published their January 2024 placements as 'x'
    hackney = frame[(frame["la_name"] == "Hackney") & (frame["year"] == 2024)].iloc[0]
    assert pd.isna(hackney["ehcp_special_independent"]) and hackney["ehcp_total"] > 0


def test_cli_check_json_reports_every_source_with_coverage():
    out = subprocess.run([sys.executable, "-m", "analysis", "data", "--check", "--json"], capture_output=True, text=True, check=True, cwd=paths.ROOT)
    report = json.loads(out.stdout)
    assert {"coverage", "national_totals", "sources"} <= set(report)
    assert set(report["sources"]) == {"sen2_caseload", "sen2_flows", "population", "hn_spend", "hn_benchmarking", "hn_allocations", "dsg_deficit", "specialist_spend", "place_deductions", "outcomes", "tribunals"}
    assert report["national_totals"]["ehcp_total"]["2025"] == 638745
    assert report["coverage"]["ehcp_total"]["2010"] == 152
    for variable in ["pop_0_25", "hn_spend", "hn_block_after_deductions", "dsg_deficit_pct", "special_state_spend", "ded_special", "tribunal_appeal_rate", "ks4_attainment8_ehcp", "timeliness_20wk_pct", "ceased_plans"]:
        assert len(report["coverage"][variable]) >= 3, variable


def test_a_failed_build_leaves_the_previous_panel_intact(tmp_path, monkeypatch):
    out = tmp_path / "processed"
    out.mkdir()
    previous = pd.DataFrame({"la_code": ["E06000001"], "year": [2025]})
    previous.to_parquet(out / "panel.parquet")
    before = (out / "panel.parquet").read_bytes()

    def broken(store, las):
        raise SourceFormatError("caseload.csv: column 'ehcplans' not found (simulated)")

    monkeypatch.setitem(panel.READERS, "EHCP caseload (SEN2)", broken)
    with pytest.raises(SourceFormatError):
        panel.write(panel.build(), "stamp", out)
    assert (out / "panel.parquet").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["panel.parquet"]


def test_a_reader_bug_is_caught_by_the_checks(monkeypatch):
    real = panel.READERS["EHCP caseload (SEN2)"]

    def doubled(store, las):
        table = real(store, las)
        table.la.loc[table.la.index[0], "ehcp_total"] += 1000  # one LA no longer sums to England
        return table

    monkeypatch.setitem(panel.READERS, "EHCP caseload (SEN2)", doubled)
    with pytest.raises(ValidationError, match="ehcp_total"):
        panel.build()


def test_a_release_with_a_new_year_extends_the_panel_and_the_models_without_a_code_change(monkeypatch):
    """The last year is the data's: a SEN2 release with a January after the panel's last and the population estimate
    for it (here the last year's rows again, one year on, counts 5% higher so the year-on-year checks pass) add that
    year for every LA alive then; the EHCP model fits it and forecasts four Januaries beyond; without the population
    the model waits for it; spend, which has no new year, keeps its window."""
    from analysis.models.ehcp import EHCPModel, last_january
    from analysis.models.spend import SpendModel

    last = int(panel.load()["year"].max())

    def one_more_year(reader, factor):
        def read(store, las):
            table = reader(store, las)
            latest = table.la[table.la["year"] == last]
            values = [c for c in latest.columns if c not in panel.KEYS]
            table.la = pd.concat([table.la, latest.assign(year=last + 1, **{c: (latest[c] * factor).round() for c in values})], ignore_index=True)
            return table
        return read

    for label, factor in (("EHCP caseload (SEN2)", 1.05), ("Population (ONS)", 1.0)):
        monkeypatch.setitem(panel.READERS, label, one_more_year(panel.READERS[label], factor))
    frame = panel.build().panel
    assert int(frame["year"].max()) == last + 1
    assert set(frame.loc[frame["year"] == last + 1, "la_code"]) == set(frame.loc[frame["year"] == last, "la_code"])
    model = EHCPModel(frame)
    assert (model.last_year, model.forecast_to, int(model.data()["year"].max())) == (last + 1, last + 5, last + 1)
    assert last_january(frame.assign(pop_0_25=frame["pop_0_25"].where(frame["year"] <= last))) == last
    assert SpendModel(frame).last_year == last


def test_an_interrupted_write_leaves_no_half_file(tmp_path):
    from analysis.atomic import write_atomic

    target = tmp_path / "panel.parquet"
    target.write_bytes(b"old")

    def crash(tmp):
        open(tmp, "wb").write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, crash)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["panel.parquet"]


def test_cli_reports_data_errors_and_exits_non_zero(monkeypatch, capsys):
    from analysis.__main__ import main
    from analysis.errors import ChecksumError

    def bad(*a, **k):
        raise ChecksumError("checksum mismatch for sen2/x.zip: expected sha256 aaa, actual sha256 bbb")

    monkeypatch.setattr(panel, "ensure", bad)
    assert main(["data"]) == 2
    assert "checksum mismatch for sen2/x.zip" in capsys.readouterr().err
