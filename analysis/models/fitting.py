"""Sampling, fit caching and convergence checks shared by every model.

A fit is cached on disk under a key hashed from the model itself (the printed
PyTensor graph of its log density and deterministics: every distribution,
prior value and transformation), the data it saw, the sampler settings and the
numerical environment (`numerics.fingerprint`: the pinned instruction set, or
the host CPU when unpinned), so re-running a chapter loads the posterior
instead of refitting. Any change to one of these refits; editing reporting
code, comments or the layout of the model module does not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import re
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol, TypeVar

import arviz as az
import filelock
import nutpie
import numpy as np
import pandas as pd
import pymc as pm
import pytensor

from analysis import numerics, paths
from analysis.atomic import clean_parts, write_atomic

# PyMC logs each predictive draw's variables ("Sampling: [y]") at INFO; in a chapter that is
# noise in the stored outputs. Warnings and errors still show.
logging.getLogger("pymc").setLevel(logging.WARNING)

FITS = paths.CACHE / "fits"
T = TypeVar("T")
SEED = 20261123

#: Convergence thresholds the study applies to every fitted model.
RHAT_MAX = 1.01
ESS_BULK_MIN = 400


class ConvergenceError(RuntimeError):
    """A fit failed R-hat, bulk ESS or divergence checks."""


class SamplingInterrupted(RuntimeError):
    """Sampling stopped before every chain had all its draws (Ctrl-C); nothing was cached."""


@dataclass(frozen=True)
class SamplerSettings:
    """How a model is sampled; part of the cache key."""

    sampler: str = "nutpie"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.9
    seed: int = SEED
    #: nutpie's low-rank modified mass matrix (adapts to a few correlated directions; nutpie only)
    low_rank: bool = False
    #: nutpie's diagonal mass matrix adapted from draws and gradients (its default); False: from the draws'
    #: variances alone, as Stan and PyMC adapt it, which suits the event study's many near-Gaussian cell effects
    grad_mass_matrix: bool = True

    def __post_init__(self) -> None:
        if self.low_rank and not self.grad_mass_matrix:
            raise ValueError("SamplerSettings: low_rank replaces the diagonal mass matrix, so grad_mass_matrix=False "
                             "has no meaning with it; set one or the other")


@dataclass(frozen=True)
class Diagnostics:
    rhat_max: float
    ess_bulk_min: float
    divergences: int
    slowest: str

    @property
    def passed(self) -> bool:
        return self.rhat_max <= RHAT_MAX and self.ess_bulk_min >= ESS_BULK_MIN and self.divergences == 0

    def as_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def data_hash(*frames: pd.DataFrame | np.ndarray) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        if isinstance(frame, pd.DataFrame):
            digest.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
            digest.update(",".join(map(str, frame.columns)).encode())
        else:
            digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


def model_text(model: pm.Model) -> str:
    """The model's log-density and deterministic graphs as text, without object ids or addresses (stable across runs)."""
    text = pytensor.printing.debugprint([model.logp(), *model.deterministics], file="str", id_type="", print_type=True)
    return re.sub(r" at 0x[0-9A-Fa-f]+", "", text)


#: What a cache entry holds (see `cached_fit`); part of the key, so entries of an older layout are refitted.
#: 4: diagnostics stored unrounded. 5: of the sampler's statistics, only the divergences.
CACHE_FORMAT = 5
#: Packages whose version can change a fit's draws or its stored diagnostics; their versions are part of the key.
SAMPLING_PACKAGES = ("pymc", "pytensor", "nutpie", "numba", "numpy", "scipy", "arviz")


def cache_key(name: str, model: pm.Model, data: str, settings: SamplerSettings, extra: dict | None = None) -> str:
    """Key from the model's graph, the data hash, the settings, any options, the numerics, the sampling
    packages' versions and the cache layout."""
    digest = hashlib.sha256(name.encode())
    digest.update(model_text(model).encode())
    digest.update(data.encode())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    digest.update(numerics.fingerprint().encode())
    digest.update(",".join(f"{p}={metadata.version(p)}" for p in SAMPLING_PACKAGES).encode())
    digest.update(str(CACHE_FORMAT).encode())
    return digest.hexdigest()[:16]


