"""The linear baseline every training run is set beside: TF-IDF + logistic regression.

What a practitioner would fit in seconds before reaching for a recurrent model (Wang & Manning
2012 show how strong it is on sentences), fitted on the same splits as the model and scored the
same way, so the report says what the model is worth:

    x = tf-idf(word 1-2-grams)       (character 1-3-grams for Chinese, tokenizer.cjk_chars=true)
    p(y | x) = softmax(W x + b)      (one sigmoid per label for multi-label data)

with tf = 1 + log(count) (sublinear), idf and L2 row norms fitted on train. The inverse
regularisation strength C is chosen on validation from ``baseline.strengths``; test is only scored.
Stories (bAbI) are a bag of n-grams over their sentences and question: no order, so no model of
which fact came last, which is the point of comparing a memory network with it.

Why saga: it fits the multinomial model directly on sparse rows in time linear in the data
(liblinear's binary-only solver, or lbfgs, took 4-30 times longer on SST-5 and TREC; docs/design.md),
and each C starts from the last one's solution.
Above ``baseline.max_train_rows`` the fit uses a seeded sample of that many training rows and says
so: the baseline must stay seconds beside a model that trains for minutes.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from textclf.data.example import Example
from textclf.data.pipeline import PreparedData
from textclf.models.task import Task
from textclf.reporting.metrics import summarize

log = logging.getLogger(__name__)

NAME = "tf-idf + logistic regression"


def baseline_text(example: Example) -> str:
    """The words the baseline reads: the text, after the story's sentences if it has any."""
    return " ".join((*example.context, example.text))


def vectorizer(chars: bool, lowercase: bool) -> TfidfVectorizer:
    if chars:  # Chinese has no spaces: characters and their short runs stand in for words
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=lowercase, dtype=np.float32)
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=lowercase, dtype=np.float32)


def classifier(strength: float, multi_label: bool, balanced: bool, max_iter: int):
    """Logistic regression at C = ``strength``. Warm-started: refitted at the next C it starts from
    the last solution, which halves the time of the whole sweep (OneVsRest clones it per label, so
    multi-label fits start cold)."""
    model = LogisticRegression(
        C=strength, solver="saga", max_iter=max_iter, tol=1e-3, class_weight="balanced" if balanced else None,
        random_state=0, warm_start=True,
    )
    return OneVsRestClassifier(model) if multi_label else model


def full_probabilities(model, x, classes: int, multi_label: bool) -> np.ndarray:
    """[N, classes] probabilities: a class that train never has gets probability 0 (its column is
    missing from scikit-learn's output), so columns line up with the encoding's labels."""
    prob = np.asarray(model.predict_proba(x), dtype=np.float32)
    if multi_label:
        return prob
    full = np.zeros((prob.shape[0], classes), dtype=np.float32)
    full[:, model.classes_] = prob
    return full


