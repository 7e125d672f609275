"""Where the test suite's time goes, from a cold fit cache, as CI runs it.

Runs, in this checkout, the README's test command (`python -m pytest`) with the fit
cache emptied (the panel kept), as a clean clone in CI does, and records the wall time
and each test's time, grouped by what it spends them on:

- the chapters, re-executed by nbval (which fit the models only they use);
- the tests that fit a real model first (the first to ask for a fit pays for it; later
  ones load it from the cache);
- the reduced grids, which must reproduce the stored grid summaries;
- the `update` tests, which copy the study and re-execute the chapters a change reaches
  (waiting, like any test, while another worker fits a model they need);
- everything else (data, faults, charts, render and preview checks).

    python benchmarks/tests.py --out benchmarks/results/tests.json

Takes as long as CI's test run (about 25 minutes on 2 cores, two workers). It empties `data/cache/fits`.
`--junit FILE` summarises an existing run's JUnit XML (`pytest --junitxml FILE`) instead.
The book's computational appendix reads the record.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import paths  # noqa: E402
from machine import machine, publish  # noqa: E402

#: Tests that each run one of the reduced grids (`python -m analysis grid NAME --reduced`).
GRID_TESTS = ("test_the_stored_", "test_a_local_cluster_")
#: Tests whose time is mostly one or more cold fits of the real models (the first to ask for each), or, in
#: `test_numerics`, compiling and sampling one model twice.
FIT_TESTS = ("test_real_", "test_cli_fit", "test_every_key_number_", "test_parameter_recovery", "_recovers_a_known_effect",
             "test_a_fit_draws_the_same_")


def group(classname: str, name: str) -> str:
    """What a test spends its time on (see the module docstring)."""
    if classname.startswith("chapters."):
        return "chapters (nbval)"
    if name.startswith(GRID_TESTS):
        return "reduced grids"
    if classname == "tests.test_update":
        return "`update` in a copy of the study (re-executes chapters)"
    if any(key in name for key in FIT_TESTS):
        return "tests that fit real or simulated models"
    return "everything else"


def summarise(junit: Path) -> dict:
    """Wall time, seconds per group and per file, and the slowest tests, from a JUnit XML file."""
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    cases = [(c.get("classname", ""), c.get("name", ""), float(c.get("time", 0))) for c in suite.iter("testcase")]
    groups: dict[str, float] = defaultdict(float)
    files: dict[str, float] = defaultdict(float)
    for classname, name, seconds in cases:
        groups[group(classname, name)] += seconds
        files[classname] += seconds
    slowest = sorted(cases, key=lambda c: -c[2])[:12]
    return {"tests": len(cases), "failures": int(suite.get("failures", 0)) + int(suite.get("errors", 0)),
            "seconds": round(float(suite.get("time", 0)), 1), "timestamp": suite.get("timestamp"),
            "groups_s": {k: round(v, 1) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
            "files_s": {k: round(v, 1) for k, v in sorted(files.items(), key=lambda kv: -kv[1])},
            "slowest": [{"test": f"{c}::{n}", "seconds": round(s, 1)} for c, n, s in slowest],
            "timeline": timeline(suite)}


def timeline(suite: ET.Element) -> list[dict]:
    """Each file's worker, start (seconds after the first test started) and span to its last test's end, in the
    order they started, from the `started` and `worker` properties the root conftest.py gives every test ([] for a
    run made without them). A file whose span is much longer than its tests' time waited (for a fit, a lock)."""
    spans: dict[str, dict] = {}
    for case in suite.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "started" not in props:
            continue
        start, end = float(props["started"]), float(props["started"]) + float(case.get("time", 0))
        span = spans.setdefault(case.get("classname", ""), {"worker": props.get("worker"), "start": start, "end": end, "seconds": 0.0})
        span["start"], span["end"] = min(span["start"], start), max(span["end"], end)
        span["seconds"] += float(case.get("time", 0))
    first = min((s["start"] for s in spans.values()), default=0.0)
    return [{"file": name, "worker": s["worker"], "start_s": round(s["start"] - first, 1), "span_s": round(s["end"] - s["start"], 1),
             "tests_s": round(s["seconds"], 1)} for name, s in sorted(spans.items(), key=lambda kv: kv[1]["start"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the JSON record here")
    parser.add_argument("--junit", type=Path, help="summarise this JUnit XML file instead of running the tests")
    parser.add_argument("--commit", help="with --junit: the commit that run tested (default: this checkout's)")
    args = parser.parse_args(argv)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    commit = args.commit if args.junit and args.commit else head
    record = {"machine": machine(), "commit": commit}
    if args.junit:
        record |= {"source": f"an existing run's JUnit XML ({args.junit.name})"}
        record |= summarise(args.junit)
    else:
        shutil.rmtree(paths.CACHE / "fits", ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            junit = Path(tmp) / "junit.xml"
            subprocess.run([sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}"], cwd=ROOT)
            record |= {"source": "python -m pytest, fit cache emptied"} | summarise(junit)
    publish(record, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