def sample(model: pm.Model, settings: SamplerSettings, *, predictive: bool = True, cores: int | None = None) -> az.InferenceData:
    """Sample the posterior (and the posterior predictive) with fixed seeds; `cores` as in `pm.sample`."""
    with model:
        idata = pm.sample(
            cores=cores,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            target_accept=settings.target_accept,
            nuts_sampler=settings.sampler,
            random_seed=settings.seed,
            progressbar=False,
            **({"nuts_sampler_kwargs": nutpie_options} if (nutpie_options := _nutpie_options(settings)) else {}),
        )
        if predictive:
            pm.sample_posterior_predictive(idata, extend_inferencedata=True, random_seed=settings.seed + 1, progressbar=False)
    return idata


def _nutpie_options(settings: SamplerSettings) -> dict:
    """nutpie's mass-matrix options for `settings` (none for its defaults)."""
    if settings.low_rank:
        return {"low_rank_modified_mass_matrix": True}
    return {} if settings.grad_mass_matrix else {"use_grad_based_mass_matrix": False}


def cached_fit(
    name: str,
    build: Callable[[], pm.Model],
    data: str,
    settings: SamplerSettings = SamplerSettings(),
    *,
    check: list[str],
    keep: list[str] | None = None,
    extra: dict | None = None,
    cache: Path = FITS,
) -> az.InferenceData:
    """Load the fit for (model code, data, settings) from the cache, or sample and store it.

    What is stored is what the chapters read, compactly: the convergence diagnostics of
    the `check` variables (computed on the full fit, in the posterior's attributes; read
    them with `stored_diagnostics`) and the posterior variables in `keep` (default: all
    but PyMC's internal transformed ones), as float32 (7 significant digits: far below
    any Monte Carlo error), without the warm-up draws. Posterior predictive draws are
    not stored: `posterior_predictive` draws them from the stored posterior when asked,
    with a fixed seed. The fit returned after sampling is the stored one, so a cold run
    and a warm run compute every later number from the same values. On Linux, sampling
    runs in a forked process (`_in_fork`), so the memory a compiled model holds is given back.

    A cache entry that cannot be read, or holds fewer chains or draws than the settings
    ask for, is moved aside (named, with the reason) and the model refitted. A fit is
    stored only when it is complete: sampling interrupted by Ctrl-C (nutpie then returns
    the draws so far) raises `SamplingInterrupted` and stores nothing.

    Processes that ask for the same fit at once (chapters executed in parallel, test
    workers, grid tasks on one machine) take turns on a lock file beside the entry: the
    first samples and stores it, the others wait and load it. The lock is the operating
    system's (`filelock`), so it is released when its process ends, however it ends.
    """
    model = build()
    stored = (extra or {}) | {"check": sorted(check), "keep": sorted(keep) if keep is not None else None}
    path = cache / f"{name}-{cache_key(name, model, data, settings, stored)}.nc"
    cache.mkdir(parents=True, exist_ok=True)
    clean_parts(cache)
    with filelock.FileLock(path.with_name(path.name + ".lock")):
        return _load_or_sample(path, model, settings, check, keep)


def _load_or_sample(path: Path, model: pm.Model, settings: SamplerSettings, check: list[str], keep: list[str] | None) -> az.InferenceData:
    """The cached fit at `path`, or a new one sampled, checked, compacted and stored there."""
    if path.exists():
        idata, problem = _load(path, settings)
        if idata is not None:
            return idata
        aside = path.with_name(path.name + ".bad")
        os.replace(path, aside)
        print(f"fit cache: {path.name} {problem}; moved it to {aside} and refitting", file=sys.stderr, flush=True)
    if FORK_SAMPLING and settings.sampler == "nutpie":
        _start_compiler()
    idata = _in_fork(lambda: _sample_compact(path.name, model, settings, check, keep))
    write_atomic(path, lambda tmp: _to_netcdf(idata, tmp))
    return idata


