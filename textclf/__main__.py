"""`python -m textclf [overrides]`: train (textclf/train.py does the work).

Only Hydra is imported here: torch, scikit-learn and the rest load when a run starts, so
`python -m textclf --help` and config errors answer in a fraction of a second.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="pkg://textclf.conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from textclf.train import run

    return run(cfg)


if __name__ == "__main__":
    main()
