"""Downloads against a local HTTP server on 127.0.0.1 serving archives built here."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from textclf.core.errors import TextclfError
from textclf.data import download
from textclf.data.download import MARKER, Source, ensure_downloaded
from textclf.data.imdb import IMDB
from textclf.data.mr import MR


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


REVIEWS = {f"aclImdb/{split}/{label}/{i}_7.txt": f"a {label} review number {i}<br />ok".encode()
           for split in ("train", "test") for label in ("pos", "neg") for i in range(5)}
REVIEWS["aclImdb/README"] = b"not a review"


class Server:
    """Serves ``routes`` (path -> bytes); a route ending in '!truncate' claims more bytes than it sends."""

    def __init__(self, routes: dict[str, bytes]):
        self.routes, self.requests = routes, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                truncate = self.path.endswith("!truncate")
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) * (2 if truncate else 1)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Polled every 10 ms, not every 0.5 s: shutdown() waits for the next poll, at the end of every test.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def imdb_source(url: str, sha256: str) -> Source:
    return Source("IMDB", (url,), member_prefix="aclImdb/", member_suffix=".txt",
                  archive_sha256={url: sha256}, expect="train/..., test/...")


def downloaded_files(root) -> list:
    """Every file under ``root`` but the download lock's."""
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".textclf.lock"]


def test_download_verify_unpack_and_reuse(tmp_path):
    archive = tar_gz(REVIEWS)
    with Server({"/aclImdb_v1.tar.gz": archive}) as server:
        url = server.url("/aclImdb_v1.tar.gz")
        source = imdb_source(url, hashlib.sha256(archive).hexdigest())
        ensure_downloaded(source, tmp_path / "imdb", progress=False)
        assert (tmp_path / "imdb" / MARKER).is_file()
        assert not (tmp_path / "imdb" / "README").exists()  # only the reviews were kept
        splits = IMDB(root=str(tmp_path / "imdb"), val_fraction=0.2).load()
        assert len(splits.test) == 10 and "<br />" not in splits.test[0].text
        ensure_downloaded(source, tmp_path / "imdb", progress=False)
        assert len(server.requests) == 1  # cached: the second call downloads nothing


def test_corrupted_archive_is_rejected_and_nothing_kept(tmp_path):
    archive = tar_gz(REVIEWS)
    with Server({"/a.tar.gz": archive[:-20] + b"x" * 20}) as server:
        source = imdb_source(server.url("/a.tar.gz"), hashlib.sha256(archive).hexdigest())
        with pytest.raises(TextclfError, match="corrupt: its SHA-256 is not the published"):
            ensure_downloaded(source, tmp_path / "imdb", progress=False)
    root = tmp_path / "imdb"
    assert not (root / MARKER).exists() and not (root / "train").exists()
    assert not list(root.rglob("*.tar.gz")) and not list(root.rglob("*.part"))
    assert downloaded_files(root) == []  # not even the temporary file of the transfer


def test_interrupted_download_is_never_taken_for_the_dataset(tmp_path):
    archive = tar_gz(REVIEWS)
    good = hashlib.sha256(archive).hexdigest()
    with Server({"/a.tar.gz!truncate": archive, "/a.tar.gz": archive}) as server:
        cut = Source("IMDB", (server.url("/a.tar.gz!truncate"),), member_prefix="aclImdb/", member_suffix=".txt",
                     archive_sha256={server.url("/a.tar.gz!truncate"): good})
        with pytest.raises(TextclfError, match="the transfer stopped|could not download"):
            ensure_downloaded(cut, tmp_path / "imdb", progress=False)
        root = tmp_path / "imdb"
        assert not (root / MARKER).exists() and not list(root.rglob("*.part")) and not (root / "train").exists()
        assert downloaded_files(root) == []
        ensure_downloaded(imdb_source(server.url("/a.tar.gz"), good), root, progress=False)  # a retry succeeds
        assert (root / MARKER).is_file() and len(list((root / "train" / "pos").glob("*.txt"))) == 5


def test_per_file_checksums(tmp_path):
    files = {"rt-polaritydata/rt-polarity.pos": b"good film\n", "rt-polaritydata/rt-polarity.neg": b"bad film\n"}
    sums = {name.split("/")[1]: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    with Server({"/mr.tar.gz": tar_gz(files)}) as server:
        bad = Source("MR", (server.url("/mr.tar.gz"),), member_prefix="rt-polaritydata/",
                     file_sha256={**sums, "rt-polarity.neg": "0" * 64})
        with pytest.raises(TextclfError, match="rt-polarity.neg has the wrong SHA-256"):
            ensure_downloaded(bad, tmp_path / "mr", progress=False)
        assert not (tmp_path / "mr" / "rt-polarity.pos").exists()


def test_offline_message_says_what_to_fetch(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rt-polaritydata.tar.gz"
    source = Source("MR", (url,), member_prefix="rt-polaritydata/", expect="rt-polarity.pos, rt-polarity.neg")
    with pytest.raises(TextclfError, match=r"could not download MR from .*put rt-polarity.pos, rt-polarity.neg into"):
        ensure_downloaded(source, tmp_path / "mr", progress=False)


def test_data_download_true_goes_through_the_reader(tmp_path, monkeypatch):
    lines = {"pos": b"".join(b"great film %d\n" % i for i in range(20)), "neg": b"".join(b"bad film %d\n" % i for i in range(20))}
    files = {f"rt-polaritydata/rt-polarity.{k}": v for k, v in lines.items()}
    with Server({"/mr.tar.gz": tar_gz(files)}) as server:
        source = Source("MR", (server.url("/mr.tar.gz"),), member_prefix="rt-polaritydata/")
        monkeypatch.setattr(download, "source_for", lambda name, root: source if name == "mr" else None)
        mr = MR(root=str(tmp_path / "mr"), download=True)
        mr.fetch()
        splits = mr.load()
    assert len(splits.train) + len(splits.val) + len(splits.test) == 40


def test_pinned_checksums_cover_the_official_files():
    assert len(download.source_for("babi", download.Path("data/babi/en")).file_sha256) == 40
    assert set(download.source_for("sst", download.Path("data/sst")).file_sha256) == {
        f"stsa.{v}.{s}" for v in ("binary", "fine") for s in ("train", "dev", "test")}
    assert download.source_for("imdb", download.Path("x")).archive_sha256
