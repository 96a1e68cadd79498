"""A search space written as Hydra's sweep syntax, read into Optuna distributions.

``conf/hparams_search/*.yaml`` lists the settings to search under ``search.params``, one per key,
in the syntax Hydra's sweepers use: ``choice(64, 128)``, ``interval(0.1, 0.5)``, ``range(1, 4)``,
``tag(log, interval(1e-4, 1e-2))``; a plain value fixes the setting for every trial. Hydra's own
parser reads them, so the files keep working with ``python -m textclf -m`` grids too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from textclf.core.errors import TextclfError


@dataclass(frozen=True)
class SearchSpace:
    """What Optuna chooses (``distributions``, by dotted key) and what every trial fixes (``fixed``)."""

    distributions: dict[str, BaseDistribution]
    fixed: dict[str, Any]

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> SearchSpace:
        parser = OverridesParser.create()
        distributions, fixed = {}, {}
        for key, spec in params.items():
            try:
                value = parser.parse_override(f"{key}={spec}").value()
            except Exception as err:  # Hydra's grammar errors share no useful base class
                raise TextclfError(f"search.params.{key}: cannot read {spec!r} ({err}). Write choice(a, b), "
                                   "interval(low, high), range(start, stop) or tag(log, interval(low, high)).") from None
            distribution = to_distribution(key, value)
            if distribution is None:
                fixed[key] = value
            else:
                distributions[key] = distribution
        if not distributions:
            raise TextclfError("search.params gives no setting to search: give at least one as choice(...), interval(...) or range(...).")
        return cls(distributions, fixed)

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's command-line overrides: the fixed settings, then the chosen ones."""
        return [f"{key}={as_override(value)}" for key, value in {**self.fixed, **params}.items()]


def to_distribution(key: str, value: Any) -> BaseDistribution | None:
    """The Optuna distribution of one parsed sweep value; None for a plain value."""
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        return IntDistribution(int(value.start), int(value.stop) - int(value.step or 1), step=int(value.step or 1))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if log and value.start <= 0:
            raise TextclfError(f"search.params.{key}: a log interval needs a low end > 0, got {value.start}.")
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    return None


def as_override(value: Any) -> str:
    """A value as Hydra's override grammar reads it back: numbers and booleans as written, text quoted
    when it holds a character the grammar gives a meaning to."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    return repr(text) if any(ch in text for ch in " ,=()[]{}'\":") else text
