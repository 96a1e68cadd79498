"""Start `python -m textclf.serve` as a child process on a free loopback port and wait until it
answers /health: what the server tests and benchmarks/serve_load.py both need."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(ckpt: str | Path, run_dir: str | Path, settings: dict[str, Any], timeout: float = 120, **popen: Any) -> tuple[subprocess.Popen, str]:
    """The server process and its URL, once /health answers; ``settings`` are serve.yaml keys,
    ``popen`` goes to `subprocess.Popen` (e.g. stdout=PIPE). One thread unless ``num_threads`` says."""
    port = free_port()
    settings = {"num_threads": 1, **settings}
    args = [f"ckpt_path={ckpt}", f"port={port}", f"hydra.run.dir={run_dir}", *(f"{key}={value}" for key, value in settings.items())]
    env = {**os.environ, "OMP_NUM_THREADS": str(settings["num_threads"])}
    proc = subprocess.Popen([sys.executable, "-m", "textclf.serve", *args], env=env, **popen)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace")[-2000:] if proc.stdout else "(see above)"
            raise RuntimeError(f"the server exited with status {proc.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return proc, url
        except OSError:  # not listening yet
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server did not answer /health within {timeout:.0f} s")
