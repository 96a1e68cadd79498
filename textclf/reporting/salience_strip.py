"""Per-word salience of a flat encoder (textclf.models.salience), as text and as a heat strip: the
words in reading order, wrapped into lines, each on a cell coloured by its weight."""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from textclf.reporting.figures import pyplot, save_png

# What each measure's number is, for the reader of the text and the figure.
MEANINGS = {
    "attention": "the attention weight of each word (they sum to 1)",
    "max share": "the share of the max-pooled features taken from each word's state (they sum to 1)",
    "occlusion": "how far p(predicted) falls when the word is replaced by <unk> (below 0: the word argued against it)",
}
# The same, short enough for a figure's title.
SHORT_MEANINGS = {
    "attention": "attention weights (sum to 1)",
    "max share": "share of the max-pooled features each word supplies (sum to 1)",
    "occlusion": "fall in p(predicted) when the word is hidden as <unk>",
}
LINE_CHARS = 90  # the strip wraps to lines of about this many characters
BAR = 20  # characters of the text bar for the largest weight


def salience_text(words: Sequence[str], weights: np.ndarray, method: str, signed: bool, header: Sequence[str]) -> str:
    """``header`` lines (text, gold and prediction), the measure, then one line per word in
    reading order: its weight, a bar as long as the weight's share of the largest, the word."""
    largest = float(np.abs(weights).max(initial=0.0)) or 1.0
    lines = [*header, f"salience: {method}, {MEANINGS[method]}", "  weight  word"]
    for word, weight in zip(words, weights):
        weight = round(float(weight), 3) + 0.0  # + 0.0: a weight that rounds to -0.000 shows as 0.000
        bar = ("#" if weight >= 0 else "-") * round(BAR * abs(weight) / largest)
        lines.append(f"{weight:{'+' if signed else ''}8.3f}  {word:<16} {bar}")
    if not words:
        lines.append("          (an empty text: no words)")
    return "\n".join(lines)


def display_width(word: str) -> int:
    """Cells a word takes in a monospaced line: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in word)


def wrap(words: Sequence[str]) -> list[tuple[int, int, int]]:
    """(line, first column, width) of each word's cell: a space after every word, a new line
    before a word that would pass LINE_CHARS."""
    cells, line, column = [], 0, 0
    for word in words:
        width = max(1, display_width(word))
        if column and column + width > LINE_CHARS:
            line, column = line + 1, 0
        cells.append((line, column, width))
        column += width + 1
    return cells


def heat_strip(words: Sequence[str], weights: np.ndarray, method: str, title: str, path: Path, signed: bool) -> None:
    """Draw the words on cells coloured by weight (reds for a distribution; red for and blue
    against the prediction when ``signed``) with a colour bar, as a PNG at ``path``."""
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    plt = pyplot()
    cells = wrap(words) or [(0, 0, 1)]
    lines = cells[-1][0] + 1
    width = max(20, max(column + w for _, column, w in cells))
    largest = float(np.abs(weights).max(initial=0.0)) or 1.0
    norm = Normalize(-largest, largest) if signed else Normalize(0.0, largest)
    cmap = plt.get_cmap("RdBu_r" if signed else "Reds")
    inches = max(6.0, 1.6 + 0.095 * width)
    heading = [*title.splitlines(), f"{method}: {SHORT_MEANINGS[method]}"]
    heading = [part for line in heading for part in textwrap.wrap(line, int(inches * 12)) or [""]]
    fig, ax = plt.subplots(figsize=(inches, 0.5 + 0.17 * len(heading) + 0.34 * lines))
    for word, weight, (line, column, w) in zip(words, weights, cells):
        value = float(weight)
        ax.add_patch(Rectangle((column, line), w + 0.6, 0.86, facecolor=cmap(norm(value)), edgecolor="none"))
        strong = abs(norm(value) - (0.5 if signed else 0.0)) > (0.35 if signed else 0.6)
        ax.text(column + 0.3, line + 0.45, word, ha="left", va="center", family="monospace", fontsize=10,
                color="white" if strong else "black")
    if not words:
        ax.text(0.3, 0.45, "(an empty text)", va="center", fontsize=10)
    ax.set_xlim(0, width + 1)
    ax.set_ylim(lines, 0)
    ax.axis("off")
    ax.set_title("\n".join(heading), fontsize=9, loc="left")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.03, pad=0.01)
    save_png(fig, path)
