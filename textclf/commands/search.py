"""`python -m textclf hparams_search=NAME [overrides]`: a hyperparameter search (textclf/__main__.py
sends a command line that names a search here). The study is textclf/experiments/search.py; this is
the command around it: the log on the screen and in the study's folder, signals, the one message.
"""

from __future__ import annotations

import logging
import sys

from textclf.core.errors import TextclfError, exit_on_user_error
from textclf.experiments.search import run_search
from textclf.training.signals import Interrupted, stop_on_signals

log = logging.getLogger("textclf.search")


@exit_on_user_error
def main(overrides: list[str]) -> None:
    sweeper = [item for item in overrides if item.startswith("hydra.sweeper.")]
    if sweeper:  # the settings of Hydra's Optuna sweeper, which searches no longer go through
        key = sweeper[0].split("=", 1)[0]
        raise TextclfError(f"{key} is a setting of Hydra's Optuna sweeper; textclf runs searches itself: set "
                           f"search.{key.rsplit('.', 1)[-1]} instead (conf/search/optuna.yaml lists them).")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", stream=sys.stderr)
    try:
        with stop_on_signals():
            print(run_search(overrides), end="", flush=True)
    except Interrupted as stop:
        log.error("search stopped by %s: run the same command again to continue the study where it stopped.", stop)
        raise SystemExit(stop.exit_status) from None
