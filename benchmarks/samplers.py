"""Every model, both samplers, side by side in one run: PyMC's default NUTS against the study's nutpie settings.

For each model the study fits (the EHCP growth model, the spend model, the Safety
Valve event study and one synthetic control), on the real panel and with the same
seed, chains, tuning and kept draws, it times

- PyMC's default NUTS (`pm.sample` with its defaults: target acceptance 0.8,
  diagonal mass-matrix adaptation, every CPU for the chains), and
- nutpie with the settings the study uses (`SETTINGS` of each model: target
  acceptance, and for the EHCP model the low-rank modified mass matrix),

and records wall time (compile + sample), the slowest parameter's bulk ESS over the
parameters the study checks, bulk ESS per second of wall time, R-hat and
divergences, with the machine it ran on. The book's computational appendix reads the
record::

    python benchmarks/samplers.py --out benchmarks/results/samplers.json

About 25 minutes on 2 cores (PyMC's sampler is most of it). After one model changes,
``--models spend --update`` re-measures that one and keeps the others' entries (only
on the machine and software they were measured with).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import analysis  # noqa: E402, F401  (first: it pins the numerical environment)

from analysis.models.fitting import SamplerSettings, diagnose, sample  # noqa: E402
from machine import machine, publish  # noqa: E402


def models() -> dict:
    """name → (description, build(), checked variables, the study's settings)."""
    from analysis.data import panel
    from analysis.evaluation import event_study, experiment, synthetic_control
    from analysis.models import ehcp, spend

    frame = panel.load()
    e = ehcp.EHCPModel(frame)
    s = spend.SpendModel(frame)
    ev = experiment.load()
    es = ev.event_study("safety_valve")
    sc = ev.synthetic_control("safety_valve", "hn_spend_per_head")
    return {
        "ehcp": (repr(e), e.build, e.param_names(), e.settings),
        "spend": (repr(s), s.build, s.params, s.settings),
        "event_study": (f"Safety Valve stacked event study (analyses: {', '.join(experiment.ANALYSES)})", es.build, event_study.CHECKED, es.settings),
        "synthetic_control": ("Safety Valve synthetic control, high-needs spend per head", sc.build, synthetic_control.CHECKED, sc.settings),
    }


def run(build, checked: list[str], settings: SamplerSettings) -> dict:
    start = time.perf_counter()
    idata = sample(build(), settings, predictive=False, cores=os.cpu_count())  # PyMC's default would use fewer
    wall = time.perf_counter() - start
    diag = diagnose(idata, checked)
    sampling = float(idata.posterior.attrs.get("sampling_time", wall))
    return {"wall_s": round(wall, 1), "sampling_s": round(sampling, 1), "slowest": diag.slowest, "ess_bulk_min": round(diag.ess_bulk_min),
            "ess_per_s": round(diag.ess_bulk_min / wall, 2), "rhat_max": diag.rhat_max, "divergences": diag.divergences,
            "steps_per_draw": round(float(idata.sample_stats["n_steps"].mean()), 1) if "n_steps" in idata.sample_stats else None,
            "settings": asdict(settings)}


def pymc_default(settings: SamplerSettings) -> SamplerSettings:
    """PyMC's default NUTS with the study's seed, chains, tuning and draws."""
    return replace(settings, sampler="pymc", target_accept=0.8, low_rank=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ehcp,spend,event_study,synthetic_control")
    parser.add_argument("--out", type=Path, help="write the JSON record here")
    parser.add_argument("--update", action="store_true",
                        help="keep the other models' entries in --out (re-measure only the models named, after they "
                             "change); refused unless --out was recorded on the same kind of machine")
    args = parser.parse_args(argv)
    record = {"machine": machine(), "models": {}}
    if args.update:
        if args.out is None or not args.out.exists():
            parser.error("--update needs an existing --out record")
        kept = json.loads(args.out.read_text())
        same = ("cpu", "cpus", "avx2", "avx512f", "python", "pymc", "nutpie")
        if any(kept["machine"].get(k) != record["machine"][k] for k in same):
            parser.error(f"--update: {args.out} was recorded on another machine or software ({kept['machine']}); rerun every model")
        record["models"] = kept["models"]
    available = models()
    for name in args.models.split(","):
        label, build, checked, settings = available[name]
        rows = {"pymc": run(build, checked, pymc_default(settings)), "nutpie": run(build, checked, settings)}
        rows["speedup"] = round(rows["nutpie"]["ess_per_s"] / rows["pymc"]["ess_per_s"], 1)
        record["models"][name] = {"model": label, **rows}
        print(f"{name}: PyMC {rows['pymc']['ess_per_s']} ESS/s, nutpie {rows['nutpie']['ess_per_s']} ESS/s ({rows['speedup']}×)", file=sys.stderr, flush=True)
    publish(record, args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