@functools.cache
def _start_compiler() -> None:
    """Compile a three-parameter model for nutpie once in this process, before its first fit is forked.

    A fork starts from its parent's state, and the first model a process compiles for nutpie
    also pays for starting Numba's and LLVM's machinery and compiling nutpie's own helpers.
    Paid once here, every forked fit inherits it. On the 2-core benchmark machine a lone
    forked compile of an imputation model took 8.4 s without and 4.9 s with it; in chapter 5's
    sequence of eight imputation fits, the time outside sampling fell less, from 65 s to 57 s.
    The model is tiny, so the memory this process keeps for it is small; only the models
    fitted in forks are large. The forked fits compile the same code either way, so they draw
    the same values.
    """
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        pm.Normal("y", pm.math.dot(np.ones((2, 3)), x), 1.0, observed=np.zeros(2))
    nutpie.compile_pymc_model(model)


def _sample_compact(name: str, model: pm.Model, settings: SamplerSettings, check: list[str], keep: list[str] | None) -> az.InferenceData:
    """Sample `model`, check it, and return the form of the fit that is stored; raise if sampling stopped early."""
    idata = sample(model, settings, predictive=False)
    complete = _incomplete(idata, settings)
    if complete:
        raise SamplingInterrupted(f"sampling {name} stopped early ({complete}); nothing was cached")
    return _compact(idata, diagnose(idata, check), keep)


#: Whether fits are sampled in a fork. Only on Linux: on macOS a fork of a process that has
#: started Apple's system libraries (Accelerate, NumPy's BLAS there; Objective-C) may crash or
#: hang, which is why Python's own multiprocessing stopped forking there. Elsewhere a fit is
#: sampled in this process, as it was before, at the cost of the memory described below.
FORK_SAMPLING = sys.platform == "linux"


def _in_fork(work: Callable[[], T]) -> T:
    """Run `work` in a forked copy of this process and return its result; its exception, if any, is raised here.

    Numba keeps the machine code of every model it compiles for the life of the process
    (50–100 MB a model), so a chapter that samples twenty models grew to 2.4 GB. In a fork
    the child compiles and samples, sends back what is kept (pickled through a pipe) and
    exits, and that memory goes with it. The child inherits the model, so nothing is
    pickled or imported again, and it draws what this process would have drawn (the same
    code is compiled; fast-math is off, `analysis.numerics`). The child does no I/O of its
    own: in a Dask worker, writing a netCDF file asks the worker's event loop for a
    scheduler, and the fork has no event loop. Ctrl-C stops the child too (it is passed on
    when only this process received it); the child's exception comes back with its
    traceback as a note. Where `FORK_SAMPLING` is off, `work` runs here.
    """
    if not FORK_SAMPLING:
        return work()
    read, write = os.pipe()
    # Ctrl-C is held back while forking: one arriving in the fork hooks that libraries register (filelock has
    # one) would be raised inside the hook, printed as "Exception ignored" and lost. Held back, it is delivered
    # when the mask is restored below, where it is passed on to the child.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code (Ctrl-C is let in only inside the `try`)
        status = 0
        try:
            os.close(read)
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                payload = pickle.dumps((True, work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                status, payload = 1, _pickled(exc, traceback.format_exc())
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)
    os.close(write)
    chunks, interrupted = [], False
    with os.fdopen(read, "rb", buffering=0) as pipe:
        while True:
            try:
                if mask is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    mask = None
                chunk = pipe.read(1 << 20)
            except KeyboardInterrupt:
                if not interrupted:
                    interrupted = True
                    os.kill(pid, signal.SIGINT)
                continue
            if not chunk:
                break
            chunks.append(chunk)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except KeyboardInterrupt:
            interrupted = True
    if status == 0 and chunks and not interrupted:
        return pickle.loads(b"".join(chunks))[1]
    if chunks and status:
        _, error, where = pickle.loads(b"".join(chunks))
        error.add_note(f"(raised in the process that sampled the fit)\n{where}")
        raise error
    if interrupted:
        raise KeyboardInterrupt
    raise RuntimeError(f"the process sampling a fit ended abnormally ({_ended(status)}); nothing was cached")


def _pickled(exc: BaseException, where: str) -> bytes:
    """The exception and its traceback, pickled; an exception that cannot be pickled becomes a RuntimeError naming it."""
    try:
        return pickle.dumps((False, exc, where))
    except Exception:
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}"), where))


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _to_netcdf(idata: az.InferenceData, path: Path) -> None:
    """Write `idata` as ArviZ's `to_netcdf` does (one netCDF group per group, zlib), with HDF5's byte shuffle
    added: it packs float32 draws about 6% smaller and writes faster; `az.from_netcdf` reads it unchanged."""
    mode = "w"
    for group in idata.groups():
        data = idata[group]
        encoding = {name: {"zlib": True, "shuffle": True} for name, var in data.variables.items() if var.dtype.kind in "biuf"}
        data.to_netcdf(str(path), mode=mode, group=group, engine="h5netcdf", encoding=encoding)
        mode = "a"


