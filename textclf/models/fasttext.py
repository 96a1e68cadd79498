"""fastText for classification: Joulin, Grave, Bojanowski, Mikolov (2016), "Bag of Tricks for
Efficient Text Classification".

A text is the average of its words' vectors, and of its word n-grams' vectors (hashed into a
fixed table), fed to a linear classifier:

    fastText:  y = softmax(W (1 / (L + |G|)) (sum_t e(w_t) + sum_g Z[bucket(g)]))     one average

This encoder is the words' half, s = (1/L) sum_t e(w_t) over the real words only; the n-gram
branch (models/ngrams.py, on in conf/model/fasttext.yaml with bigrams) gives z = mean_g Z[bucket(g)],
and the head reads the concatenation:

    here:      y = softmax(W [s ; z] + b) = softmax(W_s s + W_z z + b)

The difference is only in the weighting: fastText mixes words and n-grams in one average, so a
text's n-grams weigh |G| / (L + |G|) of it (about half), while here each half is averaged alone
and W_s, W_z learn how much each counts. The model is as linear as fastText's (no hidden layer:
an epoch of SST-2 takes under two seconds on one CPU thread), the n-gram vectors need
not share the words' dimension, and the branch is the same one any flat encoder can take. What
is left out of fastText's training (hierarchical softmax, its SGD with a linear rate decay) is
for speed on millions of texts or labels, not for accuracy on classification sets like these;
what is added, dropout on the word vectors (embedding.dropout), regularises on sets this small.

Padding never reaches the mean (pooling.masked_mean); the pooled vectors are the word vectors
themselves, mixed by a plain mean, so explanations use occlusion (``pooling = "mean"``, as for
BiLSTM's mean pooling; models/salience.py).
"""

from __future__ import annotations

import torch

from textclf.models.encoder import FlatEncoder
from textclf.models.pooling import mask_from_lengths, masked_mean


class FastText(FlatEncoder):
    """x [B, T, E], lengths [B] -> s [B, E], the mean of the real words' vectors; output_size = E."""

    pooling = "mean"  # a plain mean of word vectors: explained by occlusion (models/salience.py)
    mean_of_vectors = True  # nothing but that mean: trained as bags when nothing is dropped (models/classifier.py)

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.output_size = input_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, mask_from_lengths(lengths.to(x.device), x.shape[1]))
