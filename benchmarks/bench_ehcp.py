"""Benchmark the EHCP model: PyMC's default NUTS vs nutpie.

Fits the full model on the same data (the real panel, 2016–2025) with the same
seed, chains, tune/draw counts and target acceptance, with each sampler, no cache,
and prints for each: wall time (compile + sample), sampling time, the slowest
parameter's bulk ESS and bulk ESS per second of wall time and of sampling time,
R-hat max and divergences.

    python benchmarks/bench_ehcp.py [--draws 1000] [--tune 1000] [--json] [--out benchmarks/results/ehcp.json]

Takes ~3–4 minutes on 2 cores with the defaults (PyMC's NUTS is the slow part).
"""

from __future__ import annotations

import sys

from common import main

from analysis.models import ehcp as em
from analysis.data import panel


def build():
    model = em.EHCPModel(panel.load())
    return repr(model), model.build(), model.param_names()


if __name__ == "__main__":
    sys.exit(main(__doc__, build, em.SETTINGS.target_accept))
