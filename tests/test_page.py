"""The server's page (GET /) and what it shows: POST /explain, Classifier.explain, the examples and
the card stored in checkpoints; in a real headless browser where Debian's chromium is installed."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import threading
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import torch

from textclf.data.example import Example
from textclf.inference.checkpoint import load_checkpoint
from textclf.inference.classifier import Classifier
from textclf.serving.app import Limits, create_app
from textclf.serving.page import page
from textclf.training.trainer import showcase

from conftest import FILLER, NEGATIVE, POSITIVE
from test_serve import model, start, stop  # noqa: F401  (model: the trained fixture, reused)

CHROMIUM = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)")
TEXT = "the film was superb and lovely"
WORD = re.compile(r'<span class="word"([^>]*)>([^<]*)</span>')


def shaded_words(dom: str) -> list[tuple[int, float, str]]:
    """(red of the hue, alpha, word) of each shaded word span in a DOM."""
    found = []
    for attributes, word in WORD.findall(dom):
        red, alpha = re.search(r"background-color: rgba\((\d+), \d+, \d+, ([\d.]+)\)", attributes).groups()
        found.append((int(red), float(alpha), word))
    return found


def browser(url: str, profile: Path, *extra: str) -> str:
    """The page's DOM once its script has run (and its requests are answered)."""
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *extra]
    return subprocess.run([*command, "--dump-dom", url], capture_output=True, text=True, timeout=90).stdout


@pytest.fixture(scope="module")
def client(model):  # noqa: F811  (the fixture imported above)
    from fastapi.testclient import TestClient

    with TestClient(create_app(Classifier.load(model), Limits(max_chars=200))) as test_client:
        yield test_client