def training_rows(count: int, limit: int, seed: int) -> np.ndarray | None:
    """The training rows to fit on: all (None), or a seeded sample of ``limit`` above it."""
    if count <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def scalar_metrics(prefix: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` under ``prefix``, numbers only (the per-task table stays the model's)."""
    return {f"{prefix}{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def baseline_results(cfg: DictConfig, data: PreparedData) -> dict[str, Any]:
    """The run's baseline entries as configured (``baseline=none``: none), logged on one line."""
    if cfg.baseline.kind == "none":
        log.info("baseline: none (baseline=none)")
        return {}
    balanced = cfg.task.class_weights == "balanced" or cfg.task.sampler == "balanced"
    results = fit_baseline(
        data, cfg.baseline, chars=bool(cfg.tokenizer.cjk_chars), lowercase=bool(cfg.tokenizer.lowercase), balanced=balanced, seed=cfg.seed,
    )
    key = "micro_f1" if data.encoding.multi_label else "acc"
    log.info(
        "baseline: %s, C=%g chosen on validation | val %s %.4f | test %s %.4f | %.1fs",
        NAME, results["baseline_C"], key, results[f"baseline_val_{key}"], key, results[f"baseline_test_{key}"], results["baseline_seconds"],
    )
    return results


def fit_baseline(data: PreparedData, settings: DictConfig, *, chars: bool, lowercase: bool, balanced: bool, seed: int) -> dict[str, Any]:
    """Fit on train, choose C on validation, score validation and test. Returns results.json's
    ``baseline*`` entries: ``baseline`` (its name), ``baseline_C``, ``baseline_seconds``,
    ``baseline_train_rows`` and ``baseline_val_*`` / ``baseline_test_*`` for the model's metrics."""
    started = time.perf_counter()
    task = Task(data.encoding.multi_label)
    splits = {name: [baseline_text(ex) for ex in data.splits.split(name)] for name in ("train", "val", "test")}
    gold = {name: data.encoded[name].labels.numpy() for name in ("train", "val", "test")}
    weights = data.encoded["train"].weights  # data.weight_column: the fit weighs rows as the model's loss does
    weights = None if weights is None else weights.numpy()
    rows = training_rows(len(splits["train"]), int(settings.max_train_rows), seed)
    # A streamed table's splits.train is already a sample of its rows (data/streaming.py).
    if rows is not None or len(splits["train"]) < data.train_rows:
        log.info("baseline: fitted on a sample of %d of %d training rows (baseline.max_train_rows)",
                 len(splits["train"]) if rows is None else len(rows), data.train_rows)
    if rows is not None:
        splits["train"] = [splits["train"][i] for i in rows]
        gold["train"] = gold["train"][rows]
        weights = None if weights is None else weights[rows]
    vec = vectorizer(chars, lowercase)
    x = {"train": vec.fit_transform(splits["train"])}
    x.update({name: vec.transform(splits[name]) for name in ("val", "test")})
    fit = Fit(x, gold, {"sample_weight": weights} if weights is not None and not task.multi_label else {})
    model, strength, val_metrics = choose_strength(fit, data, task, settings, balanced)
    test_prob = full_probabilities(model, x["test"], len(data.labels), task.multi_label)
    test_metrics = summary(test_prob, gold["test"], data, "test", task)
    seconds = round(time.perf_counter() - started, 2)
    return {
        "baseline": NAME, "baseline_C": strength, "baseline_seconds": seconds, "baseline_train_rows": x["train"].shape[0],
        **scalar_metrics("baseline_val_", val_metrics), **scalar_metrics("baseline_test_", test_metrics),
    }


@dataclass(frozen=True)
class Fit:
    """What the baseline is fitted and chosen on: each split's features and gold labels, and the
    arguments of the fit beyond them: the training rows' weights (data.weight_column), which a
    multi-label one-vs-rest fit does not take (scikit-learn passes them on only with metadata
    routing turned on)."""

    x: dict
    gold: dict
    fit_args: dict


def choose_strength(fit: Fit, data: PreparedData, task: Task, settings: DictConfig, balanced: bool):
    """(model, C, validation metrics) of the C with the best validation accuracy (multi-label:
    micro-F1, as best.pt is chosen); the first of equals, so the strongest regulariser wins ties."""
    x, gold = fit.x, fit.gold
    key = "micro_f1" if task.multi_label else "acc"
    best = None
    model = classifier(1.0, task.multi_label, balanced, int(settings.max_iter))
    for strength in sorted(float(c) for c in settings.strengths):  # strongest first: warm starts get easier
        model.set_params(**{"estimator__C" if task.multi_label else "C": strength})
        with warnings.catch_warnings():
            # saga stops at max_iter before its tolerance on some C: the score on validation is
            # what decides, and a warning per C would bury the training log.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x["train"], gold["train"], **fit.fit_args)
        metrics = summary(full_probabilities(model, x["val"], len(data.labels), task.multi_label), gold["val"], data, "val", task)
        if best is None or metrics[key] > best[2][key]:
            best = (copy.deepcopy(model), strength, metrics)  # a copy: the next C refits this one
    return best


def summary(prob: np.ndarray, gold: np.ndarray, data: PreparedData, split: str, task: Task) -> dict[str, Any]:
    group, weights = data.encoded[split].group, data.encoded[split].weights
    return summarize(prob, gold, None if group is None else group.numpy(), data.groups, task, None if weights is None else weights.numpy())
