"""The fetch layer: mirror, download over HTTP, checksums, and clear failures."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from analysis.errors import ChecksumError, MissingSourceError
from analysis.data.sources import Store, load_registry, sha256_of

KEYS = ["dfe_regions", "dfe_las"]


@pytest.fixture()
def small_mirror(tmp_path, store):
    """A private copy of two registered files laid out like the mirror."""
    mirror = tmp_path / "mirror"
    for key in KEYS:
        src = store.mirror / store.registry[key].mirror_path
        dst = mirror / store.registry[key].mirror_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return mirror


@pytest.fixture()
def http_mirror(small_mirror):
    """Serve the private mirror on 127.0.0.1 and yield its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(small_mirror))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _registry_at(base_url: str) -> dict:
    return {k: dataclasses.replace(s, url=f"{base_url}/{s.mirror_path}") for k, s in load_registry().items() if k in KEYS}


def test_every_registered_file_is_in_the_mirror_with_its_checksum(store):
    listed = {}
    for line in (store.mirror / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(None, 1)
        listed[path.strip().removeprefix("./")] = digest
    for source in store.registry.values():
        assert listed.get(source.mirror_path) == source.sha256, source.key
        assert source.url.startswith("https://") and source.page.startswith("https://"), source.key
        assert source.licence and source.released and source.citation, source.key


def test_mirror_route_copies_and_verifies(tmp_path, small_mirror):
    store = Store(registry=_registry_at("https://invalid.example"), raw=tmp_path / "raw", mirror=small_mirror, route="mirror")
    path = store.path("dfe_las")
    assert path == tmp_path / "raw" / "geography" / "las.csv"
    assert sha256_of(path) == store.registry["dfe_las"].sha256


def test_download_route_over_http(tmp_path, http_mirror):
    store = Store(registry=_registry_at(http_mirror), raw=tmp_path / "raw", mirror=tmp_path / "empty", route="url")
    path = store.path("dfe_regions")
    assert sha256_of(path) == store.registry["dfe_regions"].sha256
    # auto route with an empty mirror also falls back to the URL
    auto = Store(registry=_registry_at(http_mirror), raw=tmp_path / "raw2", mirror=tmp_path / "empty")
    assert auto.path("dfe_las").read_bytes()[:11] == b"new_la_code"


def test_update_finds_a_revision_at_the_official_url(tmp_path, http_mirror, small_mirror):
    """`update --from url` looks for revisions where the publisher serves the file (here a local server): the
    file as registered, then a revised one (a new checksum), then a URL that fails, which is named."""
    from analysis.report import update

    registry = _registry_at(http_mirror)
    online = Store(registry=registry, raw=tmp_path / "raw", mirror=small_mirror, route="url")
    source = registry["dfe_las"]
    found, where = update.locate(source, online, tmp_path / "first")
    assert where == source.url and sha256_of(found) == source.sha256
    served = small_mirror / source.mirror_path
    served.write_bytes(served.read_bytes() + b"\n")  # the publisher revises the file
    found, where = update.locate(source, online, tmp_path / "second")
    assert where == source.url and sha256_of(found) != source.sha256
    gone = dataclasses.replace(source, url=f"{http_mirror}/no/such/file.csv")
    missing = update.locate(gone, online, tmp_path / "third")
    assert isinstance(missing, update.Missing) and missing.reason == "HTTP 404"
    assert str(missing) == f"dfe_las ({source.mirror_path}): the download from {gone.url} failed: HTTP 404"



def test_update_does_not_take_a_web_page_or_another_kind_of_file_for_a_revision(tmp_path, http_mirror, small_mirror, store):
    """Where the registry's URL serves a release page (or a zip holding the registered spreadsheet), the download's
    checksum differs, but it is not a revision: `locate` says what it is and where to get the file by hand."""
    from analysis.report import update

    (small_mirror / "page.html").write_text("<!DOCTYPE html>\n<html><body>Education, health and care plans</body></html>\n")
    (small_mirror / "bundle.zip").write_bytes(b"PK\x03\x04" + bytes(60))
    online = Store(registry=_registry_at(http_mirror), raw=tmp_path / "raw", mirror=small_mirror, route="url")
    source = online.registry["dfe_las"]
    page = dataclasses.replace(source, url=f"{http_mirror}/page.html")
    missing = update.locate(page, online, tmp_path / "page")
    assert isinstance(missing, update.Missing) and missing.reason.startswith("it is a web page, not the file")
    assert source.page in missing.reason and f"data/raw/{source.mirror_path}" in missing.reason
    sheet = dataclasses.replace(source, url=f"{http_mirror}/bundle.zip", mirror_path="population/table.xls")
    assert update.locate(sheet, online, tmp_path / "zip").reason.startswith("it is not a .xls file like the one registered")
    # every file the mirror holds is taken for what its registry entry says it is
    assert {k: update.not_the_file(store.mirror / s.mirror_path, s) for k, s in store.registry.items()} == dict.fromkeys(store.registry, "")


def test_download_with_wrong_checksum_names_both_hashes_and_leaves_nothing(tmp_path, http_mirror, small_mirror):
    (small_mirror / "geography" / "regions.csv").write_text("region_code,region_name\nE12000001,Tampered\n")
    store = Store(registry=_registry_at(http_mirror), raw=tmp_path / "raw", mirror=tmp_path / "empty", route="url")
    with pytest.raises(ChecksumError) as err:
        store.path("dfe_regions")
    msg = str(err.value)
    assert "geography/regions.csv" in msg and store.registry["dfe_regions"].sha256 in msg
    assert sha256_of(small_mirror / "geography" / "regions.csv") in msg
    assert "data/sources.toml" in msg
    assert not (tmp_path / "raw" / "geography" / "regions.csv").exists()


def test_mirror_with_wrong_checksum_fails_and_leaves_no_partial_file(tmp_path, small_mirror):
    (small_mirror / "geography" / "las.csv").write_text("corrupt\n")
    store = Store(registry=_registry_at("https://invalid.example"), raw=tmp_path / "raw", mirror=small_mirror)
    with pytest.raises(ChecksumError, match="expected sha256"):
        store.path("dfe_las")
    assert list((tmp_path / "raw").rglob("*")) == [tmp_path / "raw" / "geography"]


def test_missing_file_everywhere_says_what_to_do(tmp_path):
    store = Store(registry=_registry_at("http://127.0.0.1:9"), raw=tmp_path / "raw", mirror=tmp_path / "nowhere")
    with pytest.raises(MissingSourceError, match="SEND_DATA_MIRROR"):
        store.path("dfe_las")
    mirror_only = Store(registry=_registry_at("http://127.0.0.1:9"), raw=tmp_path / "raw", mirror=tmp_path / "nowhere", route="mirror")
    with pytest.raises(MissingSourceError, match="not in the mirror"):
        mirror_only.path("dfe_las")


def test_mirror_env_var_is_honoured(monkeypatch, tmp_path):
    from analysis import paths

    monkeypatch.setenv("SEND_DATA_MIRROR", str(tmp_path))
    assert paths.mirror_dir() == tmp_path.resolve()
    monkeypatch.delenv("SEND_DATA_MIRROR")
    assert paths.mirror_dir() == (paths.ROOT.parent / "shared" / "data").resolve()


def test_a_corrupted_local_copy_is_replaced(tmp_path, small_mirror):
    store = Store(registry=_registry_at("https://invalid.example"), raw=tmp_path / "raw", mirror=small_mirror)
    path = store.path("dfe_las")
    Path(path).write_text("damaged")
    assert sha256_of(store.path("dfe_las")) == store.registry["dfe_las"].sha256
