"""The benchmark records the computational appendix reads: summarised as the appendix says."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from analysis.report import computation

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str):
    """A benchmark script as a module, imported as when run as a script (it imports its sibling `machine`)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


@pytest.fixture(scope="module")
def bench_tests():
    return _script("tests")


def test_the_book_benchmark_counts_the_memory_of_every_process_of_the_build():
    """Two children holding 300 MB each at once: the peak counts both (a kernel's own peak would see one)."""
    import subprocess

    hold = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(3)"
    code = f"import subprocess, sys; ps = [subprocess.Popen([sys.executable, '-c', {hold!r}]) for _ in range(2)]; [p.wait() for p in ps]"
    process = subprocess.Popen([sys.executable, "-c", code])
    peak = [0, 0]
    _script("book")._sample_memory(process, peak)
    assert process.wait() == 0
    assert 600 <= peak[0] / 2**20 < 1000, f"{peak[0] / 2**20:.0f} MB"


def test_the_book_benchmark_counts_pages_a_fork_shares_once_and_says_what_resident_sizes_would_give():
    """A process holding 300 MB forks a child that only reads them (as a forked sampler shares the kernel's
    pages): the proportional sizes count the 300 MB once, the resident sizes twice."""
    import subprocess

    code = ("import os, time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); pid = os.fork()\n"
            "time.sleep(3)\nif pid: os.waitpid(pid, 0)\nelse: os._exit(0)")
    process = subprocess.Popen([sys.executable, "-c", code])
    peak = [0, 0]
    _script("book")._sample_memory(process, peak)
    assert process.wait() == 0
    pss, rss = peak[0] / 2**20, peak[1] / 2**20
    assert 300 <= pss < 450 and 600 <= rss < 800, f"PSS {pss:.0f} MB, RSS {rss:.0f} MB"


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1"
skipped="0" tests="5" time="100.5" timestamp="2026-12-03T12:00:00">
<testcase classname="tests.test_evaluation" name="test_real_report_has_the_required_keys_and_converges" time="40.0"/>
<testcase classname="chapters.03-ehcp.ipynb" name="Cell 5" time="30.0"/>
<testcase classname="tests.test_backtest" name="test_the_stored_backtest_is_current_and_the_reduced_grid_reproduces_it" time="20.0"/>
<testcase classname="tests.test_panel" name="test_shape" time="5.0"><failure message="x"/></testcase>
<testcase classname="tests.test_evaluation" name="test_event_study_recovers_a_known_effect_and_a_zero_one" time="4.0"/>
</testsuite></testsuites>"""


def test_a_test_run_is_summarised_by_group_and_file(bench_tests, tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    s = bench_tests.summarise(junit)
    assert s["tests"] == 5 and s["failures"] == 1 and s["seconds"] == 100.5
    assert s["groups_s"] == {"tests that fit real or simulated models": 44.0, "chapters (nbval)": 30.0,
                             "reduced grids": 20.0, "everything else": 5.0}
    assert s["files_s"]["tests.test_evaluation"] == 44.0
    assert s["slowest"][0] == {"test": "tests.test_evaluation::test_real_report_has_the_required_keys_and_converges", "seconds": 40.0}


def test_a_run_with_start_stamps_is_laid_out_on_a_timeline(bench_tests, tmp_path):
    """Each file's worker, start and span (first start to last end) from the properties the root conftest.py adds; a
    run without them (older XML) has an empty timeline."""
    prop = lambda started, worker: (f'<properties><property name="started" value="{started}"/>'
                                    f'<property name="worker" value="{worker}"/></properties>')
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT.replace('time="30.0"/>', f'time="30.0">{prop(1000.0, "gw1")}</testcase>')
                     .replace('test_real_report_has_the_required_keys_and_converges" time="40.0"/>',
                              f'test_real_report_has_the_required_keys_and_converges" time="40.0">{prop(1010.5, "gw0")}</testcase>')
                     .replace('test_event_study_recovers_a_known_effect_and_a_zero_one" time="4.0"/>',
                              f'test_event_study_recovers_a_known_effect_and_a_zero_one" time="4.0">{prop(1100.0, "gw0")}</testcase>'))
    assert bench_tests.summarise(junit)["timeline"] == [
        {"file": "chapters.03-ehcp.ipynb", "worker": "gw1", "start_s": 0.0, "span_s": 30.0, "tests_s": 30.0},
        {"file": "tests.test_evaluation", "worker": "gw0", "start_s": 10.5, "span_s": 93.5, "tests_s": 44.0},
    ]
    junit.write_text(JUNIT)
    assert bench_tests.summarise(junit)["timeline"] == []


def test_the_appendix_table_and_text_follow_the_record(bench_tests, tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    record = {"machine": {"cpu": "x", "cpus": 2, "avx2": True, "pymc": "5", "nutpie": "0"}, "commit": "abc1234"} | bench_tests.summarise(junit)
    table = computation.tests_table(record)
    assert list(table["seconds"]) == [44.0, 30.0, 20.0, 5.0, 100.5]
    assert list(table["share"][:4]) == ["44%", "30%", "20%", "5%"]
    text = computation.tests_text(record)
    assert "took 2 minutes" in text and "within the 15-minute target" in text and "abc1234" in text
    assert "**over**" in computation.tests_text(record, target_minutes=1)
    build = {"machine": record["machine"], "cold": {"seconds": 600.0}}
    floor = computation.tests_text(record, build)
    assert floor.startswith(text) and "a cold build (10.0 minutes on 2 cores" in floor and "(20 s of work, 0.2 minutes on 2 cores)" in floor
    assert "at least 10 minutes before any other test" in floor


def test_the_sampler_text_names_a_model_on_which_nutpie_is_slower():
    run = lambda ess_s, ta, steps: {"wall_s": 10.0, "ess_per_s": ess_s, "slowest": "x", "steps_per_draw": steps,
                                    "settings": {"draws": 1000, "chains": 4, "target_accept": ta}}
    record = {"machine": {"cpu": "x", "cpus": 2, "avx2": True, "pymc": "5", "nutpie": "0"},
              "models": {"ehcp": {"pymc": run(10.0, 0.8, 30.0), "nutpie": run(60.0, 0.85, 15.0), "speedup": 6.0},
                         "event_study": {"pymc": run(60.0, 0.8, 31.0), "nutpie": run(54.0, 0.95, 111.0), "speedup": 0.9}}}
    text = computation.sampler_text(record)
    assert "between 0.9 and 6.0 times" in text
    assert "slower on the event study (Safety Valve)" in text and "111 leapfrog steps" in text and "31 for PyMC at its default of 0.8" in text
    record["models"].pop("event_study")
    assert "slower" not in computation.sampler_text(record)


def test_the_sampler_text_says_where_pymc_missed_the_checks_and_which_models_use_the_low_rank_mass_matrix():
    run = lambda rhat, ess, low_rank=False: {"wall_s": 10.0, "ess_per_s": 10.0, "slowest": "x", "steps_per_draw": 30.0,
                                             "rhat_max": rhat, "ess_bulk_min": ess, "divergences": 0,
                                             "settings": {"draws": 1000, "chains": 4, "target_accept": 0.9, "low_rank": low_rank}}
    record = {"machine": {"cpu": "x", "cpus": 2, "avx2": True, "pymc": "5", "nutpie": "0"},
              "models": {"ehcp": {"pymc": run(1.005, 700), "nutpie": run(1.004, 800, True), "speedup": 2.0},
                         "spend": {"pymc": run(1.019, 260), "nutpie": run(1.005, 950, True), "speedup": 4.8}}}
    text = computation.sampler_text(record)
    assert "missed the study's convergence checks on the high-needs spend (R-hat 1.019, bulk ESS 260)" in text
    assert "For the EHC plan growth and the high-needs spend models, nutpie uses its low-rank" in text
    assert "from the draws' variances" not in text
    record["models"]["event_study"] = {"pymc": run(1.004, 900), "nutpie": run(1.003, 1500), "speedup": 1.2}
    record["models"]["event_study"]["nutpie"]["settings"]["grad_mass_matrix"] = False
    text = computation.sampler_text(record)
    assert "For the event study (Safety Valve), nutpie adapts its diagonal mass matrix from the draws' variances" in text
    record["models"]["spend"]["pymc"] = run(1.004, 500)
    assert "missed" not in computation.sampler_text(record)


def test_the_stored_test_record_is_well_formed():
    record = json.loads((ROOT / "benchmarks" / "results" / "tests.json").read_text())
    assert record["failures"] == 0
    assert abs(sum(record["groups_s"].values()) - sum(record["files_s"].values())) < 1


def test_the_sampler_benchmark_can_remeasure_one_model_and_keep_the_others(tmp_path, monkeypatch):
    samplers = _script("samplers")
    fake = {"ess_per_s": 2.0, "settings": {}}
    monkeypatch.setattr(samplers, "models", lambda: {"spend": ("spend", None, [], samplers.SamplerSettings())})
    monkeypatch.setattr(samplers, "run", lambda build, checked, settings: dict(fake))
    monkeypatch.setattr(samplers, "pymc_default", lambda settings: settings)
    out = tmp_path / "samplers.json"
    here = samplers.machine()
    out.write_text(json.dumps({"machine": here, "models": {"ehcp": {"speedup": 1.4}, "spend": {"speedup": 9.9}}}))
    assert samplers.main(["--models", "spend", "--out", str(out), "--update"]) == 0
    record = json.loads(out.read_text())
    assert record["models"]["ehcp"] == {"speedup": 1.4} and record["models"]["spend"]["speedup"] == 1.0
    out.write_text(json.dumps({"machine": here | {"cpu": "another CPU"}, "models": {"ehcp": {"speedup": 1.4}}}))
    with pytest.raises(SystemExit):
        samplers.main(["--models", "spend", "--out", str(out), "--update"])
    assert json.loads(out.read_text())["models"] == {"ehcp": {"speedup": 1.4}}
