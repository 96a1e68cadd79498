"""`python -m textclf [overrides]`: train (entry point in textclf/__main__.py, which keeps --help
light). The run itself is textclf/training/trainer.py; this is the command around it: signals,
sweeps' failed jobs, the summary printed at the end.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from textclf.core.errors import TextclfError, debug_requested, exit_on_user_error
from textclf.inference.checkpoint import load_checkpoint
from textclf.reporting.report import write_json
from textclf.reporting.summary import run_summary
from textclf.training.distributed import Distributed
from textclf.training.signals import Interrupted, stop_on_signals
from textclf.training.stopping import monitored_metric
from textclf.training.trainer import train

log = logging.getLogger("textclf.train")


def stopped_message(stop: Interrupted, run_dir: Path) -> str:
    """Where an interrupted run stopped, and the way back in."""
    saved = sorted(run_dir.rglob("last.pt"), key=lambda path: path.stat().st_mtime)  # restart_<i>/ too
    last = saved[-1] if saved else None
    if last is None:
        return f"training stopped by {stop} before its first epoch ended; nothing to resume: run the command again."
    epoch = load_checkpoint(last)["epoch"]
    return (
        f"training stopped by {stop}; {last} holds epoch {epoch}. Resume with the same command and "
        f"trainer.resume=true hydra.run.dir={run_dir}"
    )


@exit_on_user_error
def command(cfg: DictConfig) -> float:
    """The body of `python -m textclf` (see textclf/__main__.py, which keeps --help light)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    dist = Distributed(bool(cfg.trainer.distributed), cfg.trainer.device)
    if not dist.is_main:  # the other ranks train silently; rank 0 logs and writes for all
        logging.getLogger("textclf").setLevel(logging.WARNING)
    try:
        with stop_on_signals():
            results = train(cfg, run_dir, dist)
        if not dist.is_main:
            return math.nan
        if hydra_cfg.mode == RunMode.RUN:
            print(run_summary(results, run_dir), end="", flush=True)
    except Interrupted as stop:
        log.error("%s", stopped_message(stop, run_dir))
        raise SystemExit(stop.exit_status) from None
    except TextclfError as err:
        if hydra_cfg.mode != RunMode.MULTIRUN or debug_requested():
            raise
        # In a sweep, one bad job must not stop the others: record why it failed and move on.
        log.error("job %s failed: %s", hydra_cfg.job.num, err)
        write_json(run_dir / "failed.json", {"error": str(err), "overrides": list(hydra_cfg.overrides.task)})
        return math.nan
    finally:
        dist.close()
    # As for best.pt: on multi-label data val_acc (the exact-set share) stands for val_micro_f1.
    metric = monitored_metric(cfg.optimized_metric, "val_micro_f1" in results)
    if metric not in results:
        raise TextclfError(f"optimized_metric={metric} is not in results; choose one of {sorted(results)}.")
    return results[metric]
