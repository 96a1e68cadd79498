"""The confusion figure of a single-label report (confusion_matrix.png).

Up to MAX_MATRIX classes it is the matrix normalised per true class: each row sums to 100 %, so a
rare class's errors show as plainly as a common one's, and each cell says its share (with the
count while the cells have room). Above that a matrix has no room for names or numbers (bAbI joint
has ~170 answers, a 170 x 170 grid of specks), so the figure lists the most frequent errors
instead: see `top_errors_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from textclf.reporting.figures import pyplot, save_png, wrap_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_MATRIX = 50  # classes drawn as a matrix; more are drawn as a list of the top errors
TOP_ERRORS = 30  # error pairs listed above MAX_MATRIX classes
SUBTITLE = "row-normalised: share of each true class"
EMPTY_ROW = "#d9d9d9"  # the grey of a class that was predicted but never true
TITLE_FONT = 12
NAME_CHARS = 24  # longer class names are cut: one long name must not squeeze the whole grid
# Colour ticks of the colour bar: the square-root scale spreads the small shares, where errors are.
SHARE_TICKS = (0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1)


@dataclass(frozen=True)
class Cells:
    """How a matrix of some size is drawn: the side of a cell (inches), the font sizes of the cell
    text and of the class names, whether the count fits under the share, whether empty cells say 0 %."""

    inches: float
    font: float
    names: float
    counts: bool
    zeros: bool


def cells_for(n: int) -> Cells:
    """Smaller cells and type as the classes grow, so 50 classes still fit a page; counts go above
    20 (two lines no longer fit a cell), the 0 % cells above 12 (a grid of zeros hides the errors)."""
    if n <= 5:
        return Cells(1.0, 11, 11, counts=True, zeros=True)
    if n <= 12:
        return Cells(0.72, 9, 10, counts=True, zeros=True)
    if n <= 20:
        return Cells(0.52, 7.5, 9, counts=True, zeros=False)
    if n <= 32:
        return Cells(0.4, 7.5, 8.5, counts=False, zeros=False)
    return Cells(0.3, 6.5, 8, counts=False, zeros=False)


def row_shares(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total; NaN for a row with no gold example (a class that was only
    predicted), which has no shares to show."""
    totals = matrix.sum(axis=1, keepdims=True).astype(float)
    return matrix / np.where(totals > 0, totals, np.nan)


def percent_text(share: float) -> str:
    """A share in whole percent; a share that rounds to 0 but is not 0 says <1, not 0."""
    return "<1" if 0 < share < 0.005 else f"{100 * share:.0f}"


def luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (components 0..1)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ink_on(background: Sequence[float]) -> str:
    """Black or white, whichever contrasts more with ``background``: by the WCAG contrast ratio
    black wins above luminance 0.179, and the better of the two is never below 4.58:1."""
    return "black" if luminance(background) > 0.179 else "white"


def short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def text_inches(text: str, font: float) -> float:
    return 0.6 * font * len(text) / 72


def confusion_figure(matrix: np.ndarray, names: Sequence[str], title: str = "") -> Figure:
    """The figure (not saved) for a C x C count matrix (rows: true class, columns: predicted)."""
    matrix = np.asarray(matrix)
    if len(names) > MAX_MATRIX:
        return top_errors_figure(matrix, names, title)
    return matrix_figure(matrix, names, title)


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    save_png(confusion_figure(matrix, names, title), path, dpi=100)


def matrix_figure(matrix: np.ndarray, names: Sequence[str], title: str) -> Figure:
    """The row-normalised matrix: colour and text are the row share (a square-root colour scale, so
    a 2 % error is a visible tint, not white), counts in brackets, grey rows for classes never true."""
    from matplotlib.colors import PowerNorm

    plt = pyplot()
    cells = cells_for(len(names))
    rows = [f"{short(name)} ({total})" for name, total in zip(names, matrix.sum(axis=1))]
    columns = [short(name) for name in names]
    width, height = matrix_size(cells, rows, columns)
    title = wrap_title(title or "Confusion matrix", width)
    fig, ax = plt.subplots(figsize=(width, height + 0.25 * title.count("\n")), layout="constrained")
    shares = row_shares(matrix)
    cmap = plt.get_cmap("Blues").with_extremes(bad=EMPTY_ROW)
    image = ax.imshow(np.ma.masked_invalid(shares), cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1), aspect="auto")
    label_axes(ax, rows, columns, cells)
    write_cells(ax, image, matrix, shares, cells)
    bar = fig.colorbar(image, ax=ax, pad=0.02, aspect=max(20.0, 5 * len(names) * cells.inches))  # thin, however tall
    bar.set_ticks(SHARE_TICKS, labels=[f"{100 * t:.0f} %" for t in SHARE_TICKS], fontsize=8)
    bar.set_label("share of the true class", fontsize=9)
    counted = "count in brackets" if cells.counts else "% in cells"
    add_titles(fig, ax, title, f"{SUBTITLE}, {counted}")
    return fig


def add_titles(fig, ax, title: str, subtitle: str) -> None:
    """``title`` (wrapped already: its lines set the figure's height) over the figure, ``subtitle``
    wrapped to about the width of the axes below it (the figure's less the names on the left)."""
    fig.suptitle(title, fontsize=TITLE_FONT)
    ax.set_title(wrap_title(subtitle, fig.get_figwidth() - 1.5, font=9), fontsize=9, color="#444444")


