"""What every sampler benchmark shares: one timed fit per sampler, the machine, the output.

Each `bench_<model>.py` builds its model and calls `main`; with `--json` the record
(settings, machine, one row per sampler) is printed, and with `--out FILE` it is
also written there (the book's computational appendices read benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import analysis  # noqa: E402, F401  (first: it pins the numerical environment before PyMC imports NumPy)
import pymc as pm  # noqa: E402

from analysis.atomic import write_atomic  # noqa: E402
from analysis.models.fitting import SEED, diagnose  # noqa: E402


def run(sampler: str, model: pm.Model, params: list[str], draws: int, tune: int, chains: int, target_accept: float) -> dict:
    """Fit `model` once with `sampler` (no cache) and time it; diagnostics over `params`.

    Both samplers get every CPU: PyMC's default would otherwise assume half the CPUs are
    hyperthreads and, on a 2-CPU machine, run its chains one after another.
    """
    start = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=draws, tune=tune, chains=chains, target_accept=target_accept, nuts_sampler=sampler,
            cores=os.cpu_count(), random_seed=SEED, progressbar=False, compute_convergence_checks=False,
        )
    wall = time.perf_counter() - start
    sampling = float(idata.posterior.attrs.get("sampling_time", wall))
    diag = diagnose(idata, params)
    return {
        "sampler": sampler,
        "wall_s": round(wall, 1),
        "sampling_s": round(sampling, 1),
        "compile_s": round(wall - sampling, 1),
        "slowest": diag.slowest,
        "ess_bulk_min": round(diag.ess_bulk_min),
        "ess_per_s_wall": round(diag.ess_bulk_min / wall, 2),
        "ess_per_s_sampling": round(diag.ess_bulk_min / sampling, 2),
        "rhat_max": diag.rhat_max,
        "divergences": diag.divergences,
    }


def machine() -> dict:
    """The CPU the benchmark ran on and its load when it started (the figures only compare samplers on one machine)."""
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main(doc: str, build: Callable[[], tuple[str, pm.Model, list[str]]], target_accept: float, argv: list[str] | None = None) -> int:
    """Parse the common options, fit with each sampler, print a table or JSON (and write `--out`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--target-accept", type=float, default=target_accept)
    parser.add_argument("--samplers", default="pymc,nutpie")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON record to this file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    label, _, params = build()
    rows = [run(s, build()[1], params, args.draws, args.tune, args.chains, args.target_accept) for s in args.samplers.split(",")]
    record = {"model": label, "draws": args.draws, "tune": args.tune, "chains": args.chains,
              "target_accept": args.target_accept, "seed": SEED, "machine": machine(), "results": rows}
    text = json.dumps(record, indent=1)
    if args.out:
        write_atomic(args.out, lambda tmp: Path(tmp).write_text(text + "\n"))
    if args.json:
        print(text)
    else:
        print(f"{label}; {args.chains} chains × ({args.tune} tune + {args.draws} draws), target_accept {args.target_accept}, seed {SEED}")
        print(f"{'sampler':8} {'wall s':>7} {'compile':>8} {'sample':>7} {'ESS min':>8} {'ESS/s wall':>11} {'ESS/s samp':>11} {'R-hat':>6} {'div':>4}  slowest")
        for r in rows:
            print(
                f"{r['sampler']:8} {r['wall_s']:7.1f} {r['compile_s']:8.1f} {r['sampling_s']:7.1f} {r['ess_bulk_min']:8d} "
                f"{r['ess_per_s_wall']:11.2f} {r['ess_per_s_sampling']:11.2f} {r['rhat_max']:6.3f} {r['divergences']:4d}  {r['slowest']}"
            )
    return 0
