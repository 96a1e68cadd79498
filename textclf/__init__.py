"""textclf: recurrent and memory-based text classifiers (TextRNN, BiLSTM, TextRCNN, MemN2N), with TextCNN and fastText.

    from textclf import Classifier, train
    results = train(["model=bilstm", "data=sst2"])          # a training run, as `python -m textclf` does
    clf = Classifier.load("outputs/DATE/TIME/best.pt")     # a trained model (textclf/inference/classifier.py)

Both load on first use, so `import textclf` (and `python -m textclf --help`) stays free of torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"Classifier": "textclf.inference.classifier", "Story": "textclf.inference.records"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'textclf' has no attribute {name!r}")


def train(overrides: list[str] | tuple[str, ...] = (), run_dir: str | None = None) -> dict[str, Any]:
    """Train as `python -m textclf OVERRIDES...` would (same config, same run folder layout) and
    return the results dict (results.json). ``run_dir`` sets the run folder (default: Hydra's
    outputs/DATE/TIME under the current directory)."""
    from textclf.core.errors import TextclfError
    from textclf.training.trainer import train_from_overrides

    if not isinstance(overrides, (list, tuple)) or not all(isinstance(item, str) for item in overrides):
        raise TextclfError(f"overrides must be a list of strings such as ['model=rcnn', 'data=sst2'], got {overrides!r}.")
    return train_from_overrides(list(overrides), run_dir)
