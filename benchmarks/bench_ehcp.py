"""Benchmark the EHCP model (issue 4, model 1): PyMC's default NUTS vs nutpie.

Fits the full model on the same data (the real panel, 2016–2025) with the same
seed, chains, tune/draw counts and target acceptance, with each sampler, no cache,
and prints for each: wall time (compile + sample), sampling time, the slowest
parameter's bulk ESS and bulk ESS per second of wall time and of sampling time,
R-hat max and divergences.

    python benchmarks/bench_ehcp.py [--draws 1000] [--tune 1000] [--json]

Takes ~3–4 minutes on 2 cores with the defaults (PyMC's NUTS is the slow part).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymc as pm

from analysis import ehcp_model as em
from analysis import panel
from analysis.fitting import SEED, diagnose


def run(sampler: str, model: em.EHCPModel, draws: int, tune: int, chains: int, target_accept: float) -> dict:
    built = model.build()
    start = time.perf_counter()
    with built:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            target_accept=target_accept,
            nuts_sampler=sampler,
            random_seed=SEED,
            progressbar=False,
            compute_convergence_checks=False,
        )
    wall = time.perf_counter() - start
    sampling = float(idata.posterior.attrs.get("sampling_time", wall))
    diag = diagnose(idata, model.param_names())
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--target-accept", type=float, default=em.SETTINGS.target_accept)
    parser.add_argument("--samplers", default="pymc,nutpie")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    model = em.EHCPModel(panel.load())
    rows = [run(s, model, args.draws, args.tune, args.chains, args.target_accept) for s in args.samplers.split(",")]
    if args.json:
        print(json.dumps({"model": repr(model), "draws": args.draws, "tune": args.tune, "chains": args.chains, "results": rows}, indent=1))
    else:
        print(f"{model}; {args.chains} chains × ({args.tune} tune + {args.draws} draws), target_accept {args.target_accept}, seed {SEED}")
        print(f"{'sampler':8} {'wall s':>7} {'compile':>8} {'sample':>7} {'ESS min':>8} {'ESS/s wall':>11} {'ESS/s samp':>11} {'R-hat':>6} {'div':>4}  slowest")
        for r in rows:
            print(
                f"{r['sampler']:8} {r['wall_s']:7.1f} {r['compile_s']:8.1f} {r['sampling_s']:7.1f} {r['ess_bulk_min']:8d} "
                f"{r['ess_per_s_wall']:11.2f} {r['ess_per_s_sampling']:11.2f} {r['rhat_max']:6.3f} {r['divergences']:4d}  {r['slowest']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
