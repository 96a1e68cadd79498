"""What did the model look at? `python -m textclf.explain ckpt_path=PATH [indices=[0,5]] [group=qa2] [count=3]`.

* A memory network (MemN2N): its attention over the story sentences at each hop (Sukhbaatar et
  al. 2015, Fig. 2), sentences down the side, hops across, supporting facts marked with '*';
  all examples together in ``attention.txt``.
* A flat encoder (TextRNN, BiLSTM, TextRCNN, TextCNN, fastText): one weight per word
  (textclf/models/salience.py: the attention weights for ``pooling=attention``, the share of the
  max-pooled features each word supplies for max pooling, occlusion otherwise, and always with the
  n-gram branch), as a heat strip over the words and as text; all
  examples together in ``salience.txt``.

Each example gets ``example_<index>.png`` and ``example_<index>.txt`` in the run folder. Which
examples: ``indices``, else the first ``count`` of ``group``, else the ``count`` the model gets
wrong with the highest confidence.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from textclf.core.atomic import atomic_write
from textclf.core.config_rules import check_config
from textclf.core.errors import TextclfError, exit_on_user_error, hint_misspelt_keys
from textclf.core.guards import FolderLock, owns_run_folder, refuse_overwriting_inputs
from textclf.data.example import Example, label_text
from textclf.data.pipeline import build_source, load_source
from textclf.inference.explanation import hop_attention, mistakes_first, word_salience, wrong_rows
from textclf.inference.loader import LoadedModel, data_config, load_model
from textclf.inference.predictor import model_predictor
from textclf.reporting.hop_table import attention_plot, attention_text
from textclf.reporting.salience_strip import heat_strip, salience_text

log = logging.getLogger("textclf.explain")


def choose(loaded: LoadedModel, examples: list[Example], cfg: DictConfig) -> list[int]:
    """Positions in the split to explain: ``indices``, else the first ``count`` of ``group``, else
    the model's ``count`` most confident mistakes."""
    last = len(examples) - 1
    if cfg.indices is not None:
        chosen = [int(i) for i in cfg.indices]
        bad = [i for i in chosen if not 0 <= i <= last]
        if bad:
            raise TextclfError(
                f"indices {bad} are outside the {cfg.split} split (0..{last}). Give positions from 0 to {last}, "
                "or leave indices out to see the model's most confident mistakes."
            )
        return chosen
    if cfg.group is not None:
        pool = [i for i, ex in enumerate(examples) if ex.group == cfg.group]
        if not pool:
            groups = sorted({ex.group for ex in examples if ex.group})
            raise TextclfError(
                f"no examples in group {cfg.group!r} in the {cfg.split} split; its groups: {', '.join(groups) or 'none'}. "
                + ("Pick one of them, or leave group out." if groups else "Leave group out (only bAbI-style data has groups).")
            )
        return pool[: cfg.count]
    encoded = loaded.encoding.encode(examples, cfg.split, groups=[])
    prob = model_predictor(loaded, 128).proba(encoded)
    gold = encoded.labels.numpy()
    wrong = int(wrong_rows(prob, gold, loaded.task).sum())
    then = "the most confident of them" if wrong >= cfg.count else "them, then the right ones the model was least sure of"
    log.info("%d of %d %s examples predicted wrong: explaining %s", wrong, len(examples), cfg.split, then)
    return mistakes_first(prob, gold, loaded.task)[: cfg.count]


def hop_tables(loaded: LoadedModel, picked: list[Example], names: list[str], out: Path) -> list[str]:
    texts = []
    for ex, name, hops in zip(picked, names, hop_attention(loaded, picked)):
        text = attention_text(ex, hops.attention, label_text(ex.label), hops.predicted, hops.probability, hops.empty)
        write_text(out / f"{name}.txt", text + "\n")
        title = f"{ex.text}  gold: {label_text(ex.label)}  predicted: {hops.predicted}"
        attention_plot(ex, hops.attention, title, out / f"{name}.png", hops.empty)
        texts.append(text)
    return texts


def salience_strips(loaded: LoadedModel, picked: list[Example], names: list[str], out: Path) -> list[str]:
    texts = []
    for ex, name, found in zip(picked, names, word_salience(loaded, picked)):
        outcome = f"gold: {label_text(ex.label)} | predicted: {found.predicted} ({found.probability:.2f})"
        text = salience_text(found.words, found.weights, found.method, found.signed, [f"text: {ex.text}", outcome])
        write_text(out / f"{name}.txt", text + "\n")
        shown = ex.text if len(ex.text) <= 100 else ex.text[:97] + "..."
        heat_strip(found.words, found.weights, found.method, f"{shown}\n{outcome}", out / f"{name}.png", found.signed)
        texts.append(text)
    return texts


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def explain(cfg: DictConfig, out_dir: str | Path) -> list[Path]:
    """Write the explanations of the chosen examples into ``out_dir``; returns the PNGs written."""
    check_config(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_model(cfg.ckpt_path, cfg.device)
    source = build_source(data_config(loaded.config, cfg.get("data")), loaded.encoding.multi_label)
    examples = load_source(source).split(cfg.split)
    memory = loaded.encoding.memory is not None
    summary = out / ("attention.txt" if memory else "salience.txt")
    chosen = choose(loaded, examples, cfg)
    names = [f"example_{i}" for i in chosen]
    outputs = [summary] + [out / f"{name}.{ext}" for name in names for ext in ("txt", "png")]
    refuse_overwriting_inputs(outputs, [loaded.path, *source.files()], "Explain into another folder (hydra.run.dir=DIR).")
    picked = [examples[i] for i in chosen]
    texts = (hop_tables if memory else salience_strips)(loaded, picked, names, out)
    sections = [f"## {cfg.split} example {i} ({ex.group or 'no group'})\n{text}\n" for i, ex, text in zip(chosen, picked, texts)]
    write_text(summary, "\n".join(sections))
    print("\n".join(sections))
    log.info("explanations of %d examples in %s", len(chosen), out)
    return [out / f"{name}.png" for name in names]


@hint_misspelt_keys("explain")
@owns_run_folder("explain")
@hydra.main(config_path="pkg://textclf.conf", config_name="explain", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with FolderLock(out_dir, "explain"):
        explain(cfg, out_dir)

