"""`python -m textclf.serve` as a real server process on a loopback port, talked to over HTTP."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from omegaconf import OmegaConf

from textclf.commands.predict import predict
from textclf.commands.serve import bound_socket, require_serving
from textclf.core.errors import TextclfError
from textclf.inference.classifier import Classifier
from textclf.serving.process import start_server

TEXTS = ["the film was superb and lovely", "a dull , boring plot", "", "very bright and fun cast", "très bien 😀"]
LIMITS = {"max_texts": 8, "max_chars": 200}


@pytest.fixture(scope="module")
def model(text_run) -> Path:
    return text_run[0] / "best.pt"  # the shared BiLSTM that learned the toy task (conftest.py)


def start(ckpt: Path, folder: Path, **settings) -> tuple[subprocess.Popen, str]:
    return start_server(ckpt, folder, settings, timeout=60, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    proc, url = start(model, tmp_path_factory.mktemp("serve_run"), **LIMITS)
    yield url
    stop(proc)


@pytest.mark.slow  # the server fixture starts a process
def test_answers_are_the_predict_commands(server, model, tmp_path):
    response = httpx.post(f"{server}/predict", json={"texts": TEXTS, "top_k": 2})
    assert response.status_code == 200, response.text
    served = response.json()["predictions"]
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    cfg = OmegaConf.create({"ckpt_path": str(model), "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.jsonl"),
                            "top_k": 2, "batch_size": 256, "device": "cpu"})
    predict(cfg, tmp_path)
    expected = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["label"], [t["label"] for t in r["top_k"]]) for r in served] == \
           [(r["text"], r["label"], [t["label"] for t in r["top_k"]]) for r in expected]
    for got, want in zip(served, expected):
        assert got["probability"] == pytest.approx(want["probability"], abs=2e-6)
    assert httpx.post(f"{server}/predict", json={"texts": ["fine"]}).json()["predictions"][0]["top_k"][0]["label"] in ("neg", "pos")


@pytest.mark.slow  # the server fixture starts a process
def test_health_labels_metadata_and_docs(server):
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server}/labels").json() == {"labels": ["neg", "pos"]}
    meta = httpx.get(f"{server}/metadata").json()
    assert meta["model"] == "bilstm" and meta["labels"] == ["neg", "pos"] and meta["textclf_version"]
    assert "val_acc" in meta["metrics"] and meta["limits"]["max_texts"] == 8 and "root" not in meta["data"]
    assert httpx.get(f"{server}/docs").status_code == 200
    assert "/predict" in httpx.get(f"{server}/openapi.json").json()["paths"]


@pytest.mark.slow  # the server fixture starts a process
@pytest.mark.parametrize(("body", "status", "message"), [
    (b'{"texts": ["a"', 400, "not valid JSON"),
    (b'["a text"]', 422, "must be a JSON object"),
    (b'{"text": ["a"]}', 422, "unknown field(s) 'text'"),
    (b'{"top_k": 2}', 422, "has no texts"),
    (b'{"texts": "a text"}', 422, "texts must be a list of strings, got a string"),
    (b'{"texts": []}', 422, "texts is empty"),
    (b'{"texts": ["a", 3]}', 422, "texts[1] must be a string, got a number"),
    (b'{"texts": ["a"], "top_k": "3"}', 422, "top_k must be a whole number >= 1"),
    (b'{"texts": ["a"], "top_k": 0}', 422, "top_k must be a whole number >= 1"),
    (json.dumps({"texts": ["a"] * 9}).encode(), 413, "9 texts in one request; this server takes at most 8 (max_texts)"),
    (json.dumps({"texts": ["ok", "x" * 201]}).encode(), 413, "texts[1] has 201 characters; this server takes at most 200"),
    (b'{"texts": ["' + b"x" * 200_000 + b'"]}', 413, "the request body is 200,015 bytes; this server takes at most 93,184"),
])
def test_bad_requests_get_a_clear_4xx(server, body, status, message):
    response = httpx.post(f"{server}/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status and message in response.json()["error"], response.text


@pytest.mark.slow  # the server fixture starts a process
def test_parallel_requests_are_all_answered_and_none_mixed_up(server, model):
    texts = [f"{'lovely superb' if i % 3 else 'dull awful boring'} film number {i}" for i in range(120)]
    expected = Classifier.load(model).predict(texts, top_k=2)
    with httpx.Client(limits=httpx.Limits(max_connections=32)) as client, ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda text: client.post(f"{server}/predict", json={"texts": [text], "top_k": 2}), texts))
    assert all(a.status_code == 200 for a in answers)
    records = [a.json()["predictions"] for a in answers]
    assert [r[0]["text"] for r in records] == texts and all(len(r) == 1 for r in records)
    for (record,), want in zip(records, expected):
        assert [t["label"] for t in record["top_k"]] == [label for label, _ in want]
        assert record["probability"] == pytest.approx(want[0][1], abs=2e-6)  # batched with others: same numbers


@pytest.mark.slow
def test_sigterm_answers_what_is_in_flight_and_exits_cleanly(model, tmp_path):
    proc, url = start(model, tmp_path / "run", batch_wait_ms=50)  # a wide window: requests are in flight at the signal
    with httpx.Client() as client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client.post, f"{url}/predict", json={"texts": [f"text {i}"]}) for i in range(8)]
        time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result().status_code)
            except httpx.TransportError:  # sent after the server closed its socket: refused, never half-answered
                outcomes.append("refused")
    assert proc.wait(timeout=30) == 0
    assert set(outcomes) <= {200, "refused"} and 200 in outcomes, outcomes
    assert "stopped by signal 15 after answering the requests in flight" in proc.stdout.read().decode()


def test_a_model_error_is_a_500_and_the_server_goes_on(model, monkeypatch):
    from fastapi.testclient import TestClient

    from textclf.serving.app import Limits, create_app

    clf = Classifier.load(model)
    real, calls = clf.example_proba, []

    def failing_once(examples):
        calls.append(len(examples))
        if len(calls) == 1:
            raise RuntimeError("shape mismatch in the LSTM")
        return real(examples)

    monkeypatch.setattr(clf, "example_proba", failing_once)
    with TestClient(create_app(clf, Limits())) as client:
        failed = client.post("/predict", json={"texts": ["a lovely film"]})
        assert failed.status_code == 500 and "the model failed on this request (RuntimeError: shape mismatch" in failed.json()["error"]
        assert client.post("/predict", json={"texts": ["a lovely film"]}).status_code == 200


def test_missing_server_packages_a_taken_port_and_a_foreign_host_are_one_message(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(TextclfError, match=r"cannot listen on 127.0.0.1:\d+ .*pass port=N"):
            bound_socket("127.0.0.1", taken.getsockname()[1])
    with pytest.raises(TextclfError, match=r"host=192.0.2.1 is not an address of this machine"):
        bound_socket("192.0.2.1", 8000)  # TEST-NET-1: a valid address that is no machine's here
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    with pytest.raises(TextclfError, match=r"pip install -e '\.\[serve\]'"):
        require_serving()


@pytest.mark.slow  # the server fixture starts a process
def test_the_page_needs_nothing_from_outside(server):
    response = httpx.get(f"{server}/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<textarea" in response.text and "<h1>bilstm</h1>" in response.text
    assert "http://" not in response.text and "https://" not in response.text and "//cdn" not in response.text  # no CDN, no external file


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)")
@pytest.mark.slow
def test_the_page_shows_the_labels_with_bars_in_a_browser(server, tmp_path):
    text = "the film was superb and lovely"
    expected = httpx.post(f"{server}/predict", json={"texts": [text], "top_k": 2}).json()["predictions"][0]["top_k"]
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}", "--virtual-time-budget=10000",
         "--dump-dom", f"{server}/?text={text.replace(' ', '+')}"],
        capture_output=True, text=True, timeout=90,
    )
    dom = result.stdout
    names = re.findall(r'<span class="name">([^<]*)</span>', dom)
    widths = [float(w) for w in re.findall(r'class="bar" style="width: ([\d.]+)%;"', dom)]
    assert names == [t["label"] for t in expected], dom[-2000:]
    assert widths == pytest.approx([100 * t["probability"] for t in expected], abs=0.06)


def test_a_taken_port_is_refused_before_the_model_is_loaded(tmp_path):
    from hydra import compose, initialize_config_module

    from textclf.commands.serve import serve

    with initialize_config_module("textclf.conf", version_base="1.3"):
        base = compose("serve", overrides=[f"ckpt_path={tmp_path / 'no_such_run'}"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = OmegaConf.merge(base, {"host": "127.0.0.1", "port": taken.getsockname()[1]})
        # The checkpoint does not exist either: the port's message comes first, so nothing was loaded.
        with pytest.raises(TextclfError, match=r"cannot listen on 127.0.0.1:\d+"):
            serve(cfg)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(TextclfError, match="no_such_run"):  # a free port: then the checkpoint's own message
        serve(OmegaConf.merge(base, {"host": "127.0.0.1", "port": port}))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # and the port it bound was let go
