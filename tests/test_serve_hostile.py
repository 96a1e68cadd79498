"""The server under careless and hostile clients: a real `python -m textclf.serve` process on a
loopback port, raw sockets for the clients that stall, httpx for the rest (docs/bad_inputs.md)."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from textclf.training.trainer import train

from conftest import compose_train
from test_serve import start, stop

pytestmark = pytest.mark.slow  # every test here starts a server process


@pytest.fixture(scope="module")
def model(tmp_path_factory, table_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("hostile_model")
    train(compose_train(["data=table", f"data.root={table_dir}", "embedding.dim=8", "model=fasttext", "trainer.max_epochs=2",
                         "trainer.progress=false", "trainer.tensorboard=false"]), run_dir)
    return run_dir / "best.pt"


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    proc, url = start(model, tmp_path_factory.mktemp("hostile_run"), max_texts=4, max_chars=50)
    yield url
    stop(proc)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def stalled(url: str, sent: bytes) -> socket.socket:
    sock = socket.create_connection(address(url), timeout=10)
    sock.sendall(sent)
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


HALF_HEADERS = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"
HALF_BODY = b'POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"texts": ["a fi'


def test_stalled_clients_get_408_and_the_others_are_answered_meanwhile(model, tmp_path):
    run = tmp_path / "run"
    proc, url = start(model, run, read_timeout=2)
    try:
        socks = [stalled(url, HALF_HEADERS if i % 2 else HALF_BODY) for i in range(200)]
        started = time.monotonic()
        with httpx.Client(base_url=url) as client:  # served while 200 clients stall
            codes = [client.post("/predict", json={"texts": ["a fine film"]}).status_code for _ in range(20)]
        assert codes == [200] * 20
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(answer_of, socks))
        waited = time.monotonic() - started
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and "read_timeout" in json.loads(body)["error"]
        assert waited < 15  # cut off at the deadline, not left open (a generous bound: loaded CI machines)
    finally:
        stop(proc)
    log = (run / "serve.log").read_text()
    assert log.count("cut off a client") == 1  # 200 events, one line: repeats are folded, then counted


def test_connections_beyond_the_cap_get_503(model, tmp_path):
    proc, url = start(model, tmp_path / "run", max_connections=20, read_timeout=30)
    try:
        held = [stalled(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(20)]
        time.sleep(0.5)
        head, _, body = answer_of(stalled(url, b"")).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and "max_connections" not in body.decode() and "limit" in json.loads(body)["error"]
        for sock in held:
            sock.close()
        time.sleep(0.5)
        assert httpx.get(f"{url}/health").status_code == 200  # freed: answered again
    finally:
        stop(proc)


def test_one_bad_text_fails_only_its_own_request(server):
    bad = b'{"texts": ["fine", "\\ud800 a lone surrogate"]}'
    with httpx.Client(base_url=server) as client, ThreadPoolExecutor(8) as pool:
        def send(i: int) -> httpx.Response:
            if i % 4 == 0:
                return client.post("/predict", content=bad, headers={"content-type": "application/json"})
            return client.post("/predict", json={"texts": [f"a fine film {i}"]})

        responses = list(pool.map(send, range(32)))
    for i, response in enumerate(responses):
        if i % 4 == 0:
            assert response.status_code == 422 and "texts[1]" in response.json()["error"]
        else:
            assert response.status_code == 200, response.text


def test_every_error_is_a_json_error(server):
    nested = b'{"texts": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"  # within max_body, past any parser's depth
    cases = [
        httpx.post(f"{server}/predict", content=nested, headers={"content-type": "application/json"}),
        httpx.get(f"{server}/no-such-page"),
        httpx.get(f"{server}/predict"),  # wrong method
        httpx.put(f"{server}/health"),
    ]
    assert [r.status_code for r in cases] == [400, 404, 405, 405]
    for response in cases:
        assert response.headers["content-type"].startswith("application/json") and response.json()["error"]


def test_size_limits_count_characters_not_escaped_bytes(server):
    texts = ["😀" * 50] * 4  # max_texts texts of max_chars characters: 12 bytes each when escaped
    body = json.dumps({"texts": texts}).encode()  # ensure_ascii: \ud83d\ude00 per character
    assert len(body) > 4 * 50 * 12
    response = httpx.post(f"{server}/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    too_long = httpx.post(f"{server}/predict", json={"texts": ["😀" * 51]})
    assert too_long.status_code == 413 and "max_chars" in too_long.json()["error"]


def test_a_foreign_page_cannot_reach_the_server(server):
    rebound = httpx.post(f"{server}/predict", json={"texts": ["hi"]}, headers={"host": "attacker.example"})
    assert rebound.status_code == 421 and "allowed_hosts" in rebound.json()["error"]
    simple = httpx.post(f"{server}/predict", content=b'{"texts": ["hi"]}', headers={"content-type": "text/plain"})
    assert simple.status_code == 415 and "application/json" in simple.json()["error"]
    assert httpx.post(f"{server}/predict", json={"texts": ["hi"]}, headers={"host": "localhost"}).status_code == 200


def test_the_api_docs_need_no_network(server):
    page = httpx.get(f"{server}/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    scripts = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    assert scripts and all(not src.startswith("http") for src in scripts)
    for src in scripts:
        assert httpx.get(f"{server}{src}").status_code == 200


def test_a_slow_but_steady_client_is_not_cut_off(model, tmp_path):
    proc, url = start(model, tmp_path / "run", read_timeout=3)
    try:
        body = json.dumps({"texts": ["a fine film"]}).encode()
        head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        sock = stalled(url, head.encode())
        time.sleep(1)
        sock.sendall(body)
        assert answer_of(sock).startswith(b"HTTP/1.1 200")
    finally:
        stop(proc)

