"""Fault injection: no stale or corrupt result is ever approved, and every failure is named.

Each test injects one fault a hostile (or unlucky) user meets — a disk filling
during a write, a registry edited while a build runs, a truncated output or
cached fit, a corrupt or re-laid-out source file, an unwritable folder, Ctrl-C —
and checks the exit code or exception, that the message names the thing and the
remedy, and that nothing stale is reported as current.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from analysis import atomic

from analysis.data import finance

from analysis.models import fitting

from analysis.data import geography

from analysis.data import outcomes

from analysis.data import panel

from analysis import paths

from analysis.data import sen2
from analysis.errors import DataError, MissingSourceError, SourceFormatError, ValidationError
from analysis.data.sources import Store, load_registry, sha256_of

ROOT = paths.ROOT


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


# --------------------------------------------------------------------------- a sandboxed panel


@pytest.fixture(scope="module")
def result():
    """One real build (not written), reused by the write/freshness tests."""
    return panel.build(Store())


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """paths.PROCESSED and the registry moved into tmp_path (the real ones are never touched)."""
    out = tmp_path / "processed"
    registry = tmp_path / "sources.toml"
    registry.write_bytes(paths.REGISTRY.read_bytes())
    monkeypatch.setattr(paths, "PROCESSED", out)
    monkeypatch.setattr(paths, "PANEL", out / "panel.parquet")
    monkeypatch.setattr(paths, "REGISTRY", registry)
    return out


def test_a_disk_filling_during_the_write_is_not_approved(result, sandbox, monkeypatch):
    stamp = panel.stamp()
    panel.write(result, stamp, sandbox)
    assert panel.is_current(stamp, sandbox)
    before = (sandbox / "panel.parquet").read_bytes()
    real = pd.DataFrame.to_parquet

    def full(self, path, *args, **kwargs):
        if "panel.parquet" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(OSError, match="No space"):
        panel.write(result, stamp, sandbox)
    assert not panel.is_current(stamp, sandbox), "a half-written build was approved"
    assert (sandbox / "panel.parquet").read_bytes() == before, "the previous panel was damaged"
    assert not list(sandbox.glob(".*.part"))


def test_a_registry_edit_during_a_build_is_picked_up_next_time(result, sandbox):
    store = Store()  # the build reads this registry …
    started = panel.stamp(store)
    paths.REGISTRY.write_bytes(paths.REGISTRY.read_bytes() + b"\n# a revision accepted while the build ran\n")
    panel.write(result, started, sandbox)  # … and is stamped with it, not with the file as it is now
    assert not panel.is_current(panel.stamp(), sandbox)


def test_a_truncated_or_edited_output_is_rebuilt(result, sandbox, monkeypatch):
    stamp = panel.stamp()
    panel.write(result, stamp, sandbox)
    calls = []
    monkeypatch.setattr(panel, "build", lambda store, log=None: calls.append(1) or result)
    panel.ensure(Store())
    assert calls == []
    with open(sandbox / "panel.parquet", "r+b") as fh:
        fh.truncate(1000)
    assert not panel.is_current(stamp, sandbox)
    messages = []
    panel.ensure(Store(), log=messages.append)
    assert calls == [1] and not any("up to date" in m for m in messages)
    pd.read_parquet(sandbox / "panel.parquet")  # readable again
    (sandbox / "variables.csv").write_text("name\nedited by hand\n")
    assert not panel.is_current(stamp, sandbox)


def test_force_rebuilds_a_current_panel(result, sandbox, monkeypatch):
    panel.write(result, panel.stamp(), sandbox)
    calls = []
    monkeypatch.setattr(panel, "build", lambda store, log=None: calls.append(1) or result)
    panel.ensure(Store(), force=True)
    assert calls == [1]


@pytest.mark.parametrize(
    ("la", "factor", "rule"),
    [("City of London", -1000, "greater_than_or_equal_to"), ("Kent", 1000, "less_than_or_equal_to"), ("Kent", 20, "more than 10× either way")],
)
def test_an_implausible_spend_value_fails_naming_la_year_and_table(result, la, factor, rule):
    frame = result.panel.copy()
    row = frame.index[(frame["la_name"] == la) & (frame["year"] == 2021)][0]
    frame.loc[row, "hn_spend"] *= factor
    with pytest.raises(ValidationError) as err:
        panel.validate(frame, result.variables, result.totals)
    message = str(err.value)
    assert la in message and "2021" in message and rule in message
    assert "hn_spend" in message and "source table 'hn_spend'" in message


def test_a_schema_failure_names_the_la_not_a_row_number(result):
    frame = result.panel.copy()
    row = frame.index[(frame["la_name"] == "Leeds") & (frame["year"] == 2020)][0]
    frame.loc[row, "ehcp_total"] = -5
    with pytest.raises(ValidationError, match=r"Leeds \(E08000035\), 2020: ehcp_total = -5.0.*source table 'sen2_caseload'"):
        panel.validate(frame, result.variables, result.totals)


def test_the_real_panel_is_plausible(result):
    assert panel.plausibility(result.panel, result.variables).empty


# --------------------------------------------------------------------------- sources that are not what they should be


@pytest.fixture
def replaced(store: Store, tmp_path: Path):
    """make(key, content) → a Store whose file for `key` is `content` (its sha256 accepted), the rest the real mirror's."""

    def make(key: str, content: bytes) -> Store:
        mirror = tmp_path / "mirror"
        for source in store.registry.values():
            link = mirror / source.mirror_path
            if not link.exists() and (store.mirror / source.mirror_path).exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(store.mirror / source.mirror_path)
        target = mirror / store.registry[key].mirror_path
        target.unlink()
        target.write_bytes(content)
        registry = {**store.registry, key: dataclasses.replace(store.registry[key], sha256=sha256_of(target))}
        return Store(registry=registry, raw=tmp_path / "raw", mirror=mirror, route="mirror")

    return make