def test_explain_answers_the_words_and_the_prediction_of_predict(client):
    found = client.post("/explain", json={"text": TEXT}).json()
    predicted = client.post("/predict", json={"texts": [TEXT]}).json()["predictions"][0]
    assert found["words"] == TEXT.split() and len(found["weights"]) == len(found["words"])
    assert found["method"] == "max share" and found["signed"] is False  # the BiLSTM's default max pooling
    assert sum(found["weights"]) == pytest.approx(1.0, abs=1e-3)  # a distribution over the words
    assert found["predicted"] == predicted["label"] and found["probability"] == pytest.approx(predicted["probability"], abs=1e-5)
    assert "/explain" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(("body", "status", "message"), [
    (b'{"text": "a"', 400, "not valid JSON"),
    (b'{"texts": ["a"]}', 422, """an /explain request is {"text": "a text"}: one input, as one entry of /predict's texts; got the fields 'texts'"""),
    (b'["a"]', 422, "got a list"),
    (b'{"text": 3}', 422, "text must be a string, got a number"),
    (json.dumps({"text": "x" * 201}).encode(), 413, "text has 201 characters; this server takes at most 200"),
])
def test_explain_refuses_a_bad_request_with_one_sentence(client, body, status, message):
    response = client.post("/explain", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status and message in response.json()["error"]


def test_a_checkpoint_carries_its_examples_date_and_data_and_metadata_shows_them(model):
    meta = Classifier.load(model).metadata()
    examples = meta["examples"]
    assert 2 <= len(examples) <= 6 and {ex["label"] for ex in examples} == {"neg", "pos"}
    assert all(0 < len(ex["text"]) <= 200 and set(ex["text"].split()) <= {*FILLER, *POSITIVE, *NEGATIVE} for ex in examples)
    assert datetime.fromisoformat(meta["trained_at"]).tzinfo is not None
    assert meta["data_description"].startswith("table ")
    results = json.loads((model.parent / "results.json").read_text())
    assert meta["test_metrics"]["test_acc"] == results["test_acc"] and meta["test_metrics"]["test_macro_f1"] == results["test_macro_f1"]


def test_examples_are_short_taken_label_by_label_at_most_two_each_and_the_same_every_time():
    examples = [Example("x" * 300, "a"), Example("a1", "a"), Example("a2", "a"), Example("a3", "a"), Example(" ", "b"),
                Example("b1", "b"), Example("c1", ("c", "d")), Example("Where is Mary?", "hall", context=("Mary went to the hall.",))]
    chosen = showcase(examples)
    assert chosen == showcase(examples)
    assert [ex["text"] for ex in chosen] == ["a1", "b1", "c1", "1 Mary went to the hall.\n2 Where is Mary?", "a2"]
    assert chosen[2]["label"] == "c|d"


def test_an_older_checkpoint_without_examples_still_loads_and_serves_a_page_without_chips(model, tmp_path):
    from fastapi.testclient import TestClient

    checkpoint = load_checkpoint(model)
    for key in ("examples", "trained_at", "data_description"):
        del checkpoint[key]
    torch.save(checkpoint, tmp_path / "best.pt")
    clf = Classifier.load(tmp_path / "best.pt")
    meta = clf.metadata()
    assert meta["examples"] == [] and meta["trained_at"] is None and meta["test_metrics"] == {}  # no results.json beside it
    with TestClient(create_app(clf, Limits())) as test_client:
        html = test_client.get("/").text
    assert 'class="chip"' not in html and "Trained" not in html
    assert "<dt>Validation accuracy</dt>" in html and "<dt>Data</dt><dd>Table</dd>" in html  # what the checkpoint has instead


def test_every_value_on_the_page_is_escaped_and_the_placeholder_is_the_models_own_example():
    evil = "<script>alert(1)</script>"
    meta = {"model": evil, "labels": ["a", "b"], "stories": False, "multi_label": False, "data": {}, "data_description": evil,
            "examples": [{"text": f'"{evil}', "label": evil}], "baseline": {"baseline": evil, "baseline_val_acc": 0.5},
            "metrics": {"val_acc": 0.75}, "test_metrics": {}, "trained_at": "2026-01-02T03:04:05+00:00"}
    html = page(meta, 10)
    assert html.count("<script>") == 1 and "alert(1)</script>" not in html  # only the page's own script
    assert f'placeholder="&quot;{evil.replace("<", "&lt;").replace(">", "&gt;")}"' in html
    assert "<dt>Validation accuracy</dt><dd>75.0 %</dd>" in html and "<dt>Trained</dt><dd>2026-01-02</dd>" in html
    assert "gorgeous" not in html  # no movie review put in front of every model


def test_a_memory_network_is_explained_by_its_last_hop_over_the_story_sentences(story_run):
    clf = Classifier.load(story_run)  # trained without linear start: its attention is a softmax (conftest.py)
    story = "1 Mary went to the kitchen.\n2 John moved to the garden.\n3 Mary travelled to the office.\n4 Where is Mary?"
    found = clf.explain([story])[0]
    assert found.words == ["Mary went to the kitchen.", "John moved to the garden.", "Mary travelled to the office."]
    assert found.method == "hop attention" and not found.signed and len(found.weights) == 3
    assert 0 < found.weights.sum() <= 1 + 1e-5 and found.predicted == clf.predict([story])[0]
    examples = clf.metadata()["examples"]
    assert examples and all(re.match(r"1 \S", ex["text"]) and ex["text"].endswith("?") for ex in examples)  # the story format
    assert len(clf.predict([ex["text"] for ex in examples])) == len(examples)  # that the server takes as it is


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):  # noqa: F811
    proc, url = start(model, tmp_path_factory.mktemp("page_run"))
    yield url
    stop(proc)