def matrix_size(cells: Cells, rows: Sequence[str], columns: Sequence[str]) -> tuple[float, float]:
    """Figure inches that give square cells once the labels, colour bar and titles have their room
    (constrained layout places them; this only keeps it from shrinking the grid)."""
    n = len(rows)
    slant = math.sin(math.radians(column_style(columns)["rotation"]))
    left = 0.5 + text_inches(max(rows, key=len), cells.names)
    bottom = 0.55 + slant * text_inches(max(columns, key=len), cells.names)
    width = max(6.5, left + n * cells.inches + 1.2)  # 1.2: colour bar with its labels; 6.5: room for the titles
    return width, 1.1 + n * cells.inches + bottom


def column_style(columns: Sequence[str]) -> dict:
    """Column names slant, then stand upright, once they would run into each other."""
    if len(columns) > 12:
        return {"rotation": 90}
    if len(columns) > 5 or max(len(c) for c in columns) > 12:
        return {"rotation": 45, "ha": "right", "rotation_mode": "anchor"}
    return {"rotation": 0}


def label_axes(ax, rows: Sequence[str], columns: Sequence[str], cells: Cells) -> None:
    n = len(rows)
    ax.set_xticks(range(n), columns, fontsize=cells.names, **column_style(columns))
    ax.set_yticks(range(n), rows, fontsize=cells.names)
    ax.set_xlabel("predicted label", fontsize=10)
    ax.set_ylabel("true label (count)", fontsize=10)
    # White lines between cells keep neighbours of one shade apart.
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1 if n <= 20 else 0.5)
    ax.tick_params(which="both", length=0)
    ax.spines[:].set_visible(False)


def write_cells(ax, image, matrix: np.ndarray, shares: np.ndarray, cells: Cells) -> None:
    """The share (and count) in each cell, in the ink that contrasts with the cell's own colour;
    one note across each row with no true example, on its grey."""
    from matplotlib.colors import to_rgb

    for (i, j), count in np.ndenumerate(matrix):
        if np.isnan(shares[i, j]) or (count == 0 and not cells.zeros):
            continue
        text = percent_text(shares[i, j]) + (f" %\n({count})" if cells.counts else "")
        colour = ink_on(image.cmap(image.norm(shares[i, j])))
        ax.text(j, i, text, ha="center", va="center", fontsize=cells.font, color=colour)
    for i in np.flatnonzero(np.isnan(shares).all(axis=1)):
        ax.text((len(matrix) - 1) / 2, i, "no true examples", ha="center", va="center", fontsize=cells.font,
                color=ink_on(to_rgb(EMPTY_ROW)))


def top_errors(matrix: np.ndarray, k: int) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal counts as (true, predicted, count), largest first, ties in
    matrix order."""
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    order = np.argsort(-errors, axis=None, kind="stable")[:k]
    pairs = zip(*np.unravel_index(order, errors.shape))
    return [(int(i), int(j), int(errors[i, j])) for i, j in pairs if errors[i, j] > 0]


def top_errors_figure(matrix: np.ndarray, names: Sequence[str], title: str) -> Figure:
    """Above MAX_MATRIX classes: the TOP_ERRORS most frequent true → predicted pairs as horizontal
    bars (count), each with its share of the true class. A list beats a matrix cut down to the most
    confused classes: it keeps full names on one axis, reads top to bottom in order of harm, and
    does not drop the errors between a confused class and one outside the cut."""
    plt = pyplot()
    pairs = top_errors(matrix, TOP_ERRORS)
    width = 9.0
    title = wrap_title(title or "Most frequent errors", width)
    fig, ax = plt.subplots(figsize=(width, 2.2 + 0.28 * max(len(pairs), 3) + 0.25 * title.count("\n")), layout="constrained")
    draw_error_bars(ax, pairs, names, matrix.sum(axis=1))
    ax.set_xlabel("errors (count · % of the true class)", fontsize=10)
    ax.set_ylabel("true label → predicted label", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if not pairs:
        ax.text(0.5, 0.5, "no errors", transform=ax.transAxes, ha="center", va="center")
    add_titles(fig, ax, title, errors_subtitle(matrix, [count for _, _, count in pairs], len(names)))
    return fig


def draw_error_bars(ax, pairs: Sequence[tuple[int, int, int]], names: Sequence[str], totals: np.ndarray) -> None:
    """One bar a (true, predicted, count) pair, the most frequent on top, with its count and share
    of the true class written right of the bar."""
    counts = [count for _, _, count in pairs]
    ax.barh(range(len(pairs)), counts, color="#4a90c8")
    ax.set_yticks(range(len(pairs)), [f"{short(names[i])} → {short(names[j])}" for i, j, _ in pairs], fontsize=9)
    for row, (i, _, count) in enumerate(pairs):
        ax.text(count, row, f"  {count} · {percent_text(count / totals[i])} %", va="center", fontsize=8)
    ax.set_xlim(0, 1.25 * max(counts, default=1))  # room for the text right of the longest bar
    ax.set_ylim(max(len(pairs), 1) - 0.5, -0.5)


def errors_subtitle(matrix: np.ndarray, shown: Sequence[int], classes: int) -> str:
    total = int(matrix.sum() - np.trace(matrix))
    share = f", {percent_text(sum(shown) / total)} %" if total else ""
    return f"{classes} classes, too many for a matrix: the {len(shown)} most frequent errors ({sum(shown)} of {total}{share})"
