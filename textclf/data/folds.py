"""Cross-validation folds: `data.folds=K data.fold=I` reads a dataset with fold I of its training
examples as validation.

The training and validation examples are pooled and cut into K stratified folds (scikit-learn's
`StratifiedKFold`, shuffled with ``data.seed``): fold I is validation, the other K-1 train. The
test split is never touched: each fold's model is scored on the same test set. Stratified by the
label; for label sets (task=multi_label) by the row's rarest label, or "(none)", a stated rule
rather than iterative stratification: it keeps every label that has K rows in every fold's
validation, which is what the validation scores need; and with bAbI groups by (task, answer), so
that every task is in every fold. Evaluating a fold's checkpoint reads the same fold again from its
stored config.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import replace

from textclf.core.errors import TextclfError
from textclf.data.example import Example, Splits


def fold_of(splits: Splits, folds: int, fold: int, seed: int) -> Splits:
    """``splits`` with fold ``fold`` of ``folds`` of its pooled train and validation as validation."""
    from sklearn.model_selection import StratifiedKFold  # imported here: scikit-learn is slow to import

    pooled = splits.train + splits.val
    if len(pooled) < folds:
        raise TextclfError(f"data.folds={folds}: only {len(pooled)} training and validation examples; use fewer folds.")
    keys = stratum_keys(pooled)
    smallest = min(Counter(keys).values())
    with warnings.catch_warnings():  # a stratum with fewer rows than folds: scikit-learn warns and spreads it as it can
        warnings.simplefilter("ignore", UserWarning)
        cuts = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(keys, keys))
    train_rows, val_rows = cuts[fold]
    description = f"{splits.description}, fold {fold + 1} of {folds}" + (" (a class has fewer rows than folds)" if smallest < folds else "")
    return replace(splits, train=[pooled[i] for i in sorted(train_rows)], val=[pooled[i] for i in sorted(val_rows)], description=description)


def stratum_keys(examples: list[Example]) -> list[str]:
    """Each example's stratum: its label (a label set: its rarest label), with its group if it has one."""
    counts = Counter(label for ex in examples for label in ex.labels)
    keys = []
    for ex in examples:
        label = min(ex.labels, key=lambda name: (counts[name], name)) if ex.labels else "(none)"
        keys.append(f"{ex.group}/{label}" if ex.group is not None else label)
    return keys
