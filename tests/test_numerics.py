"""The numerical environment is pinned in this process and in every child process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from analysis.models import fitting

from analysis import numerics

x86 = pytest.mark.skipif(not numerics.is_x86_64(), reason="the instruction set is pinned on x86-64 only")


def _cpu_has_avx512() -> bool:
    """Whether this CPU has AVX-512 (read from the kernel: NumPy in this process is pinned and hides it)."""
    try:
        return any(line.startswith("flags") and " avx512f" in line for line in open("/proc/cpuinfo"))
    except OSError:  # pragma: no cover - not Linux
        return False


@x86
def test_the_pins_are_in_force_here():
    assert numerics.check() == []
    assert numerics.fingerprint().startswith("pinned:")


@x86
def test_child_processes_inherit_the_pins():
    """Jupyter kernels (nbval, the book build) and Dask workers are child processes: they must see the pins."""
    code = (
        "from numpy._core import _multiarray_umath as m; import os; "
        "print(m.__cpu_features__.get('X86_V4'), os.environ['NUMBA_CPU_NAME'], os.environ['OPENBLAS_CORETYPE'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "haswell", "Haswell"]


@x86
@pytest.mark.skipif(not _cpu_has_avx512(), reason="without AVX-512, NumPy's kernels are the pinned ones whenever it is imported")
def test_numpy_imported_before_the_package_is_reported():
    env = {k: v for k, v in os.environ.items() if k not in numerics.X86_64}
    result = subprocess.run([sys.executable, "-c", "import numpy, analysis"], capture_output=True, text=True, env=env)
    assert "NumPy was imported before `analysis` pinned it" in result.stderr


def test_the_opt_out_is_silent_and_changes_the_fit_cache_key(monkeypatch):
    env = {k: v for k, v in os.environ.items() if k not in numerics.X86_64} | {numerics.OPT_OUT: "1"}
    result = subprocess.run([sys.executable, "-W", "error", "-c", "import analysis.numerics as n; print(n.fingerprint())"],
                            capture_output=True, text=True, env=env, check=True)
    assert result.stdout.startswith("native:") and result.stderr == ""
    import pymc as pm

    with pm.Model() as model:
        pm.Normal("x")
    pinned = fitting.cache_key("m", model, "data", fitting.SamplerSettings())
    monkeypatch.setattr(numerics, "fingerprint", lambda: "native:x86_64:znver4:+avx512f")
    assert fitting.cache_key("m", model, "data", fitting.SamplerSettings()) != pinned


def test_a_users_pytensor_flags_are_kept():
    merged = numerics._merge_flags("compiledir=pt-cache,floatX=float32", numerics.X86_64["PYTENSOR_FLAGS"])
    flags = numerics._flags(merged)
    assert flags["compiledir"] == "pt-cache" and flags["floatX"] == "float32"
    assert flags["gcc__cxxflags"] == "-march=haswell -mtune=haswell" and flags["blas__ldflags"] == ""


def test_a_cold_start_writes_nothing_to_stderr(tmp_path):
    """A fresh clone has empty PyTensor and Numba caches: compiling there must not print into a chapter."""
    code = (
        "import analysis.models.fitting, numpy as np, pymc as pm, pytensor.tensor as pt\n"
        "with pm.Model():\n"
        "    b = pm.Normal('b', 0, 1, shape=2)\n"
        "    pm.Poisson('y', mu=pt.exp(pt.dot(np.ones((5, 2)), b)), observed=np.arange(5))\n"
        "    idata = pm.sample_prior_predictive(draws=5, random_seed=1)\n"
        "    pm.compute_log_likelihood(pm.sample(draws=100, tune=50, chains=1, nuts_sampler='nutpie', progressbar=False, random_seed=1),"
        " progressbar=False)\n"
    )
    env = os.environ | {"PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'pytensor'}", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_pytensor_compiles_without_fast_math():
    from pytensor.configdefaults import config

    assert config.numba__fastmath is False


_DRAWS = (
    "import analysis, hashlib, json\n"
    "from analysis.data import panel\n"
    "from analysis.models import ehcp, fitting\n"
    "m = ehcp.EHCPModel(panel.load(), holdout=2025, variant='pooled')\n"
    "s = fitting.SamplerSettings(sampler='nutpie', chains=2, draws=60, tune=60, seed=m.settings.seed, low_rank=True)\n"
    "idata = fitting.sample(m.build(), s, predictive=False)\n"
    "print(hashlib.sha256(b''.join(v.values.tobytes() for v in idata.posterior.data_vars.values())).hexdigest())\n"
)


class DrawsDiffer(AssertionError):
    """The fresh and the cached compile drew different values (what the negative control must show, and nothing else)."""


@pytest.mark.parametrize("fast_math", [False, pytest.param(True, marks=pytest.mark.xfail(strict=True, raises=DrawsDiffer,
                                                                                          reason="the fault the pin removes"))])
def test_a_fit_draws_the_same_whether_its_code_was_compiled_fresh_or_loaded_from_the_cache(tmp_path, fast_math):
    """A new machine compiles every model afresh; this one loads them from PyTensor's disk cache. The EHCP model's
    log density showed it; its pooled variant, the smallest EHCP variant, shows it too in about half the time of
    the full model. It is sampled twice with one new cache directory: compiled fresh, then loaded, and every posterior
    variable compared. With fast-math (the negative control) the draws differ, and only that counts as its expected failure."""
    flags = f"base_compiledir={tmp_path / 'pytensor'}" + (",numba__fastmath=True" if fast_math else "")
    env = os.environ | {"PYTENSOR_FLAGS": flags}
    runs = [subprocess.run([sys.executable, "-c", _DRAWS], capture_output=True, text=True, env=env, timeout=600) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr[-2000:]
    fresh, cached = (r.stdout.split()[-1] for r in runs)
    if fresh != cached:
        raise DrawsDiffer(f"compiled fresh: {fresh[:12]}, loaded from the cache: {cached[:12]}")