def _compact(idata: az.InferenceData, diagnostics: Diagnostics, keep: list[str] | None) -> az.InferenceData:
    """The stored form of a fit: diagnostics recorded, warm-up dropped, kept variables only, float32, and of
    the sampler's statistics only the divergences (the others are summarised in the diagnostics)."""
    groups = {group: idata[group] for group in ("observed_data", "constant_data") if group in idata.groups()}
    groups["sample_stats"] = idata.sample_stats[["diverging"]]
    names = [n for n in idata.posterior.data_vars if not n.endswith("__") and (keep is None or n in keep)]
    groups["posterior"] = idata.posterior[names].map(lambda da: da.astype(np.float32) if da.dtype == np.float64 else da)
    groups["posterior"].attrs = dict(idata.posterior.attrs) | {"diagnostics": json.dumps(asdict(diagnostics))}
    return az.InferenceData(**groups)


_PREDICTIVE: dict[int, tuple[az.InferenceData, object]] = {}


def posterior_predictive(build: Callable[[], pm.Model], idata: az.InferenceData, seed: int):
    """Posterior predictive draws of the model's observed variables from `idata`'s posterior, with `seed`.

    Drawn once per fit object and kept in memory (a few seconds for the study's models);
    the same stored posterior and seed give the same draws on every run.
    """
    hit = _PREDICTIVE.get(id(idata))
    if hit is not None and hit[0] is idata:
        return hit[1]
    with build(), warnings.catch_warnings():
        # A model with a Potential (the synthetic control's constraint) is warned about: the draws of
        # its observed variables given posterior draws, which already satisfy the Potential, are right.
        warnings.filterwarnings("ignore", message="The effect of Potentials on other parameters is ignored")
        pp = pm.sample_posterior_predictive(idata, random_seed=seed, progressbar=False).posterior_predictive
    _PREDICTIVE[id(idata)] = (idata, pp)
    return pp


def stored_diagnostics(idata: az.InferenceData) -> Diagnostics:
    """The convergence diagnostics `cached_fit` computed on the full fit."""
    return Diagnostics(**json.loads(idata.posterior.attrs["diagnostics"]))


def _load(path: Path, settings: SamplerSettings) -> tuple[az.InferenceData | None, str]:
    """A cached fit, or None and why it cannot be used."""
    try:
        idata = az.from_netcdf(path)
        idata.posterior.load()
    except Exception as exc:  # a truncated or foreign file can fail in h5py, netCDF4 or xarray, in many types
        return None, f"cannot be read ({type(exc).__name__}: {exc})"
    incomplete = _incomplete(idata, settings)
    if incomplete:
        return None, f"is incomplete ({incomplete})"
    if "diagnostics" not in idata.posterior.attrs:
        return None, "has no stored diagnostics (an older cache layout)"
    return idata, ""


