"""Word vectors composed from a pretrained subword table (embedding=wordllama).

WordLlama (Miller 2024, MIT) ships the 32 000 x 256 token embeddings of a Llama-2-family
tokenizer, trained so that the *mean* of a text's token vectors embeds the text. textclf keeps its
own word vocabulary (fitted on train, as for every other table), so each word's vector is that same
composition over the word alone:

    v(w) = (1 / |pieces(w)|) sum_{p in pieces(w)} E[p]        (pieces: the table's own tokenizer)

Every word gets a vector, however rare or misspelt, since any word splits into known pieces. The
table's values are large for an RNN's input (mean |E| ~ 0.7, where GloVe's are ~0.3); the composed
vectors are scaled to a per-component standard deviation of ``TARGET_STD`` so the gates do not start
saturated, which changes no direction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from textclf.core.errors import TextclfError

TARGET_STD = 0.3


def read_table(path: Path) -> np.ndarray:
    """The [tokens, dim] float32 matrix of a .safetensors file holding one tensor."""
    from safetensors.numpy import load_file  # installed with wordllama (the vectors extra)

    tensors = load_file(str(path))
    if len(tensors) != 1:
        raise TextclfError(f"{path}: expected one embedding matrix, found tensors {sorted(tensors)}.")
    return next(iter(tensors.values())).astype(np.float32)


def compose_words(path: Path, tokenizer_file: Path, words: list[str], dim: int, take: Callable[[str, np.ndarray], None]) -> int:
    """Hand ``take`` one composed vector per word of ``words``; returns the table's row count."""
    from tokenizers import Tokenizer

    table = read_table(path)
    if table.ndim != 2 or table.shape[1] != dim:
        raise TextclfError(f"{path}: a table of shape {table.shape}, but embedding.dim={dim}; set embedding.dim={table.shape[-1]}.")
    if not tokenizer_file.is_file():
        raise TextclfError(f"{path}: its tokenizer {tokenizer_file} (embedding.words) does not exist.")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    encodings = tokenizer.encode_batch(words, add_special_tokens=False)
    pieces = [[i for i in enc.ids if i < len(table)] for enc in encodings]
    vectors = [table[ids].mean(axis=0) if ids else None for ids in pieces]
    found = [v for v in vectors if v is not None]
    scale = TARGET_STD / max(float(np.std(found)), 1e-6) if found else 1.0
    for word, vector in zip(words, vectors):
        if vector is not None:
            take(word, vector * scale)
    return len(table)
