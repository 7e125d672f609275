"""The source registry (`data/sources.toml`) and the fetch layer.

Each registered file is taken from the offline mirror when it holds the file
(`../shared/data`, or `$SEND_DATA_MIRROR`), otherwise from its official URL
with pooch; either way its sha256 is checked against the registry before it
is moved, whole, into `data/raw/`. The checksum is what makes the two routes
interchangeable: a file that passes is byte-for-byte the registered one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pooch

from analysis import paths
from analysis.atomic import atomic_path
from analysis.errors import ChecksumError, DataError, MissingSourceError

Route = Literal["auto", "mirror", "url"]


@dataclass(frozen=True)
class Source:
    """One registered input file and where it comes from."""

    key: str
    title: str
    publisher: str
    url: str
    page: str
    released: str
    licence: str
    mirror_path: str
    sha256: str
    citation: str
    coverage: str = ""
    derived: bool = False
    notes: str = ""
    revised: str = ""  # the date `update --accept-revisions` took up a revised file ("" for the file as released)

    @property
    def filename(self) -> str:
        return Path(self.mirror_path).name


def load_registry(path: Path = paths.REGISTRY, text: bytes | None = None) -> dict[str, Source]:
    """Read `data/sources.toml` (or its bytes `text`) into `Source` records keyed by source key."""
    try:
        raw = tomllib.loads((path.read_bytes() if text is None else text).decode("utf-8"))
    except FileNotFoundError:
        raise DataError(f"the source registry {path} is missing: restore it from git (`git checkout -- {path.name}`).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid TOML: {exc}. Fix that line (or `git diff` the file to see what changed).") from None
    out: dict[str, Source] = {}
    for key, entry in raw.get("sources", {}).items():
        try:
            out[key] = Source(key=key, **entry)
        except TypeError as exc:
            raise DataError(f"{path}: entry [sources.{key}] is malformed: {exc}") from exc
    return out


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum_error(source: Source, where: str, actual: str) -> ChecksumError:
    return ChecksumError(
        f"checksum mismatch for {source.mirror_path} (source '{source.key}', from {where}):\n"
        f"  expected sha256 {source.sha256}\n"
        f"  actual   sha256 {actual}\n"
        "If the publisher has genuinely revised this file, check the new release, then set\n"
        f"  sha256 = \"{actual}\"\n"
        f"under [sources.{source.key}] in data/sources.toml (and its `released` date) and rebuild.\n"
        "Otherwise the copy is corrupt: delete it and fetch again."
    )


@dataclass
class Store:
    """Fetches registered files into `raw` and hands readers their local paths.

    `registry_bytes` is the registry file as read when the store was made (what a
    build's stamp is computed from); `opened` lists the source keys handed out, so
    that a reader's failure can name the file it was reading.
    """

    registry: dict[str, Source] | None = None
    raw: Path = paths.RAW
    mirror: Path = field(default_factory=paths.mirror_dir)
    route: Route = "auto"
    log: bool = False
    registry_bytes: bytes | None = None
    opened: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.registry is None:
            try:
                self.registry_bytes = paths.REGISTRY.read_bytes()
            except FileNotFoundError:
                raise DataError(f"the source registry {paths.REGISTRY} is missing: restore it from git.") from None
            self.registry = load_registry(paths.REGISTRY, self.registry_bytes)

    def path(self, key: str) -> Path:
        """Local, verified path of source `key`, fetching it if needed."""
        try:
            source = self.registry[key]
        except KeyError:
            raise DataError(f"no source '{key}' in data/sources.toml; known: {sorted(self.registry)}") from None
        self.opened.append(key)
        return self.fetch(source)

    def fetch(self, source: Source) -> Path:
        target = self.raw / source.mirror_path
        if target.exists() and sha256_of(target) == source.sha256:
            return target
        mirrored = self.mirror / source.mirror_path
        if self.route in ("auto", "mirror") and mirrored.is_file():
            self._say(f"  copying {source.mirror_path} from mirror {self.mirror}")
            with atomic_path(target) as tmp:
                shutil.copyfile(mirrored, tmp)
                actual = sha256_of(tmp)
                if actual != source.sha256:
                    raise _checksum_error(source, f"mirror {mirrored}", actual)
            return target
        if self.route == "mirror":
            raise MissingSourceError(f"{source.mirror_path} (source '{source.key}') is not in the mirror: {self._mirror_state()}")
        self._say(f"  downloading {source.url}")
        return self._download(source, target, mirrored)

    def _download(self, source: Source, target: Path, mirrored: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            pooch.retrieve(
                source.url,
                known_hash=f"sha256:{source.sha256}",
                fname=target.name,
                path=target.parent,
                progressbar=False,
            )
        except ValueError as exc:  # pooch's hash mismatch; it has already removed the download
            actual = next((w for w in str(exc).split() if len(w.strip("()'.")) == 64), "unknown").strip("()'.")
            raise _checksum_error(source, source.url, actual) from exc
        except Exception as exc:  # network failures come in many types; all mean "not fetched"
            raise MissingSourceError(
                f"could not get {source.mirror_path} (source '{source.key}'): the download from {source.url} "
                f"failed ({exc}), and it is not in the mirror: {self._mirror_state()}"
            ) from exc
        return target

    def _mirror_state(self) -> str:
        """Why the mirror did not have a file, and what to do."""
        named = "SEND_DATA_MIRROR" if os.environ.get("SEND_DATA_MIRROR") else "the default mirror (../shared/data beside the project)"
        if not self.mirror.exists():
            return f"{named} is {self.mirror}, which does not exist. Point SEND_DATA_MIRROR at the mirror folder, or go online."
        if not self.mirror.is_dir():
            return f"{named} is {self.mirror}, which is a file, not a folder. Point SEND_DATA_MIRROR at the mirror folder."
        return (f"{named} is {self.mirror}, which has no such file. Check that it is the study's mirror "
                "(its MANIFEST.md lists the files), or go online with --from url.")

    def _say(self, msg: str) -> None:
        if self.log:
            print(msg, flush=True)
