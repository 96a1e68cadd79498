"""`python -m textclf [overrides]`: train (textclf/commands/train.py does the work).

Only Hydra is imported here: torch, scikit-learn and the rest load when a run starts, so
`python -m textclf --help` and config errors answer in a fraction of a second.
"""

import os
import sys

import hydra
from omegaconf import DictConfig

from textclf.core.errors import hint_misspelt_keys  # light: no torch
from textclf.core.guards import owns_run_folder  # light: filelock and omegaconf
from textclf.core.scratch import scratch_run_folder


@hint_misspelt_keys("train")
@owns_run_folder("train")
@hydra.main(config_path="pkg://textclf.conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from textclf.commands.train import command

    return command(cfg)


def route_secondary_ranks(argv: list[str]) -> list[str]:
    """Under torchrun, give ranks other than 0 a scratch run folder of their own.

    Every rank runs this same command, and Hydra would name each run folder after the second it
    started in: ranks starting a second apart would split one run over two folders. Rank 0 writes
    everything (checkpoints, logs, reports); the others only need somewhere harmless for Hydra's
    own files, removed when they exit.
    """
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        return argv
    if "-m" in argv or "--multirun" in argv:
        print("textclf: error: torchrun runs one training job; start sweeps (-m) without torchrun.", file=sys.stderr)
        raise SystemExit(2)
    return scratch_run_folder(argv, f"textclf-rank{rank}-")


def searched(argv: list[str]) -> bool:
    """Whether the command line asks for a hyperparameter search (hparams_search=NAME)."""
    return any(arg.startswith("hparams_search=") and arg not in ("hparams_search=null", "hparams_search=none") for arg in argv)


def cli() -> None:
    """The `textclf` console script and `python -m textclf`: a training run, a Hydra sweep (-m), or
    with hparams_search=NAME a search that textclf drives itself (textclf/commands/search.py)."""
    if searched(sys.argv[1:]) and "--help" not in sys.argv and "-h" not in sys.argv:
        from textclf.commands.search import main as search

        search([arg for arg in sys.argv[1:] if arg not in ("-m", "--multirun")])  # a search runs many jobs anyway
        return
    sys.argv = route_secondary_ranks(sys.argv)
    main()


if __name__ == "__main__":
    cli()
