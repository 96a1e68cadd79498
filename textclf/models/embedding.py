"""Word embeddings: a lookup table e(w) = E[w], E in R^{V x d}, with dropout on the looked-up vectors.

The table starts random and may be overwritten row by row with pretrained vectors (word2vec,
GloVe) through `Embedding.load_vectors`; words the pretrained file lacks keep their random rows,
as in Kim (2014).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textclf.core.shipped import shipped
from textclf.data.vocab import PAD_ID, UNK_ID
from textclf.models.pooling import mask_from_lengths, mean_weights

# Pretrained word2vec/GloVe components are mostly within +-0.3 (per-component std ~0.1-0.4).
# N(0, 0.1^2) puts random rows (out-of-vocabulary words once vectors are loaded) on that same
# scale, instead of nn.Embedding's N(0, 1), whose ~sqrt(d)-norm inputs saturate the RNN gates
# at initialisation and would dwarf the pretrained rows beside them.
INIT_STD = 0.1
RANDOM = shipped("embedding/random")  # the defaults' one home: conf/embedding/random.yaml


class Embedding(nn.Module):
    """ids [B, T] -> e(w) [B, T, dim]; the padding row is zero and receives no gradient.

    ``freeze=True`` keeps the whole table fixed during training (Kim's "static" setting).
    ``word_dropout``: during training, each real token is replaced by ``<unk>`` with this
    probability (Iyyer et al. 2015; Bowman et al. 2016). With random embeddings on small datasets
    like SST, the model otherwise leans on a few memorised words; hiding them forces it to use
    the rest of the sentence, and trains the ``<unk>`` row that unseen test words map to.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        dropout: float,
        freeze: bool = RANDOM.freeze,
        word_dropout: float = RANDOM.word_dropout,
    ) -> None:
        super().__init__()
        self.dim = dim
        # The vocabulary's own ids (data/vocab.py): every table here is indexed by a `Vocab`.
        self.padding_idx, self.unk_idx = PAD_ID, UNK_ID
        self.freeze = freeze
        self.table = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        nn.init.normal_(self.table.weight, mean=0.0, std=INIT_STD)
        with torch.no_grad():
            self.table.weight[PAD_ID].zero_()
        self.table.weight.requires_grad_(not freeze)
        self.dropout = nn.Dropout(dropout)
        self.word_dropout = word_dropout

    @property
    def weight(self) -> torch.Tensor:
        return self.table.weight

    @torch.no_grad()
    def load_vectors(self, vectors: torch.Tensor, found: torch.Tensor) -> int:
        """Copy ``vectors[w]`` into row w wherever ``found[w]`` is true; return how many rows.

        vectors: [V, dim] float, aligned with this vocabulary; found: [V] bool. Rows not found keep
        their random init; the padding row stays zero whatever ``found`` says, and the table stays
        frozen or trainable as constructed.
        """
        weight = self.table.weight
        if vectors.shape != weight.shape:
            raise ValueError(
                f"pretrained vectors have shape {tuple(vectors.shape)}, but the embedding table is "
                f"{tuple(weight.shape)} (vocab_size x dim)"
            )
        if found.shape != (weight.shape[0],):
            raise ValueError(f"found must be a [{weight.shape[0]}] bool mask, got {tuple(found.shape)}")
        found = found.to(device=weight.device, dtype=torch.bool).clone()
        found[self.padding_idx] = False
        weight[found] = vectors.to(device=weight.device, dtype=weight.dtype)[found]
        weight.requires_grad_(not self.freeze)
        return int(found.sum())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.table(self.hide_words(ids)))

    def hide_words(self, ids: torch.Tensor) -> torch.Tensor:
        """ids with each real token replaced by <unk> with probability word_dropout, while training."""
        if self.training and self.word_dropout > 0:
            hide = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids != self.padding_idx)
            ids = ids.masked_fill(hide, self.unk_idx)
        return ids

    @property
    def drops_vectors(self) -> bool:
        """Whether training drops components of the looked-up vectors (embedding.dropout > 0)."""
        return self.dropout.p > 0

    def bag_mean(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids [B, T], lengths [B] -> [B, dim]: the mean of the vectors of each text's first
        ``lengths`` tokens, as one weighted embedding_bag that never builds the [B, T, dim] tensor.
        The same mean as embedding the ids and averaging over the real steps (pooling.masked_mean:
        divided by the length, so a text's own <pad> token, which the tokenizer keeps, counts as the
        zero row it is there), but only when no component is dropped: vector dropout needs the
        [B, T, dim] tensor to mask (``drops_vectors``)."""
        if self.drops_vectors:
            raise ValueError("bag_mean cannot drop vector components: embedding.dropout must be 0")
        weights = mean_weights(mask_from_lengths(lengths.to(ids.device), ids.shape[1]), self.table.weight.dtype)
        # padding_idx: the padding row gets no gradient, as nn.Embedding(padding_idx) gives it none.
        return F.embedding_bag(self.hide_words(ids), self.table.weight, mode="sum", per_sample_weights=weights,
                               padding_idx=self.padding_idx, sparse=self.table.sparse)