def _zip_with(original: Path, member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, content if name == member else src.read(name))
    return buffer.getvalue()


def _read_fails(store: Store, label: str, read) -> str:
    with pytest.raises(DataError) as err:
        panel._read(label, store, read)
    return str(err.value)


def test_a_truncated_zip_is_named(store, las, replaced):
    broken = replaced("sen2_2025", store.path("sen2_2025").read_bytes()[:5000])
    message = _read_fails(broken, "EHCP caseload (SEN2)", lambda: sen2.read_caseload(broken, las))
    assert "sen2_2025" in message and "education-health-and-care-plans_2025.zip" in message and "BadZipFile" in message
    assert "delete the copy in data/raw/" in message


def test_a_garbage_csv_inside_a_zip_is_named(store, las, replaced):
    broken = replaced("sen2_2025", _zip_with(store.path("sen2_2025"), "data/caseload.csv", bytes(range(256)) * 50))
    message = _read_fails(broken, "EHCP caseload (SEN2)", lambda: sen2.read_caseload(broken, las))
    assert "sen2_2025" in message and "caseload" in message


def test_an_empty_workbook_is_named(store, las, replaced):
    broken = replaced("dsg_deficit", b"")
    message = _read_fails(broken, "DSG deficit", lambda: finance.read_dsg_deficit(broken, las))
    assert "dsg_deficit" in message and "dsg_deficit_derived.xlsx" in message


def test_a_renamed_column_in_the_la_list_is_named(store, replaced):
    text = store.path("dfe_las").read_text().replace("new_la_code", "la_code_new", 1)
    broken = replaced("dfe_las", text.encode())
    message = _read_fails(broken, "the DfE list of LAs", lambda: geography.load_las(broken))
    assert "'new_la_code'" in message and "dfe_las" in message


