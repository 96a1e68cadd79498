"""Which text encoding a data file is in, for ``data.charset=auto``.

Told apart, in this order: a byte-order mark (UTF-8, UTF-16 or UTF-32 with BOM); UTF-8 (which
every ASCII file is); GB18030, the Chinese national encoding that covers GBK and GB2312. Anything
else is not guessed: the caller names the file and the ``data.charset=`` value to set.

Why not a general detector library: on small files (1 to 5 rows, the size of a hand-made test
split) charset-normalizer, asked only whether a file is GB18030, missed 1 of 200 GBK Chinese
files and took 1 of 200 Latin-1 files for GB18030, the one row "Ça va bien,1" among them
(benchmarks/encoding_detection.py); on such files its statistics have too little to go on. The
rule here needs none: GB18030 accepts almost any byte pair, so a file that decodes under it is
GB18030 Chinese only if at least half of its non-ASCII characters are GB2312 ones (the 7,445
characters of everyday simplified Chinese, Chinese punctuation and full-width forms). Latin-1
text that happens to decode turns into rare ideographs outside GB2312 (an accented letter
followed by an ASCII one is a pair GB2312 never uses): none of the 200 Latin-1 files is taken for
GB18030, all 200 GBK ones are. The cost: traditional Chinese written in GB18030 has fewer of its
characters in GB2312, and 87 of 200 such files are refused (the message says to set
``data.charset=gb18030``): a refusal, never a wrong reading.
"""

from __future__ import annotations

import codecs
from collections import Counter
from pathlib import Path

AUTO = "auto"
# Longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
GB18030 = "gb18030"
CHINESE_SHARE = 0.5  # of the non-ASCII characters that must be GB2312 ones
SAMPLE_CHARS = 20_000  # non-ASCII characters enough to judge a file by
CHUNK = 1 << 20


def from_bom(path: Path) -> str | None:
    """The codec a byte-order mark at the start of ``path`` names, or None."""
    with open(path, "rb") as fh:
        start = fh.read(4)
    return next((codec for bom, codec in BOMS if start.startswith(bom)), None)


def non_ascii(path: Path, codec: str) -> Counter | None:
    """How often each non-ASCII character occurs (the first SAMPLE_CHARS or so of them) when
    ``path`` is decoded as ``codec``; None if some byte of the file does not decode."""
    decoder = codecs.getincrementaldecoder(codec)()
    counts: Counter = Counter()
    with open(path, "rb") as fh:
        try:
            while chunk := fh.read(CHUNK):
                text = decoder.decode(chunk)
                if counts.total() < SAMPLE_CHARS:
                    counts.update(ch for ch in text if ord(ch) > 127)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return counts


def in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def reads_as_chinese(path: Path) -> bool:
    """Whether ``path`` is GB18030 text in Chinese (see the module's docstring for the rule)."""
    counts = non_ascii(path, GB18030)
    if not counts:  # does not decode, or is plain ASCII (then it is UTF-8)
        return False
    common = sum(n for ch, n in counts.items() if in_gb2312(ch))
    return common >= CHINESE_SHARE * counts.total()


def detect(path: Path) -> str | None:
    """The codec to read ``path`` with, or None where it is none of those told apart here.
    Raises OSError when the file cannot be read."""
    bom = from_bom(path)
    if bom:
        return bom
    if non_ascii(path, "utf-8") is not None:
        return "utf-8"
    return GB18030 if reads_as_chinese(path) else None
