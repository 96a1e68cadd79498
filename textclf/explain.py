"""Where does the memory network look? `python -m textclf.explain ckpt_path=PATH [group=qa2] [count=3]`.

For each chosen example, the attention p_i over the story sentences at each hop (Sukhbaatar et al.
2015, Fig. 2 / Table 1 of the paper's appendix): sentences down the side, hops across, supporting
facts marked with '*'. Written as ``example_<index>.png`` and ``example_<index>.txt`` in the run
folder, plus ``attention.txt`` with all examples together.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from textclf.core.atomic import atomic_write
from textclf.core.config_rules import check_config
from textclf.core.errors import TextclfError, exit_on_user_error, hint_misspelt_keys
from textclf.core.guards import refuse_overwriting_inputs
from textclf.data.batching import BatchIterator
from textclf.data.example import Example, label_text
from textclf.data.pipeline import build_source, load_source
from textclf.loading.loader import data_config, load_model

log = logging.getLogger("textclf.explain")


def choose(examples: list[Example], indices, group: str | None, count: int) -> list[int]:
    if indices is not None:
        chosen = [int(i) for i in indices]
        bad = [i for i in chosen if not 0 <= i < len(examples)]
        if bad:
            raise TextclfError(f"indices {bad} are outside the split (0..{len(examples) - 1}).")
        return chosen
    pool = [i for i, ex in enumerate(examples) if group is None or ex.group == group]
    if not pool:
        groups = sorted({ex.group for ex in examples if ex.group})
        raise TextclfError(f"no examples in group {group!r}; groups in this split: {', '.join(groups) or 'none'}.")
    return pool[:count]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)


def data_files(root: str) -> list[Path]:
    """The files a dataset's folder holds (what the reader may read), for the output guard."""
    folder = Path(root).expanduser()
    return [path for path in folder.iterdir() if path.is_file()] if folder.is_dir() else []


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def explain(cfg: DictConfig, out_dir: str | Path) -> list[Path]:
    check_config(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_model(cfg.ckpt_path, cfg.device)
    model, train_cfg = loaded.model, loaded.config
    if loaded.encoding.memory is None:
        raise TextclfError(
            f"{cfg.ckpt_path} is a {train_cfg.model.name} model; explain draws the attention of memory networks "
            "(model=memn2n). Flat encoders have no attention over sentences to show."
        )
    source = build_source(data_config(train_cfg, cfg.get("data")))
    examples = load_source(source).split(cfg.split)
    chosen = choose(examples, cfg.indices, cfg.group, cfg.count)
    outputs = [out / "attention.txt"] + [out / f"example_{i}.{ext}" for i in chosen for ext in ("txt", "png")]
    refuse_overwriting_inputs(outputs, [loaded.path, *data_files(source.root)], "Explain into another folder (hydra.run.dir=DIR).")
    picked = [examples[i] for i in chosen]
    labels = loaded.labels
    encoded = loaded.encoding.encode(picked, cfg.split, groups=[])
    batch = next(iter(BatchIterator(encoded, batch_size=len(picked))))
    order = batch.index.tolist()  # evaluation batches are length-sorted
    task = loaded.task
    with torch.inference_mode():
        features, attention = model.encoder(batch, model.embedding, return_attention=True)
        probs = task.probabilities(model.head(features))
    predictions = task.names(task.decide(probs.numpy()), labels)
    # The rest of each hop's softmax went to the empty slots (not a distribution under linear start).
    attends_empty_slots = model.encoder.attend_empty_slots and not model.encoder.linear_start
    written, texts = [], []
    for row, position in enumerate(order):
        ex, index = picked[position], chosen[position]
        kept = int(batch.memory_lengths[row].clamp(max=attention.shape[-1]))
        p = attention[row, :, :kept].numpy()
        empty = 1.0 - attention[row].sum(dim=-1).numpy() if attends_empty_slots else None
        predicted = predictions[row]
        text = attention_text(ex, p, label_text(ex.label), predicted, float(probs[row].max()), empty)
        texts.append(f"## {cfg.split} example {index} ({ex.group or 'no group'})\n{text}\n")
        write_text(out / f"example_{index}.txt", text + "\n")
        title = f"{ex.text}  gold: {label_text(ex.label)}  predicted: {predicted}"
        attention_plot(ex, p, title, out / f"example_{index}.png", empty)
        written.append(out / f"example_{index}.png")
    write_text(out / "attention.txt", "\n".join(texts))
    print("\n".join(texts))
    log.info("attention plots for %d examples in %s", len(written), out)
    return written


@hint_misspelt_keys("explain")
@hydra.main(config_path="pkg://textclf.conf", config_name="explain", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    explain(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
