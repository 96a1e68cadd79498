"""A run folder that Hydra may write and nobody keeps: for a command whose whole answer is on
standard output (`textclf.predict output=-`, `text="..."`) and for DDP ranks other than 0.

Hydra creates its run folder (``.hydra/``, the job's log) before the command runs, so the only way
to leave nothing behind is to point it elsewhere before it starts: a temporary folder, removed
when the process exits. A user's own ``hydra.run.dir=`` is then replaced, since nothing of the
run is meant to stay.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile


def scratch_run_folder(argv: list[str], prefix: str) -> list[str]:
    """``argv`` with Hydra's run folder moved to a temporary one (removed at exit) and no ``.hydra/``."""
    scratch = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    kept = [arg for arg in argv if not arg.startswith(("hydra.run.dir=", "hydra.output_subdir="))]
    return [*kept, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