def test_a_duplicated_la_year_in_the_tribunal_table_is_named(store, las, replaced):
    path = store.path("sen2_2025")
    with zipfile.ZipFile(path) as zf:
        member = next(n for n in zf.namelist() if n.endswith(outcomes.TRIBUNAL_MEMBER))
        lines = zf.read(member).decode("utf-8-sig").splitlines()
    at = next(i for i, line in enumerate(lines) if line.lower().startswith("leeds"))
    doubled = [*lines[: at + 1], lines[at], *lines[at + 1:]]  # Leeds listed twice
    broken = replaced("sen2_2025", _zip_with(path, member, "\n".join(doubled).encode()))
    message = _read_fails(broken, "SEND tribunal appeals (MoJ)", lambda: outcomes.read_tribunals(broken, las))
    assert "more than once" in message and "Leeds" in message


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "sources.toml"
    bad.write_text(paths.REGISTRY.read_text().replace("[sources.sen2_2022]", "[sources.sen2_2022", 1))
    with pytest.raises(DataError, match=rf"{bad}.*not valid TOML.*line"):
        load_registry(bad)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_mirror_that_is_missing_or_a_file_is_named(store, tmp_path, kind):
    mirror = tmp_path / "mirror"
    if kind == "file":
        mirror.write_text("not a folder")
    lonely = Store(registry=store.registry, raw=tmp_path / "raw", mirror=mirror, route="mirror")
    with pytest.raises(MissingSourceError, match="does not exist" if kind == "missing" else "is a file, not a folder"):
        lonely.path("dfe_regions")


def test_an_unwritable_output_folder_fails_before_any_work(tmp_path, monkeypatch):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setattr(paths, "PROCESSED", blocker / "processed")
    monkeypatch.setattr(panel, "build", lambda *a, **k: pytest.fail("the build started"))
    with pytest.raises(DataError, match=r"cannot write to .*processed.*nothing was changed"):
        panel.ensure(Store())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_output_folder_fails_before_any_work(tmp_path, monkeypatch):
    out = tmp_path / "processed"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setattr(paths, "PROCESSED", out)
    with pytest.raises(DataError, match="cannot write to"):
        panel.ensure(Store())


# --------------------------------------------------------------------------- files, locks and leftovers


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        target = atomic.write_atomic(tmp_path / "panel.parquet", lambda tmp: tmp.write_bytes(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_leftover_parts_of_dead_processes_are_cleaned(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".panel.parquet.{dead}.abc123xy.part"
    live = tmp_path / f".panel.parquet.{os.getpid()}.zzz999qq.part"
    stale.write_text("half"), live.write_text("half")
    assert atomic.clean_parts(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


def test_a_second_build_waits_for_the_first(tmp_path):
    said, order = [], []
    with atomic.exclusive(tmp_path, "panel build"):
        second = threading.Thread(target=lambda: _locked(tmp_path, said, order))
        second.start()
        time.sleep(0.5)
        order.append("first done")
    second.join(5)
    assert order == ["first done", "second ran"]
    assert said and "another panel build is running" in said[0] and "waiting" in said[0]


def _locked(folder, said, order):
    with atomic.exclusive(folder, "panel build", said.append):
        order.append("second ran")


# --------------------------------------------------------------------------- the fit cache


def _tiny():
    import pymc as pm

    with pm.Model() as model:
        pm.Normal("x", 0, 1)
    return model


TINY = fitting.SamplerSettings(chains=2, draws=50, tune=50)


def _entry(cache: Path) -> Path:
    return cache / f"tiny-{fitting.cache_key('tiny', _tiny(), 'data', TINY, {'check': ['x'], 'keep': None})}.nc"


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n truncated"])
def test_a_corrupt_cached_fit_is_named_moved_aside_and_refitted(tmp_path, capsys, content):
    entry = _entry(tmp_path)
    entry.write_bytes(content)
    idata = fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path)
    assert idata.posterior.sizes["draw"] == 50
    assert (tmp_path / (entry.name + ".bad")).read_bytes() == content
    err = capsys.readouterr().err
    assert entry.name in err and "cannot be read" in err and "refitting" in err
    assert fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path).posterior.sizes["draw"] == 50


def test_an_interrupted_fit_is_never_cached(tmp_path, monkeypatch):
    real = fitting.sample

    def interrupted(model, settings, **kwargs):  # what nutpie returns after Ctrl-C: the draws so far
        return real(model, settings, **kwargs).isel(draw=slice(0, 20))

    monkeypatch.setattr(fitting, "sample", interrupted)
    with pytest.raises(fitting.SamplingInterrupted, match=r"2 chains × 20 draws, not 2 × 50.*nothing was cached"):
        fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path)
    assert not list(tmp_path.glob("*.nc"))


def test_an_incomplete_cached_fit_is_refitted(tmp_path, capsys):
    entry = _entry(tmp_path)
    fitting.sample(_tiny(), TINY).isel(draw=slice(0, 10)).to_netcdf(str(entry))
    assert fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path).posterior.sizes["draw"] == 50
    assert "is incomplete" in capsys.readouterr().err


