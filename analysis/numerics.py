"""One numerical environment on every x86-64 machine, so stored outputs re-create bit for bit.

MCMC is chaotic: a difference in the last bit of one log-density evaluation
sends a chain down another path, and every posterior summary then differs in
its later digits. Left to themselves, the libraries the study uses choose
their machine code from the CPU they find:

- Numba (which compiles the models' log densities for nutpie) targets the
  host CPU and all its features (AVX-512 where present);
- NumPy dispatches its ufuncs (exp, log, sums …) at import to AVX2 or AVX-512
  kernels;
- OpenBLAS picks a kernel set per core type (Haswell, SkylakeX, Zen …) and
  may split work across threads;
- PyTensor compiles its C operations with ``-march=native``, and its Numba code
  with fast-math, whose results depend on what LLVM inlines, and so on whether
  the code was compiled fresh or loaded from PyTensor's disk cache.

`pin()` sets each of these to the x86-64-v3 level (Haswell: AVX2 and FMA, the
level of every x86-64 server CPU sold since 2015, Intel and AMD), to one
BLAS thread and to IEEE arithmetic without fast-math (on every machine),
through environment variables the libraries read when they are
first imported. It must therefore run before NumPy is imported, which is why
``analysis/__init__.py`` calls it first thing, and why chapters and scripts
import `analysis` before anything numerical. Child processes (Jupyter kernels,
Dask workers) inherit the environment.

Measured on one AVX-512 machine against the same machine emulating AVX2-only
CPUs (QEMU's Haswell and EPYC-Rome models; `benchmarks/cpu_identity.py`), a
nutpie fit, its posterior predictive draws and NumPy/BLAS results are then
bit-identical; without the pins they differ. On other architectures (arm64)
only the BLAS threads are pinned, and results agree with the stored ones only within Monte
Carlo error, which `tests/test_key_numbers.py` checks.

`SEND_VFM_NATIVE_NUMERICS=1` turns the pins off (a little faster; results then
depend on the CPU). A variable the user has already set is left as it is.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import warnings

#: Turn the pins off (results then depend on the host CPU).
OPT_OUT = "SEND_VFM_NATIVE_NUMERICS"

#: LLVM's Haswell feature set (x86-64-v3), spelled out: with only a CPU name,
#: Numba would still add every feature of the host.
_HASWELL_FEATURES = ",".join(
    "+" + f
    for f in (
        "64bit avx avx2 bmi bmi2 cmov crc32 cx16 cx8 f16c fma fsgsbase fxsr invpcid lzcnt mmx movbe "
        "pclmul popcnt rdrnd sahf sse sse2 sse3 sse4.1 sse4.2 ssse3 xsave xsaveopt"
    ).split()
)

#: Pinned on every machine: one BLAS thread (a fixed summation order; chains run in
#: parallel anyway), no BLAS probe by PyTensor's C backend (on a pip install it finds
#: none and warns; its few C operations use NumPy's BLAS instead), and no fast-math in
#: PyTensor's Numba code. Fast-math lets LLVM reorder arithmetic across whatever it
#: inlines, and what it inlines depends on PyTensor's disk cache: a model's log density
#: compiled fresh (an empty cache, as on a new machine) inlines its parts and one loaded
#: from the cache calls them, so the same model, data and seed gave different draws
#: (the EHCP model's R-hat 1.010 cold against 1.004 warm). Without fast-math both are
#: IEEE arithmetic in source order, and agree.
EVERYWHERE: dict[str, str] = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTENSOR_FLAGS": "blas__ldflags=,numba__fastmath=False",
}

#: Pinned on x86-64: the instruction set each library compiles or dispatches to.
X86_64: dict[str, str] = EVERYWHERE | {
    "NUMBA_CPU_NAME": "haswell",  # the models' log densities (nutpie) and Numba-compiled functions
    "NUMBA_CPU_FEATURES": _HASWELL_FEATURES,
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy's AVX-512 kernels (absent ones are ignored)
    "OPENBLAS_CORETYPE": "Haswell",  # one kernel set for NumPy's and SciPy's OpenBLAS
    # PyTensor's C operations (posterior predictive, log-likelihood): no -march=native
    "PYTENSOR_FLAGS": EVERYWHERE["PYTENSOR_FLAGS"] + ",gcc__cxxflags=-march=haswell -mtune=haswell",
}

#: NumPy dispatch targets that must be off when pinned (see `check`).
_NUMPY_AVX512 = ("X86_V4", "AVX512_ICL", "AVX512_SPR")


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def pinned_environment() -> dict[str, str]:
    """The variables `pin()` sets on this machine (CPU-specific ones on x86-64 only, none when opted out)."""
    if os.environ.get(OPT_OUT) == "1":
        return {}
    return dict(X86_64 if is_x86_64() else EVERYWHERE)


def pin() -> None:
    """Set the pinned variables before NumPy, Numba or PyTensor is imported.

    A variable the user already set is kept; PyTensor's flags are merged (a user's
    ``PYTENSOR_FLAGS=compiledir=…`` keeps working, with the pinned flags added).
    """
    # With no BLAS to link (blas__ldflags=""), PyTensor's C backend says so once per fresh compile
    # cache ("Using NumPy C-API based implementation for BLAS functions"): expected, and noise
    # in a chapter's outputs on a cold start.
    logging.getLogger("pytensor.tensor.blas").setLevel(logging.ERROR)
    for name, value in pinned_environment().items():
        if name == "PYTENSOR_FLAGS":
            os.environ[name] = _merge_flags(os.environ.get(name, ""), value)
        else:
            os.environ.setdefault(name, value)


def _flags(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


def _merge_flags(user: str, pinned: str) -> str:
    merged = _flags(pinned) | _flags(user)
    return ",".join(f"{k}={v}" for k, v in merged.items())


def check() -> list[str]:
    """Why this process may not reproduce the stored outputs bit for bit ([] when it will).

    Checks that the pins are in force: the variables hold the pinned values, NumPy was
    imported after them (no AVX-512 kernels active), and the CPU has AVX2 and FMA.
    """
    if os.environ.get(OPT_OUT) == "1":
        return [f"{OPT_OUT}=1: numerics follow this CPU, so results may differ from the stored ones in later digits"]
    if not is_x86_64():
        return [f"{platform.machine()} CPU: results agree with the stored x86-64 ones only within Monte Carlo error"]
    problems = [
        f"{name}={os.environ.get(name)!r}, not the pinned {value!r}"
        for name, value in X86_64.items()
        if name != "PYTENSOR_FLAGS" and os.environ.get(name) != value
    ]
    tensor = _flags(os.environ.get("PYTENSOR_FLAGS", ""))
    problems += [
        f"PYTENSOR_FLAGS sets {key}={tensor.get(key)!r}, not the pinned {value!r}"
        for key, value in _flags(X86_64["PYTENSOR_FLAGS"]).items()
        if tensor.get(key) != value
    ]
    if "numpy" in sys.modules:
        from numpy._core import _multiarray_umath as umath

        active = [f for f in _NUMPY_AVX512 if umath.__cpu_features__.get(f)]
        if active:
            problems.append(f"NumPy was imported before `analysis` pinned it, so its {', '.join(active)} kernels are active")
        if not (umath.__cpu_features__.get("AVX2") and umath.__cpu_features__.get("FMA3")):
            problems.append("this CPU lacks AVX2/FMA (x86-64-v3), the level the numerics are pinned to")
    return problems


def warn_if_unpinned() -> None:
    """Warn when the pins were expected (x86-64, not opted out) but are not in force."""
    if is_x86_64() and os.environ.get(OPT_OUT) != "1":
        for problem in check():
            warnings.warn(f"results may not reproduce the stored outputs exactly: {problem}", RuntimeWarning, stacklevel=3)


def fingerprint() -> str:
    """What the numerics of this process depend on, for cache keys: the pins in force, or the host CPU."""
    if not check():
        return "pinned:" + ",".join(f"{k}={os.environ[k]}" for k in sorted(X86_64))
    import llvmlite.binding as llvm

    return f"native:{platform.machine()}:{llvm.get_host_cpu_name()}:{llvm.get_host_cpu_features().flatten()}"
