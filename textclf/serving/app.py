"""The HTTP API of `python -m textclf.serve`, as a FastAPI app around one `Classifier`.

    POST /predict   {"texts": ["...", ...], "top_k": 3} -> {"predictions": [record, ...]}
    POST /explain   {"text": "..."} -> {"words": [...], "weights": [...], "method": "...", "signed": false,
                    "predicted": "...", "probability": 0.9}: what drove the prediction of one input
    GET  /health    {"status": "ok"}
    GET  /labels    {"labels": [...]}
    GET  /metadata  the model, its data, metrics and versions, and this server's limits
    GET  /docs      OpenAPI documentation (its scripts served from here: fastapi-offline, no CDN)
    GET  /          a page to try the model by hand (serving/page.py)

Each record is the JSON line `textclf.predict` writes for the same input (inference/records.py).
Every request first passes `textclf.serving.gate` (its Host, JSON bodies only), and every
connection `textclf.serving.connections` (a deadline to arrive, a cap on how many). Requests are
read and checked by hand rather than through a pydantic body model (the body here, each input by
the parser the Python API and predict use too, `records.input_example`), so that every refusal
is one sentence naming the field, and so the checks cost microseconds at thousands of requests a
second. Scoring goes through the `MicroBatcher`.

/explain takes one input (``text``: anything an entry of /predict's ``texts`` may be) and answers
`Classifier.example_explanations`: the words a flat encoder read with one weight each (``method`` attention or
max share: a distribution; occlusion: ``signed``, a negative weight argued against the
prediction), or a memory network's memory slots (story sentences) with its last hop's attention
(``method`` "hop attention"). It runs on the batcher's one inference thread, so it never computes
beside a batch: the model is not shared between threads, and a second thread would only contend
for the cores (occlusion costs one forward pass per word).
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.requests import ClientDisconnect

from textclf import __version__
from textclf.core.errors import TextclfError, first_line
from textclf.core.shipped import shipped
from textclf.data.example import Example
from textclf.inference.classifier import Classifier
from textclf.inference.explanation import WordSalience
from textclf.inference.records import input_example, prediction_records
from textclf.serving.batcher import MicroBatcher
from textclf.serving.gate import Gate, answer, json_errors
from textclf.serving.page import page

log = logging.getLogger("textclf.serve")

PAGE_LABELS = 10  # the page shows at most this many labels (bAbI models have dozens)

FIELDS = ("texts", "top_k")


SERVE = shipped("serve")  # the defaults' one home: conf/serve.yaml, which also says what each means


@dataclass(frozen=True)
class Limits:
    max_texts: int = SERVE.max_texts  # texts in one request
    max_chars: int = SERVE.max_chars  # characters in one text (a story: all its sentences and the question)
    top_k: int = SERVE.top_k  # labels in a record's top_k when the request names none
    batch_size: int = SERVE.batch_size  # inputs scored together at most
    batch_wait_ms: float = SERVE.batch_wait_ms  # how long the first request of a batch waits for others

    @property
    def max_body(self) -> int:
        """Bytes a valid request can take, a bound on memory only: the limits that count are
        max_texts and max_chars, checked on what the JSON says. 16 bytes a character covers the
        longest spelling of one (a character beyond U+FFFF escaped as two \\uXXXX, 12 bytes) with
        room for a story's quotes and commas; the rest, for keys and white space."""
        return self.max_texts * (self.max_chars * 16 + 256) + 65_536


class Refused(Exception):
    """A request the server cannot answer; ``status`` is its 4xx code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it grows past ``limit`` (before reading it all into memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the request body is {int(declared):,} bytes; this server takes at most {limit:,} (max_texts x max_chars). Split the request.")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"the request body is over {limit:,} bytes, the most this server takes (max_texts x max_chars). Split the request.")
            chunks.append(chunk)
    except ClientDisconnect:  # gone (or cut off for stalling): nobody to answer, nothing to log
        raise Refused(400, "the client went away before sending the whole body.") from None
    return b"".join(chunks)


def load_json(body: bytes, example: str) -> Any:
    """The body as JSON, or `Refused` (400) saying what a request looks like."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise Refused(400, f"the request body is not valid JSON ({err}); send {example}.") from None
    except RecursionError:
        raise Refused(400, f"the request body nests too deeply to read; send {example}.") from None


def parse_request(body: bytes, limits: Limits, stories: bool, columns: tuple[str, ...] = ()) -> tuple[list[Example], int]:
    """(inputs as examples, top_k) of a /predict body, or `Refused` naming what is wrong."""
    payload = load_json(body, '{"texts": ["a text", ...], "top_k": 3}')
    if not isinstance(payload, dict):
        raise Refused(422, f'the request body must be a JSON object {{"texts": [...], "top_k": 3}}, got a {json_type(payload)}.')
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise Refused(422, f"unknown field(s) {', '.join(map(repr, unknown))}; a request has texts (a list) and optionally top_k.")
    if "texts" not in payload:
        raise Refused(422, 'the request has no texts; send {"texts": ["a text", ...]}.')
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise Refused(422, f"texts must be a list of {'stories' if stories else 'strings'}, got a {json_type(texts)}; wrap one text in [ ].")
    if not texts:
        raise Refused(422, "texts is empty; give at least one text.")
    if len(texts) > limits.max_texts:
        raise Refused(413, f"{len(texts)} texts in one request; this server takes at most {limits.max_texts} (max_texts). Split the request.")
    examples = [request_example(item, f"texts[{index}]", limits, stories, columns) for index, item in enumerate(texts)]
    top_k = payload.get("top_k", limits.top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise Refused(422, f"top_k must be a whole number >= 1, got {json.dumps(top_k)}.")
    return examples, top_k


def request_example(item: Any, where: str, limits: Limits, stories: bool, columns: tuple[str, ...] = ()) -> Example:
    """One entry of texts (``where``: texts[i], or /explain's text) as an example, read by the
    parser every input goes through (`input_example`: a string, for story models also
    {"story": [...], "question": "..."}, for a model of several text columns also an object of
    them); refused with 422 where it cannot be read, 413 past max_chars (a story: all its
    sentences and the question)."""
    try:
        example = input_example(item, where, stories, columns, json_kind)
    except TextclfError as err:
        raise Refused(422, str(err)) from None
    size = len(example.text) + sum(map(len, example.context))
    if size > limits.max_chars:
        raise Refused(413, f"{where} has {size:,} characters; this server takes at most {limits.max_chars:,} per text (max_chars).")
    return example


def json_kind(value: Any) -> str:
    return f"a {json_type(value)}"


def json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def json_body(field: str, schema: dict, example: dict, **optional: dict) -> dict:
    """The OpenAPI requestBody of an endpoint whose JSON object has one required ``field`` (and
    the ``optional`` ones)."""
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": [field], "properties": {field: schema, **optional}, "example": example,
    }}}}


