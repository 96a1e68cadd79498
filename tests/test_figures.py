"""Report figures that read (textclf.reporting.confusion, report.label_scores_figure): nothing
drawn past the canvas, every number legible on its own colour, and the numbers in the cells are
the share of their true class."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from textclf.reporting.confusion import MAX_MATRIX, TOP_ERRORS, confusion_figure
from textclf.reporting.figures import pyplot
from textclf.reporting.report import label_scores_figure

TITLE = "bilstm on sst5 — test (acc 41.8 %, macro-F1 39.2 %, best of 5 seeds, 30 epochs, early stopping on val)"
CELL = re.compile(r"(<1|\d+)(?: %\n\((\d+)\))?")
BAR = re.compile(r"\s*(\d+) · (<1|\d+) %")


def synthetic(n: int) -> np.ndarray:
    """Counts with a strong diagonal and sparse errors, a row of one example (predicted wrong), one
    of three, large rows with errors under 0.5 %, and a last class that is never true."""
    rng = np.random.default_rng(n)
    matrix = rng.poisson(rng.uniform(0, 3, (n, n)) * (rng.random((n, n)) < 0.3)) + np.diag(rng.integers(20, 900, n))
    matrix[0] = 0
    matrix[0, -1] = 1
    if n > 3:
        matrix[1] = 0
        matrix[1, :2] = [1, 2]
    matrix[-1] = 0
    return matrix


def names_for(n: int) -> list[str]:
    return [f"class {i}" if i % 7 else f"a rather long class name {i}" for i in range(n)]


@pytest.fixture
def drawn():
    """Lays a figure out and draws it (constrained layout runs at draw time); closes them after."""
    figures = []

    def draw(fig):
        figures.append(fig)
        fig.canvas.draw()
        return fig.canvas.get_renderer()

    yield draw
    for fig in figures:
        pyplot().close(fig)


def tick_labels(axis):
    """The tick labels an axis draws: those of the ticks inside its view, with text."""
    low, high = sorted(axis.get_view_interval())
    locs = axis.get_majorticklocs()
    for loc, tick in zip(locs, axis.get_major_ticks(len(locs))):
        if low - 1e-9 <= loc <= high + 1e-9:
            yield from (label for label in (tick.label1, tick.label2) if label.get_visible() and label.get_text())


def assert_inside(fig, renderer):
    """Title, subtitle, axis labels and every tick label (colour bar's too) lie inside the canvas."""
    texts = list(fig.texts)  # the suptitle
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *tick_labels(ax.xaxis), *tick_labels(ax.yaxis)]
    texts = [t for t in texts if t.get_visible() and t.get_text()]
    assert len(texts) >= 6
    canvas = fig.bbox
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= canvas.x1 + 1 and box.y1 <= canvas.y1 + 1, (text.get_text(), box, canvas)


def assert_apart(labels, renderer):
    """No two tick labels of one axis overlap (so type too large for its cells would fail)."""
    boxes = [label.get_window_extent(renderer) for label in labels]
    for a, b in zip(boxes, boxes[1:]):
        assert not a.overlaps(b), (a, b)


def contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two sRGB(A) colours."""
    channels = np.array([a[:3], b[:3]], dtype=float)
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    light, dark = sorted(linear @ [0.2126, 0.7152, 0.0722], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_is_the_wcag_ratio():
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert contrast((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) == pytest.approx(1.0)


def drawn_share(text: str, expected: float) -> None:
    """The % a cell says is its row share rounded (<1 for a share that rounds to 0 but is not 0)."""
    percent = CELL.fullmatch(text).group(1)
    assert (percent == "0") == (expected == 0), (text, expected)  # an error never reads as none
    if percent == "<1":
        assert 0 < expected < 0.005, (text, expected)
    else:
        assert abs(int(percent) - 100 * expected) <= 0.5 + 1e-9, (text, expected)


@pytest.mark.parametrize("n", [2, 5, 21, 50])
def test_the_matrix_reads(n, drawn):
    matrix, names = synthetic(n), names_for(n)
    fig = confusion_figure(matrix, names, TITLE)
    renderer = drawn(fig)
    assert_inside(fig, renderer)
    ax = fig.axes[0]
    assert_apart(ax.get_xticklabels(), renderer)
    assert_apart(ax.get_yticklabels(), renderer)
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel().startswith("true label")
    assert "row-normalised: share of each true class" in ax.get_title().replace("\n", " ")
    assert "macro-F1 39.2 %" in fig.texts[0].get_text().replace("\n", " ")
    colours = ax.images[0].to_rgba(ax.images[0].get_array())  # each cell's colour as drawn
    written = set()
    for text in ax.texts:
        x, i = text.get_position()
        assert contrast(to_rgb(text.get_color()), colours[i, round(x)]) >= 4.5, (text.get_text(), i, x)
        if text.get_text() == "no true examples":
            assert matrix[i].sum() == 0
            continue
        j = int(x)
        drawn_share(text.get_text(), matrix[i, j] / matrix[i].sum())
        count = CELL.fullmatch(text.get_text()).group(2)
        assert count is None or int(count) == matrix[i, j]
        written.add((i, j))
    # Every error is written in its cell, however small: none left to a faint colour alone.
    assert {(int(i), int(j)) for i, j in zip(*np.nonzero(matrix))} <= written
    assert (n <= 20) == any("\n(" in t.get_text() for t in ax.texts)  # counts while the cells have room


def test_above_the_matrix_limit_the_top_errors_read(drawn):
    n = 120
    assert n > MAX_MATRIX
    matrix, names = synthetic(n), [f"answer {i}" for i in range(n)]
    fig = confusion_figure(matrix, names, TITLE)
    renderer = drawn(fig)
    assert_inside(fig, renderer)
    ax = fig.axes[0]
    assert_apart(ax.get_yticklabels(), renderer)
    assert ax.get_ylabel() == "true label → predicted label"
    pairs = [label.get_text().split(" → ") for label in ax.get_yticklabels()]
    notes = [BAR.fullmatch(text.get_text()) for text in ax.texts]
    assert len(pairs) == len(notes) == TOP_ERRORS and all(notes)
    errors = matrix - np.diag(np.diag(matrix))
    assert [int(note.group(1)) for note in notes] == sorted(errors.ravel(), reverse=True)[:TOP_ERRORS]
    for (true, predicted), note, text in zip(pairs, notes, ax.texts):
        i, j = names.index(true), names.index(predicted)
        assert i != j and int(note.group(1)) == matrix[i, j]
        drawn_share(note.group(2), matrix[i, j] / matrix[i].sum())
        assert contrast(to_rgb(text.get_color()), ax.get_facecolor()) >= 4.5


def test_the_label_scores_fit_with_a_long_title(drawn):
    names = [f"label {i}" if i % 5 else f"a much longer label name {i}" for i in range(12)]
    table = {name: {"precision": 0.5, "recall": 0.75, "f1-score": 0.6, "support": 40} for name in names}
    fig = label_scores_figure(table, names, TITLE)
    assert_inside(fig, drawn(fig))
