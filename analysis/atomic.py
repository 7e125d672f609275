"""Write files so that a reader never sees half of one, and builds that never overlap.

- `atomic_path` / `write_atomic`: write to a temporary file beside the target, then
  rename it into place; the file gets the permissions the user's umask gives any
  new file (not the 0600 of a temporary file), so a shared or served book stays readable.
- Temporary files are named ``.<target>.<pid>.<random>.part``; `clean_parts` removes
  those whose process has died (a killed build), and never a live one's.
- `exclusive`: one build at a time per folder; a second waits for the first (saying
  so), then finds its work already done.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from analysis.errors import DataError

_PART = re.compile(r"^\..+\.(\d+)\.[^.]+\.part$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_atomic(target: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` and move the result to `target` if it raised nothing."""
    with atomic_path(target) as tmp:
        write(tmp)
    return target


def clean_parts(folder: Path) -> list[Path]:
    """Remove temporary files left in `folder` by processes that no longer run; return them."""
    removed = []
    for path in folder.glob(".*.part") if folder.is_dir() else []:
        match = _PART.match(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def require_writable(folder: Path) -> None:
    """Fail before any work if `folder` cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test."):
            pass
    except OSError as exc:
        raise DataError(
            f"cannot write to {folder} ({exc.strerror}): fix its permissions (or free some space) and run again; "
            "nothing was changed."
        ) from None


@contextmanager
def exclusive(folder: Path, what: str, log: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold the lock on `folder` for `what` (e.g. "panel build"); wait, saying so, if another process has it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            log(f"another {what} is running ({holder}); waiting for it to finish …")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
