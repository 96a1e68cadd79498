"""How well data.charset=auto tells short files apart, beside charset-normalizer (if installed).

    python benchmarks/encoding_detection.py [--files 200]

Writes ``--files`` small CSV files (1 to 5 rows, the size of a hand-made test split) of each kind
into a temporary folder: generated Chinese sentences in GBK, and Western European sentences with
accented letters in Latin-1, and traditional Chinese in GB18030 (which GB2312, the rule's test of
"reads as Chinese", covers only in part). Prints, for each kind and each detector, how many files it read as
GB18030 (right for the Chinese, wrong for Latin-1). textclf's rule (textclf/data/charsets.py)
refuses what it cannot tell rather than guessing, which for Latin-1 is the right answer; for
charset-normalizer, restricted to GB18030 (``cp_isolation``), "read as GB18030" means it returned
a match.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from textclf.data.charsets import GB18030, detect

ZH = ["球队", "比赛", "进球", "冠军", "股票", "银行", "利率", "市场", "手机", "芯片", "电脑", "网络", "今天", "我们",
      "看到", "新闻", "报道", "了", "的", "，", "。", "“", "”", "2024年", "NBA"]
HANT = ["這部", "電影", "很好看", "演員", "表現", "出色", "劇情", "無聊", "臺灣", "天氣", "香港", "國際", "資訊", "傳播", "網絡",
        "發展", "，", "。"]
LATIN = ("Ça va bien. Der Müller aß Straße Frühstück Grüße Köln. São Paulo é ótimo. Él está aquí. Ærø Søby Åse "
         "naïve café résumé Zürich Genève Málaga Bogotá Düsseldorf Français École Ñandú Crème brûlée Öl Übung").split()


def rows(rng: random.Random, words: list[str], joiner: str) -> str:
    lines = [joiner.join(rng.choices(words, k=rng.randint(2, 12))) + f",{rng.randrange(3)}" for _ in range(rng.randint(1, 5))]
    return "text,label\n" + "\n".join(lines) + "\n"


def charset_normalizer_says_gb18030(data: bytes) -> bool | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return None
    return from_bytes(data, cp_isolation=[GB18030]).best() is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--example", default="Ça va bien,1", help="also say how each detector reads this one row in Latin-1")
    args = parser.parse_args()
    kinds = {"GBK Chinese": (ZH, "", "gbk"), "traditional Chinese in GB18030": (HANT, "", GB18030), "Latin-1": (LATIN, " ", "latin-1")}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (kind, (words, joiner, codec)) in enumerate(kinds.items()):
            rng = random.Random(seed)  # each kind its own files, whatever the others are
            ours = theirs = 0
            for i in range(args.files):
                data = rows(rng, words, joiner).encode(codec)
                path = Path(tmp) / f"{codec}_{i}.csv"
                path.write_bytes(data)
                ours += detect(path) == GB18030
                theirs += bool(charset_normalizer_says_gb18030(data))
            other = "(not installed)" if charset_normalizer_says_gb18030(b"") is None else f"{theirs}/{args.files}"
            print(f"{kind:>32}: read as GB18030 by data.charset=auto {ours}/{args.files}, by charset-normalizer {other}")
        one_row(args.example, Path(tmp))


def one_row(text: str, folder: Path) -> None:
    path = folder / "example.csv"
    path.write_bytes(f"text,label\n{text}\n".encode("latin-1"))
    print(f"{text!r} in Latin-1: data.charset=auto reads it as {detect(path)}, charset-normalizer as GB18030: "
          f"{charset_normalizer_says_gb18030(path.read_bytes())}")


if __name__ == "__main__":
    main()
