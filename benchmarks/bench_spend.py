"""Benchmark the spend model: PyMC's default NUTS vs nutpie.

Fits the model on the real panel (FY 2017-18 … 2024-25) with each sampler, the same
seed, chains, tune/draw counts and target acceptance, no cache, and prints wall time
(compile + sample), sampling time, the slowest parameter's bulk ESS, bulk ESS per
second, R-hat max and divergences (see benchmarks/common.py).

    python benchmarks/bench_spend.py [--draws 1000] [--tune 1000] [--json] [--out benchmarks/results/spend.json]
"""

from __future__ import annotations

import sys

from common import main

from analysis.data import panel
from analysis.models import spend as sm


def build():
    model = sm.SpendModel(panel.load())
    return repr(model), model.build(), model.PARAMS


if __name__ == "__main__":
    sys.exit(main(__doc__, build, sm.SETTINGS.target_accept))
