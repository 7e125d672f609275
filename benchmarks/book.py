"""How long the book takes to build, cold and warm, how much memory, and how big the fit cache grows.

Runs, in this checkout:

1. a cold build: the fit cache emptied (the panel kept), `python -m analysis book --force`,
   timed per chapter (from the build's own log) and as a whole, with the peak memory of
   the build and its Jupyter kernels;
2. a warm rebuild: `python -m analysis book` again, nothing having changed;

and records the fit cache's size after the cold build, with the machine it ran on. The
book's computational appendix reads the record::

    python benchmarks/book.py --out benchmarks/results/book.json

Takes as long as a cold build (about 19 minutes on 2 cores). It empties `data/cache/fits`.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import paths  # noqa: E402
from machine import machine, publish  # noqa: E402


def build(*args: str) -> dict:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "analysis", "book", *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"the book build failed:\n{result.stderr[-3000:]}")
    chapters = {name: float(s) for name, s in re.findall(r"^\s+(\S+\.ipynb): executed in (\d+) s$", result.stdout, flags=re.M)}
    return {"seconds": round(seconds, 1), "chapters_s": chapters}


def cache_mb() -> float:
    return round(sum(f.stat().st_size for f in (paths.CACHE / "fits").glob("*.nc")) / 1e6, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the JSON record here")
    args = parser.parse_args(argv)
    record = {"machine": machine()}
    shutil.rmtree(paths.CACHE / "fits", ignore_errors=True)
    record["cold"] = build("--force")
    record["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    record["fit_cache_mb"] = cache_mb()
    record["warm"] = build()
    publish(record, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
