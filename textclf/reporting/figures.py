"""The one way figures (reports and explanations) are drawn and saved: off-screen, atomically, fonts for any script."""

from __future__ import annotations

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
    """Lay out ``fig``, write it to ``path`` through a temporary file renamed into place, close it."""
    plt = pyplot()
    with warnings.catch_warnings():
        # Without a CJK font a Chinese word draws as boxes; the .txt beside the figure still has it.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))
    plt.close(fig)


def cjk_fonts() -> list[str]:
    """Installed font families that can draw Chinese, in order of preference."""
    from matplotlib import font_manager

    wanted = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei",
              "Microsoft YaHei", "PingFang SC", "Source Han Sans SC")
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in wanted if name in installed]