@CHROMIUM
@pytest.mark.slow
def test_the_page_shows_answer_bars_shaded_words_examples_and_card(server, tmp_path):
    meta = httpx.get(f"{server}/metadata").json()
    predicted = httpx.post(f"{server}/predict", json={"texts": [TEXT]}).json()["predictions"][0]
    found = httpx.post(f"{server}/explain", json={"text": TEXT}).json()
    dom = browser(f"{server}/?text={TEXT.replace(' ', '+')}", tmp_path / "browser")
    assert re.search(r'<span class="verdict">([^<]*)</span><span class="certainty">([^<]*)</span>', dom).groups() == (
        predicted["label"], f"{100 * predicted['probability']:.1f} %"), dom[-3000:]
    assert len(re.findall(r'class="bar"', dom)) == 2  # both labels
    shaded = shaded_words(dom)
    assert [word for _, _, word in shaded] == found["words"]
    alphas = [alpha for _, alpha, _ in shaded]  # relative to the strongest word's, which gets 0.75
    assert alphas == pytest.approx([0.75 * weight / max(found["weights"]) for weight in found["weights"]], abs=3e-3)
    chips = re.findall(r'<button type="button" class="chip" data-text="([^"]*)"', dom)
    assert chips == [ex["text"] for ex in meta["examples"]] and chips
    assert f"<dt>Test accuracy</dt><dd>{100 * meta['test_metrics']['test_acc']:.1f} %</dd>" in dom
    assert f"<dt>Baseline test accuracy</dt><dd>{100 * meta['baseline']['baseline_test_acc']:.1f} %" in dom
    assert '<button type="submit" class="go" id="go">Classify</button>' in dom  # enabled again once answered
    picture = tmp_path / "page.png"
    browser(f"{server}/?text={TEXT.replace(' ', '+')}", tmp_path / "browser", f"--screenshot={picture}", "--window-size=1000,900")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class Canned(http.server.BaseHTTPRequestHandler):
    """The page (one with a probe script after its own) and canned /predict and /explain answers
    that echo the text, so the browser test sees what the page does with each answer."""

    html = b""

    def do_GET(self) -> None:
        self.reply("text/html", self.html)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        text = body["texts"][0] if "texts" in body else body["text"]
        if self.path == "/predict":
            answer = {"label": text, "probability": 0.75, "top_k": [{"label": text, "probability": 0.75}, {"label": "other", "probability": 0.25}]}
            self.reply("application/json", json.dumps({"predictions": [answer]}).encode())
        else:
            words = text.split()
            weights = [0.4 if i % 2 == 0 else -0.2 for i in range(len(words))]  # signed: two hues
            found = {"words": words, "weights": weights, "method": "occlusion", "signed": True, "predicted": text, "probability": 0.75}
            self.reply("application/json", json.dumps(found).encode())

    def reply(self, kind: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@CHROMIUM
@pytest.mark.slow
def test_a_chip_classifies_its_text_and_the_button_waits_meanwhile(tmp_path):
    meta = {"model": "toy", "labels": ["a", "b"], "stories": False, "multi_label": False, "data": {},
            "examples": [{"text": "one <b>two</b> three", "label": "a"}], "metrics": {}}
    # Runs right after the page's script: clicks the chip, and notes the button while the requests are out.
    probe = ('<script>document.querySelector(".chip").click(); const b = document.getElementById("go");'
             'document.body.dataset.waiting = b.disabled + " " + b.textContent;</script></body>')
    Canned.html = page(meta, 10).replace("</body>", probe).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom = browser(f"http://127.0.0.1:{server.server_address[1]}/", tmp_path / "browser")
    finally:
        server.shutdown()
    assert 'data-waiting="true Classifying\u2026"' in dom, dom[-3000:]
    assert '<span class="verdict">one &lt;b&gt;two&lt;/b&gt; three</span>' in dom  # the chip's text, classified, as text
    shaded = shaded_words(dom)
    assert [(red, word) for red, _, word in shaded] == [(59, "one"), (200, "&lt;b&gt;two&lt;/b&gt;"), (59, "three")]  # two hues
    assert [alpha for _, alpha, _ in shaded] == pytest.approx([0.75, 0.375, 0.75], abs=3e-3)  # colours keep 8 bits of alpha
    assert '<button type="submit" class="go" id="go">Classify</button>' in dom
