"""The one way figures (reports and explanations) are drawn and saved: off-screen, atomically, fonts for any script."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path
from types import ModuleType

from textclf.core.atomic import atomic_write


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the file-only Agg backend (never needs a display), with fallback fonts
    for Chinese words and labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = ["DejaVu Sans", *cjk_fonts()]
    return plt


def save_png(fig, path: Path, dpi: int = 110) -> None:
    """Lay out ``fig`` (tight, unless it brings a layout of its own), write it to ``path`` through a
    temporary file renamed into place, close it. The saved area is cut to what was drawn, so a title
    or label that a layout left past the edge is still in the file."""
    plt = pyplot()
    with warnings.catch_warnings():
        # Without a CJK font a Chinese word draws as boxes; the .txt beside the figure still has it.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight"))
    plt.close(fig)


def wrap_title(title: str, width_inches: float, font: float = 12) -> str:
    """``title`` wrapped to lines that fit ``width_inches`` (less a margin) at ``font`` points (a
    DejaVu Sans character averages under 0.6 em), each of its own lines wrapped apart."""
    chars = max(20, int((width_inches - 0.5) * 72 / (0.6 * font)))
    return "\n".join(part for line in title.splitlines() for part in textwrap.wrap(line, chars) or [""])


def cjk_fonts() -> list[str]:
    """Installed font families that can draw Chinese, in order of preference."""
    from matplotlib import font_manager

    wanted = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei",
              "Microsoft YaHei", "PingFang SC", "Source Han Sans SC")
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in wanted if name in installed]
