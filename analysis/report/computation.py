"""The computational appendix: what the recorded benchmarks and checks say, as tables and sentences.

Reads the records the benchmark scripts write (`benchmarks/results/*.json`: the
samplers side by side, the book's build times and cache size, the cross-CPU
check) and the stored key numbers (`results/key_numbers.json`). Nothing here runs
a benchmark: they are separate commands, and the appendix reports when and where
each record was made.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis import paths
from analysis.models import fitting
from analysis.report.tables import in_sentence

RESULTS = paths.ROOT / "benchmarks" / "results"
LABELS = {"ehcp": "EHC plan growth", "spend": "High-needs spend", "event_study": "Event study (Safety Valve)",
          "synthetic_control": "Synthetic control (Safety Valve, spend)"}


def record(name: str, folder: Path = RESULTS) -> dict | None:
    """A benchmark record (`benchmarks/results/<name>.json`), or None if it has not been made yet."""
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def missing(name: str) -> str:
    """What the appendix says where a record has not been made yet."""
    return f"*Not recorded yet: run `python benchmarks/{name}.py --out benchmarks/results/{name}.json`.*"


def sampler_table(samplers: dict) -> pd.DataFrame:
    """One row per model: bulk ESS per second of its slowest parameter under each sampler, and the ratio."""
    rows = []
    for key, m in samplers["models"].items():
        pymc, nut = m["pymc"], m["nutpie"]
        rows.append({"model": LABELS.get(key, key), "draws × chains": f"{nut['settings']['draws']:,} × {nut['settings']['chains']}",
                     "PyMC NUTS: wall (s)": pymc["wall_s"], "PyMC ESS/s": pymc["ess_per_s"],
                     "nutpie: wall (s)": nut["wall_s"], "nutpie ESS/s": nut["ess_per_s"], "nutpie ÷ PyMC": m["speedup"],
                     "slowest parameter (nutpie)": nut["slowest"]})
    return pd.DataFrame(rows)


def sampler_text(samplers: dict) -> str:
    """The samplers' comparison in words: the range of nutpie's advantage, the models where it has none and why
    (leapfrog steps a draw at each sampler's target acceptance), and the EHCP model's mass matrix."""
    table = sampler_table(samplers)
    text = (f"On a {machine_text(samplers['machine'])}, nutpie gave between {table['nutpie ÷ PyMC'].min():.1f} and "
            f"{table['nutpie ÷ PyMC'].max():.1f} times the effective samples per second of PyMC's default sampler. ")
    slower = [(LABELS.get(k, k), m) for k, m in samplers["models"].items() if m["speedup"] < 1]
    if slower:
        text += "It was slower on " + "; ".join(
            f"the {in_sentence(label)}, which samples in seconds: at the target acceptance the study uses for it "
            f"({m['nutpie']['settings']['target_accept']:g}), nutpie took {m['nutpie']['steps_per_draw']:.0f} leapfrog steps a draw, "
            f"against {m['pymc']['steps_per_draw']:.0f} for PyMC at its default of {m['pymc']['settings']['target_accept']:g}"
            for label, m in slower) + ". "
    failing = [(LABELS.get(k, k), m["pymc"]) for k, m in samplers["models"].items() if "rhat_max" in m["pymc"]
               and not (m["pymc"]["rhat_max"] <= fitting.RHAT_MAX and m["pymc"]["ess_bulk_min"] >= fitting.ESS_BULK_MIN
                        and m["pymc"]["divergences"] == 0)]
    if failing:
        text += ("PyMC's default sampler missed the study's convergence checks on " + "; ".join(
            f"the {in_sentence(label)} (R-hat {p['rhat_max']:.3f}, bulk ESS {p['ess_bulk_min']:,.0f})" for label, p in failing)
            + ", so its effective samples per second there are not what a usable run would give. ")
    low_rank = [LABELS.get(k, k) for k, m in samplers["models"].items() if m["nutpie"]["settings"].get("low_rank")]
    if low_rank:
        names = " and the ".join(in_sentence(label) for label in low_rank)
        text += (f"For the {names} models, nutpie uses its low-rank modified mass matrix, which learns the few directions in which "
                 "their parameters move together (for the EHCP model: region means, persistence and LA effects). ")
    from_draws = [LABELS.get(k, k) for k, m in samplers["models"].items() if not m["nutpie"]["settings"].get("grad_mass_matrix", True)]
    if from_draws:
        names = " and the ".join(in_sentence(label) for label in from_draws)
        text += (f"For the {names}, nutpie adapts its diagonal mass matrix from the draws' variances alone, as PyMC and Stan "
                 "do, rather than by its default, which also uses the gradients: on the event study's many near-Gaussian "
                 "cell effects that took about half as many leapfrog steps a draw for as high an effective sample size.")
    return text.rstrip()


def build_table(book: dict) -> pd.DataFrame:
    """Seconds per chapter in a cold build (empty fit cache), and the whole build cold and warm."""
    rows = [{"step": name, "cold (s)": seconds} for name, seconds in book["cold"]["chapters_s"].items()]
    rows.append({"step": "whole build (data check, chapters, preview)", "cold (s)": book["cold"]["seconds"]})
    rows.append({"step": "rebuild with nothing changed", "cold (s)": book["warm"]["seconds"]})
    return pd.DataFrame(rows).rename(columns={"cold (s)": "seconds"})


def machine_text(machine: dict) -> str:
    level = "AVX-512" if machine.get("avx512f") else "AVX2" if machine.get("avx2") else "no AVX2"
    return f"machine with {machine['cpus']} CPUs ({machine['cpu']}, {level}), PyMC {machine['pymc']}, nutpie {machine['nutpie']}"


def identity_table(identity: dict) -> pd.DataFrame:
    """The cross-CPU check: per run (CPU, pinned or not), whether each result equals the native pinned run's."""
    runs = identity["runs"]
    reference = next(r["hashes"] for r in runs if r["cpu"] == "native" and r["pinned"])
    rows = []
    for r in runs:
        same = [k for k, v in r["hashes"].items() if v == reference[k]]
        rows.append({"CPU": "this machine" if r["cpu"] == "native" else f"emulated {r['cpu']}", "numerics pinned": r["pinned"],
                     "results identical to the pinned native run": f"{len(same)} of {len(reference)}"})
    return pd.DataFrame(rows)


def tests_table(tests: dict) -> pd.DataFrame:
    """Seconds of a cold test run per group of tests (benchmarks/tests.py), with each group's share."""
    total = sum(tests["groups_s"].values())
    rows = [{"tests": name, "seconds": seconds, "share": f"{100 * seconds / total:.0f}%"} for name, seconds in tests["groups_s"].items()]
    rows.append({"tests": f"all {tests['tests']} (wall time of the run)", "seconds": tests["seconds"], "share": ""})
    return pd.DataFrame(rows)


def against(value: float, target: float) -> str:
    """'within' or '**over**' a target (a measured time or size no larger than the target is within it)."""
    return "within" if value <= target else "**over**"


def tests_text(tests: dict, build: dict | None = None, target_minutes: float = 15) -> str:
    """The test run's time against the target, where it goes, and (with the cold build's record `build`) the part of
    it no test can skip."""
    names = "; ".join(_test_name(s["test"]) + f" ({s['seconds']:.0f} s)" for s in tests["slowest"][:3])
    minutes = tests["seconds"] / 60
    parallel = (" The tests ran in parallel worker processes, so the groups' seconds add up to more than the wall time."
                if sum(tests["groups_s"].values()) > 1.2 * tests["seconds"] else "")
    return (f"On a {machine_text(tests['machine'])}, the test suite took {minutes:.0f} minutes from an empty fit cache "
            f"(commit `{tests['commit']}`), {against(minutes, target_minutes)} the {target_minutes:.0f}-minute target. "
            f"The slowest: {names}. A test pays for a fit when it is the first to ask for it, and waits while another worker "
            f"samples one it needs, so these are where the fits land.{parallel}" + (_floor_text(tests, build) if build else ""))


def _floor_text(tests: dict, build: dict) -> str:
    """What the suite must do whatever its tests: a cold build's work, and the reduced grids' spread over the cores."""
    cold, grids, cores = build["cold"]["seconds"], tests["groups_s"].get("reduced grids", 0.0), tests["machine"]["cpus"]
    return (f" Two parts cannot be cut without dropping a check: re-creating every chapter from fits sampled on the "
            f"testing machine, which is the work of a cold build ({cold / 60:.1f} minutes on {build['machine']['cpus']} cores, "
            f"@tbl-build), and rerunning each grid at reduced size to show it reproduces the stored one ({grids:,.0f} s of "
            f"work, {grids / cores / 60:.1f} minutes on {cores} cores). Together they take at least "
            f"{(cold + grids / cores) / 60:.0f} minutes before any other test runs.")


def _test_name(test: str) -> str:
    where, name = test.split("::", 1)
    if where.startswith("chapters."):
        return f"chapter {where.removeprefix('chapters.').removesuffix('.ipynb')}, {name.lower()}"
    return f"`{name}` in {where.removeprefix('tests.')}"