_WAITER = """
import sys
import analysis
import pymc as pm
from pathlib import Path
from analysis.models import fitting

def tiny():
    with pm.Model() as model:
        pm.Normal("x", 0, 1)
    return model

fitting.sample = lambda *a, **k: sys.exit("sampled although another process was storing the fit")
print("asking", flush=True)
idata = fitting.cached_fit("tiny", tiny, "data", fitting.SamplerSettings(chains=2, draws=50, tune=50), check=["x"], cache=Path(sys.argv[1]))
print(idata.posterior.sizes["draw"])
"""


def test_a_process_asking_for_a_fit_being_sampled_waits_for_it_and_loads_it(tmp_path):
    import filelock
    import shutil

    entry = _entry(tmp_path)
    lock = filelock.FileLock(entry.with_name(entry.name + ".lock"))
    with lock:  # this process is "sampling" the fit
        waiter = subprocess.Popen([sys.executable, "-c", _WAITER, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiter.stdout.readline().strip() == "asking"
        time.sleep(2)
        assert waiter.poll() is None, "the second process did not wait for the fit being sampled"
        fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path / "elsewhere")
        shutil.copy(tmp_path / "elsewhere" / entry.name, entry)
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    assert out.strip() == "50"


def _recording_sampler_pids(monkeypatch, pids: Path) -> None:
    """Make `fitting.sample` append the id of the process it runs in to `pids` (a file: a fork's memory is its own)."""
    real = fitting.sample

    def sample(model, settings, **kwargs):
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return real(model, settings, **kwargs)

    monkeypatch.setattr(fitting, "sample", sample)


def test_a_fit_is_sampled_in_another_process_and_only_the_stored_form_comes_back(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    _recording_sampler_pids(monkeypatch, pids)
    idata = fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path / "fits")
    assert [int(p) for p in pids.read_text().split()] != [os.getpid()] and len(pids.read_text().split()) == 1
    assert list(idata.sample_stats.data_vars) == ["diverging"] and idata.posterior["x"].dtype == "float32"
    assert fitting.stored_diagnostics(idata).ess_bulk_min > 0


def test_where_forking_is_off_a_fit_is_sampled_in_this_process_and_stored_alike(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    _recording_sampler_pids(monkeypatch, pids)
    monkeypatch.setattr(fitting, "FORK_SAMPLING", False)
    idata = fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path / "here")
    monkeypatch.setattr(fitting, "FORK_SAMPLING", True)
    forked = fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path / "forked")
    here, there = (int(p) for p in pids.read_text().split())
    assert here == os.getpid() and there != os.getpid()
    assert (idata.posterior["x"].values == forked.posterior["x"].values).all()
    assert list(idata.sample_stats.data_vars) == ["diverging"]


def test_an_error_in_the_sampling_process_is_raised_here_with_its_traceback(tmp_path, monkeypatch):
    def broken(model, settings, **kwargs):
        raise ValueError("a model that cannot be sampled")

    monkeypatch.setattr(fitting, "sample", broken)
    with pytest.raises(ValueError, match="a model that cannot be sampled") as raised:
        fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path)
    assert any("in broken" in note and "raised in the process that sampled the fit" in note for note in raised.value.__notes__)
    assert not list(tmp_path.glob("*.nc"))


