"""Do the pinned numerics give bit-identical results on CPUs other than this one?

One machine cannot become another CPU, but QEMU's user-mode emulator can run
the same Python, packages and code on an emulated CPU that lacks this
machine's instruction-set extensions: ``qemu-x86_64 -cpu Haswell`` (Intel,
AVX2 and FMA, no AVX-512) and ``-cpu EPYC-Rome`` (AMD Zen 2, likewise). Every
library then sees that CPU and dispatches for it, exactly as on a real one.

The probe (``--probe``) fits a small EHCP model with the real model's
structure to simulated counts (labelled as such: 12 LAs, 2016–2021) with
nutpie, draws its posterior predictive (PyTensor's C backend), evaluates its
log-likelihood, and runs NumPy transcendental functions and a BLAS product; it
prints a hash of each result. The driver runs the probe natively and under
each emulated CPU, with the study's pins (`analysis.numerics`) and without,
and records which runs agree bit for bit::

    apt-get install qemu-user          # Debian
    python benchmarks/cpu_identity.py --out benchmarks/results/cpu_identity.json

Expect about 15 minutes on 2 cores (the emulated runs are ~15× slower). One
artefact of user-mode emulation: a C compiler started by the emulated process
runs natively, so an unpinned run under QEMU still compiles PyTensor's C code
for the emulated CPU (``-march=haswell``) rather than for this host, which
would not run under emulation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402

EMULATED = ("Haswell", "EPYC-Rome")


def probe() -> dict[str, str]:
    import analysis  # noqa: F401  (pins the numerics, unless opted out)
    import numpy as np
    import pymc as pm

    from analysis.models import ehcp as em

    def digest(a) -> str:
        return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]

    rng = np.random.default_rng(1)
    x = rng.normal(size=100_003)
    a = rng.normal(size=(64, 64))
    out = {
        "numpy_ufuncs": digest(np.concatenate([np.exp(x), np.log1p(np.abs(x)), np.sin(x), np.tanh(x)])),
        "numpy_reductions": digest(np.array([x.sum(), x @ x, np.linalg.norm(x)])),
        "blas_matmul": digest(a @ a.T @ a),
    }
    # simulated data with the real model's structure (a test, not a finding)
    model = em.EHCPModel(em.synthetic_panel(n_las=12, years=(2016, 2021), n_regions=3), variant="full")
    y, _ = model.simulate({"rho": 0.6, "theta": 0.5})
    model = model.with_counts(y)
    with model.build():
        idata = pm.sample(draws=200, tune=200, chains=2, nuts_sampler="nutpie", random_seed=7, progressbar=False)
        out["nutpie_posterior"] = digest(np.concatenate([idata.posterior[v].values.ravel() for v in model.param_names()]))
        pp = pm.sample_posterior_predictive(idata, random_seed=8, progressbar=False)
        out["posterior_predictive"] = digest(pp.posterior_predictive["y"].values)
        out["log_likelihood"] = digest(pm.compute_log_likelihood(idata, progressbar=False, extend_inferencedata=False)["y"].values)
    return out


def run(cpu: str | None, pinned: bool) -> dict:
    """The probe in a fresh process: natively (`cpu` None) or under QEMU emulating `cpu`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "NPY_", "OPENBLAS_", "PYTENSOR_"))}
    if not pinned:
        env["SEND_VFM_NATIVE_NUMERICS"] = "1"
        if cpu:  # see the module docstring: the compiler runs natively, so target the emulated CPU
            env["PYTENSOR_FLAGS"] = "gcc__cxxflags=-march=haswell"
    else:
        env.pop("SEND_VFM_NATIVE_NUMERICS", None)
    command = [sys.executable, str(Path(__file__).resolve()), "--probe"]
    if cpu:
        command = ["qemu-x86_64", "-cpu", cpu, *command]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f"probe failed on {cpu or 'this CPU'}:\n{result.stderr[-3000:]}")
    return {"cpu": cpu or "native", "pinned": pinned, "seconds": round(time.perf_counter() - start, 1),
            "hashes": json.loads(result.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", action="store_true", help="(internal) run the probe and print its hashes")
    parser.add_argument("--out", type=Path, help="write the record as JSON here")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return 0
    if not shutil.which("qemu-x86_64"):
        print("error: qemu-x86_64 is not installed (Debian: apt-get install qemu-user)", file=sys.stderr)
        return 2
    runs = []
    for pinned in (True, False):
        for cpu in (None, *EMULATED[: 2 if pinned else 1]):
            runs.append(run(cpu, pinned))
            print(f"{runs[-1]['cpu']:>10} pinned={pinned}: {runs[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    pinned_runs = [r["hashes"] for r in runs if r["pinned"]]
    native_runs = [r["hashes"] for r in runs if not r["pinned"]]
    record = {
        "machine": machine(),
        "runs": runs,
        "pinned_identical_across_cpus": all(h == pinned_runs[0] for h in pinned_runs),
        "unpinned_differ": {k: native_runs[0][k] != native_runs[1][k] for k in native_runs[0]},
    }
    text = json.dumps(record, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if record["pinned_identical_across_cpus"] else 1


if __name__ == "__main__":
    sys.exit(main())