# One input, in each form `request_example` takes (a text, a story, a model's text columns).
INPUT = {"oneOf": [
    {"type": "string"},
    {"type": "object", "properties": {"story": {"type": "array", "items": {"type": "string"}}, "question": {"type": "string"}}},
    {"type": "object", "description": "a model of several text columns: each column's text by name", "additionalProperties": {"type": "string"}},
]}

PREDICT_DOC = {"requestBody": json_body("texts", {"type": "array", "minItems": 1, "items": INPUT},
                                        {"texts": ["a gorgeous film", "boilerplate"], "top_k": 2},
                                        top_k={"type": "integer", "minimum": 1, "default": 3})}


def parse_explain(body: bytes, limits: Limits, stories: bool, columns: tuple[str, ...] = ()) -> Example:
    """The one input of an /explain body, or `Refused` naming what is wrong."""
    payload = load_json(body, '{"text": "a text"}')
    if not isinstance(payload, dict) or set(payload) != {"text"}:
        got = f"the fields {', '.join(map(repr, sorted(payload))) or 'none'}" if isinstance(payload, dict) else json_kind(payload)
        raise Refused(422, f'an /explain request is {{"text": "a text"}}: one input, as one entry of /predict\'s texts; got {got}.')
    return request_example(payload["text"], "text", limits, stories, columns)


def explanation(found: WordSalience) -> dict:
    return {
        "words": list(found.words), "weights": [round(float(w), 6) for w in found.weights], "method": found.method,
        "signed": found.signed, "predicted": found.predicted, "probability": round(found.probability, 6),
    }


EXPLAIN_DOC = {
    "requestBody": json_body("text", INPUT, {"text": "a gorgeous , witty film"}),
    "responses": {"200": {"description": "the words (a memory network: its story sentences) and their weights", "content": {
        "application/json": {"example": {"words": ["a", "gorgeous", ",", "witty", "film"], "weights": [0.05, 0.6, 0.02, 0.3, 0.03],
                                         "method": "attention", "signed": False, "predicted": "positive", "probability": 0.94}}}}},
}


def create_app(clf: Classifier, limits: Limits, hosts: set[str] | None = None) -> FastAPI:
    """The app; ``hosts`` are the Host names it answers (None: any; see serving/gate.py)."""
    batcher = MicroBatcher(clf.example_proba, limits.batch_size, limits.batch_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await batcher.close()  # after the requests in flight are answered (uvicorn waits for them)

    app = FastAPIOffline(title="textclf", version=__version__, lifespan=lifespan, redoc_url=None,
                         description=f"{clf.loaded.config.model.name} text classifier: POST /predict with {{\"texts\": [...]}}.")
    app.add_middleware(Gate, hosts=hosts)
    json_errors(app)

    columns = clf.text_columns
    home = page(clf.metadata(), PAGE_LABELS)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(home)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/labels")
    async def labels() -> dict:
        return {"labels": clf.labels}

    @app.get("/metadata")
    async def metadata() -> dict:
        return {**clf.metadata(), "limits": asdict(limits)}

    @app.post("/predict", openapi_extra=PREDICT_DOC)
    async def predict(request: Request) -> JSONResponse:
        try:
            examples, top_k = parse_request(await read_body(request, limits.max_body), limits, clf.stories, columns)
        except Refused as err:
            return answer(err.status, str(err))
        try:
            prob = await batcher.submit(examples)
        except Exception as err:  # the batcher logged it; the server goes on serving
            return answer(500, f"the model failed on this request ({first_line(err)}). The server goes on serving; if it recurs, report it with the input.")
        return JSONResponse({"predictions": prediction_records(examples, prob, clf.labels, top_k, clf.loaded.task)})

    @app.post("/explain", openapi_extra=EXPLAIN_DOC)
    async def explain(request: Request) -> JSONResponse:
        try:
            example = parse_explain(await read_body(request, limits.max_body), limits, clf.stories, columns)
            # On the batcher's inference thread, between its batches (see the module docstring).
            found = (await asyncio.get_running_loop().run_in_executor(batcher.pool, clf.example_explanations, [example]))[0]
        except Refused as err:
            return answer(err.status, str(err))
        except Exception as err:  # logged here; the server goes on serving
            log.exception("explaining an input failed")
            return answer(500, f"the model failed to explain this input ({first_line(err)}). The server goes on serving; if it recurs, report it with the input.")
        return JSONResponse(explanation(found))

    return app