def test_a_sampling_process_that_dies_is_named_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(fitting, "sample", lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError, match=r"ended abnormally \(killed by SIGKILL\); nothing was cached"):
        fitting.cached_fit("tiny", _tiny, "data", TINY, check=["x"], cache=tmp_path)
    assert not list(tmp_path.glob("*.nc"))


_INTERRUPTED = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a test worker may start it with SIGINT ignored)
import analysis
import pymc as pm
from pathlib import Path
from analysis.models import fitting

def tiny():
    with pm.Model() as model:
        pm.Normal("x", 0, 1)
    return model

def sample(*a, **k):  # Ctrl-C reaching only the parent, while the child samples
    os.kill(os.getppid(), signal.SIGINT)
    time.sleep(60)

fitting.sample = sample
try:
    fitting.cached_fit("tiny", tiny, "data", fitting.SamplerSettings(chains=2, draws=50, tune=50), check=["x"], cache=Path(sys.argv[1]))
except KeyboardInterrupt:
    print("interrupted", sorted(p.name for p in Path(sys.argv[1]).glob("*.nc")))
"""


#: Ctrl-C reaching the parent inside a fork hook (as one arrived in filelock's in CI): the hook runs in the
#: parent during `os.fork`, where an exception is printed as "Exception ignored" and dropped.
_IN_THE_FORK = _INTERRUPTED.replace(
    "def sample(*a, **k):  # Ctrl-C reaching only the parent, while the child samples\n    os.kill(os.getppid(), signal.SIGINT)\n",
    "os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))\n"
    "def sample(*a, **k):  # the child samples on; the interrupt came while it was being forked\n")


@pytest.mark.parametrize("script", [_INTERRUPTED, _IN_THE_FORK], ids=["while sampling", "while forking"])
def test_ctrl_c_while_a_fit_is_sampled_stops_its_process_too(tmp_path, script):
    assert script.count("os.kill") == 1
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "interrupted []", run.stdout + run.stderr[-2000:]
    assert "Exception ignored" not in run.stderr, run.stderr[-2000:]
    assert time.perf_counter() - started < 45  # the child stopped on the passed-on signal, not after its 60 s sleep


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("year", ["2030", "1990"])
def test_a_holdout_outside_the_panel_fails_before_fitting(year):
    started = time.perf_counter()
    out = _cli("fit", "ehcp", "--holdout", year)
    assert out.returncode == 2
    assert f"--holdout must be a January from 2020 to 2025 (the panel's last), not {year}" in out.stderr
    assert "Traceback" not in out.stderr and time.perf_counter() - started < 60


def test_an_interrupt_that_a_library_turned_into_a_parse_error_stays_an_interrupt(store, monkeypatch):
    from analysis import errors

    def reader():
        raise pd.errors.ParserError("Error tokenizing data. C error: Calling read(nbytes) on source failed.")

    with pytest.raises(SourceFormatError):  # a genuine parse error is a bad file …
        panel._read("EHCP caseload (SEN2)", store, reader)
    monkeypatch.setattr(errors, "_interrupted", True)  # … but after Ctrl-C it is the interruption
    with pytest.raises(KeyboardInterrupt):
        panel._read("EHCP caseload (SEN2)", store, reader)


@pytest.mark.parametrize("after", [2.5, 4.5])
def test_ctrl_c_gives_one_line_and_keeps_the_panel(after):
    panel.ensure()
    before = sha256_of(paths.PANEL)
    process = subprocess.Popen([sys.executable, "-m", "analysis", "data", "--force"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)  # the build takes ~8 s: reading sources, at different places
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    # Either stopped, or (when Ctrl-C lands inside Numba's compiler, which swallows it) finished and said so
    assert err.strip().splitlines() in (["interrupted: stopped before finishing; nothing half-written was kept (previous outputs are unchanged)"],
                                        ["interrupted: too late to stop (Ctrl-C arrived inside compiled code, which carried on); "
                                         "the command finished and its outputs are complete"]), err
    assert sha256_of(paths.PANEL) == before
    assert panel.is_current(panel.stamp())
