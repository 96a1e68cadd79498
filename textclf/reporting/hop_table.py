"""Where a memory network looks: its attention over the story sentences at each hop, as a table of
text and as a heat map (Sukhbaatar et al. 2015, Fig. 2 / Table 1 of the paper's appendix), with the
supporting facts marked with '*'."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textclf.data.example import Example
from textclf.reporting.figures import pyplot, save_png


def attention_text(
    ex: Example, attention: np.ndarray, gold: str, predicted: str, probability: float, empty: np.ndarray | None = None
) -> str:
    """attention [K, M] over the last M story sentences (oldest first); ``empty`` [K], the attention
    each hop gave the empty memory slots (a model with ``attend_empty_slots``), is one more row."""
    hops, kept = attention.shape
    offset = len(ex.context) - kept  # sentences older than the memory cap got no attention
    header = "     " + "".join(f" hop{k + 1:<3d}" for k in range(hops)) + "  sentence"
    lines = [header]
    for i, sentence in enumerate(ex.context):
        mark = "*" if i in ex.supporting else " "
        cells = "".join(f" {attention[k, i - offset]:6.2f}" if i >= offset else "      -" for k in range(hops))
        lines.append(f"{mark}{i + 1:3d} {cells}  {sentence}")
    if empty is not None:
        lines.append(" " * 5 + "".join(f" {empty[k]:6.2f}" for k in range(hops)) + "  (empty memory slots)")
    lines.append(f"question: {ex.text}")
    lines.append(f"answer: {gold} | predicted: {predicted} ({probability:.2f})   (* = supporting fact)")
    return "\n".join(lines)


def attention_plot(ex: Example, attention: np.ndarray, title: str, path: Path, empty: np.ndarray | None = None) -> None:
    plt = pyplot()
    hops, kept = attention.shape
    sentences = list(ex.context)[len(ex.context) - kept :]
    first = len(ex.context) - kept
    labels = [f"{'* ' if first + i in ex.supporting else ''}{s}" for i, s in enumerate(sentences)]
    if empty is not None:  # the empty slots' share as the last row
        attention = np.concatenate([attention, empty[:, None]], axis=1)
        labels.append("(empty memory slots)")
        kept += 1
    fig, ax = plt.subplots(figsize=(4 + 1.1 * hops + 0.06 * max((len(s) for s in labels), default=10), 1.2 + 0.32 * max(kept, 1)))
    image = ax.imshow(attention.T, cmap="Blues", vmin=0, vmax=max(1.0, float(attention.max())), aspect="auto")
    ax.set_xticks(range(hops), [f"hop {k + 1}" for k in range(hops)])
    ax.set_yticks(range(kept), labels, fontsize=9)
    for tick, label in zip(ax.get_yticklabels(), labels):
        if label.startswith("* "):
            tick.set_fontweight("bold")
    for i in range(kept):
        for k in range(hops):
            ax.text(k, i, f"{attention[k, i]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if attention[k, i] > 0.5 else "black")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    save_png(fig, path)
