"""Serve a model over HTTP: `python -m textclf.serve ckpt_path=PATH [host=127.0.0.1] [port=8000]`.

FastAPI on uvicorn (`pip install -e '.[serve]'`); the API is in textclf/serving/app.py, the
micro-batching in textclf/serving/batcher.py, and docs/serving.md describes both. Answers are
`textclf.predict`'s records for the same input. SIGTERM (or Ctrl-C) stops accepting connections,
answers the requests in flight, and exits with status 0.
"""

from __future__ import annotations

import errno
import gc
import logging
import signal
import socket
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from textclf.core.config_rules import check_config
from textclf.core.errors import TextclfError, exit_on_user_error, first_line, hint_misspelt_keys
from textclf.core.guards import FolderLock, owns_run_folder

log = logging.getLogger("textclf.serve")


def require_serving() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise TextclfError(f"textclf.serve needs FastAPI and uvicorn ({first_line(err)}): pip install -e '.[serve]'") from None


def bound_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one message rather than uvicorn's exit."""
    try:
        family, kind, proto = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0][:3]
    except socket.gaierror as err:
        raise TextclfError(f"host={host} is not an address of this machine ({err.strerror}); use 127.0.0.1 (this machine only) or 0.0.0.0.") from None
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every response (headers and body written apart) waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRNOTAVAIL:
            raise TextclfError(f"host={host} is not an address of this machine ({err.strerror}); use 127.0.0.1 (this machine only) or 0.0.0.0.") from None
        raise TextclfError(f"cannot listen on {host}:{port} ({err.strerror}); another program may hold the port: pass port=N.") from None
    sock.set_inheritable(True)
    return sock


LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(host: str, given: list[str] | None) -> set[str] | None:
    """The Host header values the server answers (None: any). A server on this machine only answers
    its own names, so a web page whose name was rebound to 127.0.0.1 cannot reach it."""
    if given:
        return set(given)
    if host in ("0.0.0.0", "::"):
        log.warning("host=%s answers any Host header; name the ones to serve with allowed_hosts=[NAME,...]", host)
        return None
    return {host, *LOCAL_NAMES}


def exit_quietly(signum: int, frame) -> None:
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done; a server that
    # answered everything in flight has stopped as asked, which is success, not death by signal.
    log.info("stopped by signal %d after answering the requests in flight", signum)
    sys.exit(0)


def serve(cfg: DictConfig) -> None:
    check_config(cfg)
    require_serving()
    import torch
    import uvicorn

    from textclf.inference.classifier import Classifier
    from textclf.serving.app import Limits, create_app
    from textclf.serving.connections import guarded_protocol
    from textclf.serving.quiet_log import quiet_repeats

    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    # The port first: a taken one is refused at once, not after the model has loaded (seconds).
    sock = bound_socket(cfg.host, cfg.port)
    try:
        clf = Classifier.load(cfg.ckpt_path, cfg.device, runtime=cfg.runtime, batch_size=cfg.batch_size)
    except BaseException:
        sock.close()
        raise
    limits = Limits(cfg.max_texts, cfg.max_chars, cfg.top_k, cfg.batch_size, float(cfg.batch_wait_ms))
    if cfg.host not in LOCAL_NAMES:
        log.warning("host=%s: the server answers anyone who can reach this machine on port %d", cfg.host, cfg.port)
    app = create_app(clf, limits, hosts=allowed_hosts(cfg.host, cfg.allowed_hosts))
    config = uvicorn.Config(app, log_config=None, access_log=cfg.access_log, lifespan="on", timeout_graceful_shutdown=30,
                            http=guarded_protocol(float(cfg.read_timeout), cfg.max_connections))
    quiet_repeats()  # a flood of one failure is one log line a minute, with a count
    log.info("%s (%d labels) on http://%s:%d (docs at /docs)", clf.loaded.config.model.name, len(clf.labels), cfg.host, cfg.port)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, exit_quietly)
    # The model, torch and FastAPI are millions of long-lived objects; a full collection walking
    # them stalled every request in flight for ~0.4 s under load (the p99 at 64 clients). Frozen,
    # the collector only looks at what requests allocate.
    gc.freeze()
    uvicorn.Server(config).run(sockets=[sock])


@hint_misspelt_keys("serve")
@owns_run_folder("serve")
@hydra.main(config_path="pkg://textclf.conf", config_name="serve", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    with FolderLock(HydraConfig.get().runtime.output_dir, "serve"):  # its log is this server's
        serve(cfg)