def _incomplete(idata: az.InferenceData, settings: SamplerSettings) -> str:
    """'' when the posterior has every chain and draw the settings ask for, else what it has."""
    if "posterior" not in idata.groups():
        return "no posterior"
    sizes = idata.posterior.sizes
    if sizes.get("chain") != settings.chains or sizes.get("draw") != settings.draws:
        return f"{sizes.get('chain', 0)} chains × {sizes.get('draw', 0)} draws, not {settings.chains} × {settings.draws}"
    return ""


class _Checked(Protocol):
    def diagnostics(self) -> Diagnostics: ...


F = TypeVar("F", bound=_Checked)


def first_passing(make: Callable[[SamplerSettings], F], *settings: SamplerSettings) -> F:
    """The fit `make` gives with the first of `settings` under which it passes its convergence checks, trying
    them in turn (a grid's fit that misses a check is sampled again, longer, with the same seed); the last one
    tried when none passes, so its checks show the shortfall."""
    for s in settings:
        fit = make(s)
        if fit.diagnostics().passed:
            break
    return fit


def interval(draws: np.ndarray | pd.Series, width: float = 0.9) -> tuple[float, float, float]:
    """Median and central `width` interval of posterior draws: (median, lower, upper)."""
    lo, mid, hi = np.quantile(np.asarray(draws), [(1 - width) / 2, 0.5, (1 + width) / 2])
    return float(mid), float(lo), float(hi)


def quantile(draws: np.ndarray, chains: int, prob: float) -> tuple[float, float]:
    """A posterior quantile of one scalar quantity and its Monte Carlo standard error (ArviZ's, for the
    median or a quantile), from draws stacked chain by chain from `chains` chains."""
    x = np.asarray(draws, dtype=float).reshape(chains, -1)
    mcse = az.mcse(x, method="median") if prob == 0.5 else az.mcse(x, method="quantile", prob=prob)
    return float(np.quantile(x, prob)), float(mcse)


def diagnose(idata: az.InferenceData, var_names: list[str] | None = None) -> Diagnostics:
    """Rank-normalised split R-hat, bulk ESS (worst parameter) and divergences of a fit.

    Computed unrounded (`az.rhat`, `az.ess`), so the check R-hat ≤ 1.01 means that and not
    "≤ 1.01 after rounding to two decimals" (what `az.summary` would give), and without
    the tail-ESS and Monte Carlo error columns no check reads.
    """
    posterior = idata.posterior[var_names] if var_names is not None else idata.posterior
    rhat, ess = az.rhat(posterior, method="rank"), az.ess(posterior, method="bulk")
    divergences = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    return Diagnostics(
        rhat_max=max(float(np.nanmax(rhat[name].values)) for name in rhat.data_vars),
        ess_bulk_min=min(float(np.nanmin(ess[name].values)) for name in ess.data_vars),
        divergences=divergences,
        slowest=_slowest(ess),
    )


def _slowest(ess) -> str:
    """Label of the parameter with the lowest bulk ESS, as ArviZ labels it: name[coordinate, …]."""
    name = min(ess.data_vars, key=lambda n: float(np.nanmin(ess[n].values)))
    da = ess[name]
    if not da.dims:
        return str(name)
    at = np.unravel_index(int(np.nanargmin(da.values)), da.shape)
    return f"{name}[{', '.join(str(da[dim].values[i]) for dim, i in zip(da.dims, at))}]"


def require_converged(diag: Diagnostics, model: str) -> None:
    """Raise `ConvergenceError` naming the model and the failing check."""
    if not diag.passed:
        raise ConvergenceError(
            f"{model} failed its convergence checks: R-hat max {diag.rhat_max:.3f} (≤ {RHAT_MAX}), "
            f"bulk ESS min {diag.ess_bulk_min:.0f} (≥ {ESS_BULK_MIN}, slowest {diag.slowest}), "
            f"{diag.divergences} divergences (0). Reparameterise or sample longer; do not report this fit."
        )
