"""How long the book takes to build, cold and warm, how much memory, and how big the fit cache grows.

Runs, in this checkout:

1. a cold build: the fit cache emptied (the panel kept), `python -m analysis book --force`
   (its default number of chapters at once), timed per chapter (from the build's own log)
   and as a whole, with the peak memory of the build, its Jupyter kernels and the processes
   they fork to sample fits, together (sampled twice a second): the sum of their proportional
   set sizes (PSS: each page shared between processes counted once, split among them), which
   is what the machine must hold, and for comparison with older records the sum of their
   resident sizes (RSS), which counts a page once per process sharing it, so it overstates a
   forked sampler, whose pages are the kernel's until written;
2. a warm rebuild: `python -m analysis book` again, nothing having changed;

and records the fit cache's size after the cold build, with the machine it ran on. The
book's computational appendix reads the record::

    python benchmarks/book.py --out benchmarks/results/book.json

Takes as long as a cold build (12 to 13 minutes on 2 cores). It empties `data/cache/fits`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import paths  # noqa: E402
from analysis.report import book  # noqa: E402
from machine import machine, publish  # noqa: E402


def build(*args: str) -> dict:
    """Run the book command; its time, each chapter's time and the peak memory of the build with its kernels."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "analysis", "book", *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = [0, 0]
    sampler = threading.Thread(target=_sample_memory, args=(process, peak), daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"the book build failed:\n{stderr[-3000:]}")
    chapters = {name: float(s) for name, s in re.findall(r"^\s+(\S+\.ipynb): executed in (\d+) s$", stdout, flags=re.M)}
    return {"seconds": round(seconds, 1), "chapters_s": chapters, "peak_memory_mb": round(peak[0] / 2**20),
            "peak_rss_sum_mb": round(peak[1] / 2**20)}


def _sample_memory(process: subprocess.Popen, peak: list[int]) -> None:
    """Keep in `peak` the largest sums of proportional and of resident memory of `process` and its descendants,
    every 0.5 s."""
    try:
        root = psutil.Process(process.pid)
    except psutil.Error:
        return
    while process.poll() is None:
        pss = rss = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for proc in tree:
            try:
                memory = proc.memory_full_info()
                pss, rss = pss + memory.pss, rss + memory.rss
            except psutil.Error:
                pass
        peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
        time.sleep(0.5)


def cache_mb() -> float:
    return round(sum(f.stat().st_size for f in (paths.CACHE / "fits").glob("*.nc")) / 1e6, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the JSON record here")
    args = parser.parse_args(argv)
    record = {"machine": machine(), "jobs": book.JOBS}
    shutil.rmtree(paths.CACHE / "fits", ignore_errors=True)
    record["cold"] = build("--force")
    record["peak_memory_mb"] = record["cold"].pop("peak_memory_mb")
    record["peak_rss_sum_mb"] = record["cold"].pop("peak_rss_sum_mb")
    record["fit_cache_mb"] = cache_mb()
    record["warm"] = build()
    publish(record, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
