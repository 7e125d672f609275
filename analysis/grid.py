"""Many independent fits as tasks on Dask: one machine by default, a cluster when there is one.

Placebo groups, rolling-origin backtests, simulation-based calibration and
leave-one-out refits are each many fits that do not depend on one another. `run`
sends them to `dask.distributed`:

- by default to a `LocalCluster` on this machine (one single-threaded worker
  process per CPU; pass `workers=` to change that);
- with ``scheduler="tcp://host:8786"`` (or ``$SEND_VFM_DASK_SCHEDULER``) to an
  existing cluster — started by hand (`dask scheduler` and `dask worker`), by
  dask-jobqueue on SLURM/PBS, or by dask-kubernetes — whose workers have this
  package installed and the study's data mirror or cache at the same paths;
- with ``scheduler="serial"`` in this process, one task after another.

A task is a top-level function and its keyword arguments, every seed among them,
so it gives the same result wherever it runs — provided the worker's numerics are
pinned like this process's (`analysis.numerics`). Workers a `LocalCluster` starts
inherit the pins; workers started elsewhere need the environment that
``python -m analysis env`` prints. Each task reports the numerics it ran under,
and `run` refuses results computed under different ones. Progress is shown per
task (a bar, with the task just finished) on standard error.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis import numerics

#: Environment variable naming an existing Dask scheduler to use by default.
SCHEDULER_ENV = "SEND_VFM_DASK_SCHEDULER"


class GridError(RuntimeError):
    """A task failed, or ran under numerics that differ from this process's."""


@dataclass(frozen=True)
class Task:
    """One independent unit of work: `func(**kwargs)` returns a small, JSON-ready result."""

    key: str
    func: Callable[..., Any]
    kwargs: dict = field(default_factory=dict)


def _execute(func: Callable[..., Any], kwargs: dict) -> tuple[Any, str]:
    """Run one task where it lands (a worker, or here), reporting the numerics it ran under."""
    import analysis  # noqa: F401  (pins the numerics of a fresh worker before the task imports NumPy)

    return func(**kwargs), numerics.fingerprint()


def run(tasks: list[Task], *, scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Run `tasks` and return {task.key: result}, in the order given.

    `scheduler`: None (``$SEND_VFM_DASK_SCHEDULER`` if set, else a LocalCluster here),
    "serial", or a scheduler address. `workers`: LocalCluster worker processes (default:
    one per CPU).
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("grid task keys must be unique")
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV)
    here = numerics.fingerprint()
    show = _Progress(len(tasks), scheduler or "local cluster", enabled=progress)
    results: dict[str, Any] = {}
    if scheduler == "serial":
        for task in tasks:
            try:
                value, fingerprint = _execute(task.func, task.kwargs)
            except Exception as exc:
                show.close()
                raise GridError(f"grid task {task.key!r} failed: {type(exc).__name__}: {exc}") from exc
            results[task.key] = _checked(task.key, value, fingerprint, here)
            show.done(task.key)
        show.close()
        return {k: results[k] for k in keys}
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = {client.submit(_execute, t.func, t.kwargs, key=f"send-vfm-{t.key}", pure=False): t.key for t in tasks}
            for future in as_completed(futures):
                key = futures[future]
                try:
                    value, fingerprint = future.result()
                except Exception as exc:
                    raise GridError(f"grid task {key!r} failed: {type(exc).__name__}: {exc}") from exc
                results[key] = _checked(key, value, fingerprint, here)
                show.done(key)
    finally:
        show.close()
        if cluster is not None:
            cluster.close()
    return {k: results[k] for k in keys}


def _checked(key: str, value: Any, fingerprint: str, here: str) -> Any:
    if fingerprint != here:
        raise GridError(
            f"grid task {key!r} ran under other numerics than this process ({fingerprint.split(':')[0]} vs "
            f"{here.split(':')[0]}), so its result would not match a serial run: start the workers with the "
            "environment `python -m analysis env` prints."
        )
    return value


class _Progress:
    """A per-task progress bar on standard error (rich), or nothing."""

    def __init__(self, total: int, where: str, enabled: bool) -> None:
        self.enabled, self.start = enabled and total > 0, time.perf_counter()
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn(f"grid on {where}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                TextColumn("{task.description}"), console=_console(), transient=False)
            self.task = self.bar.add_task("", total=total)
            self.bar.start()

    def done(self, key: str) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=1, description=f"finished {key}")
            if not self.bar.console.is_terminal:  # a log file: one line per task instead of a redrawn bar
                done = int(self.bar.tasks[0].completed)
                self.bar.console.print(f"{done}/{self.bar.tasks[0].total:.0f} finished {key} "
                                       f"({time.perf_counter() - self.start:.0f} s)", soft_wrap=True)

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()
            self.enabled = False


def _console():
    from rich.console import Console

    return Console(file=sys.stderr)


def environment() -> str:
    """Shell lines that give a worker started elsewhere this machine's pinned numerics."""
    return "\n".join(f"export {name}='{value}'" for name, value in numerics.pinned_environment().items())
