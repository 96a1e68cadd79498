"""The HTTP API of `python -m textclf.serve`, as a FastAPI app around one `Classifier`.

    POST /predict   {"texts": ["...", ...], "top_k": 3} -> {"predictions": [record, ...]}
    GET  /health    {"status": "ok"}
    GET  /labels    {"labels": [...]}
    GET  /metadata  the model, its data, metrics and versions, and this server's limits
    GET  /docs      OpenAPI documentation
    GET  /          a page to try the model by hand (serving/page.py)

Each record is the JSON line `textclf.predict` writes for the same input (loading/records.py).
Requests are read and checked here by hand rather than through a pydantic body model, so that
every refusal is one sentence naming the field, and so the checks cost microseconds at
thousands of requests a second. Scoring goes through the `MicroBatcher`.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from textclf import __version__
from textclf.core.errors import TextclfError, first_line
from textclf.loading.classifier import Classifier
from textclf.loading.records import Story, prediction_records
from textclf.serving.batcher import MicroBatcher
from textclf.serving.page import page

PAGE_LABELS = 10  # the page shows at most this many labels (bAbI models have dozens)

FIELDS = ("texts", "top_k")


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts in one request
    max_chars: int = 10_000  # characters in one text (a story: all its sentences and the question)
    top_k: int = 3  # labels in a record's top_k when the request names none
    batch_size: int = 64  # inputs scored together at most
    batch_wait_ms: float = 2.0  # how long the first request of a batch waits for others

    @property
    def max_body(self) -> int:
        """Bytes a valid request can take: every text at its longest, each character escaped (\\uXXXX)."""
        return self.max_texts * (self.max_chars * 6 + 64) + 1024


class Refused(Exception):
    """A request the server cannot answer; ``status`` is its 4xx code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it grows past ``limit`` (before reading it all into memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the request body is {int(declared):,} bytes; this server takes at most {limit:,} (max_texts x max_chars). Split the request.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the request body is over {limit:,} bytes, the most this server takes (max_texts x max_chars). Split the request.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(body: bytes, limits: Limits, stories: bool, columns: tuple[str, ...] = ()) -> tuple[list[Any], int]:
    """(inputs, top_k) of a /predict body, or `Refused` naming what is wrong."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise Refused(400, f'the request body is not valid JSON ({err}); send {{"texts": ["a text", ...], "top_k": 3}}.') from None
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
    items = [request_item(item, index, limits, stories, columns) for index, item in enumerate(texts)]
    top_k = payload.get("top_k", limits.top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise Refused(422, f"top_k must be a whole number >= 1, got {json.dumps(top_k)}.")
    return items, top_k


def request_item(item: Any, index: int, limits: Limits, stories: bool, columns: tuple[str, ...] = ()) -> str | Story | dict:
    """One entry of texts: a string; for story models also {"story": [...], "question": "..."};
    for a model of several text columns also {"title": "...", "body": "..."} (checked, joined and
    refused where wrong by `Classifier.examples`)."""
    if stories and isinstance(item, dict):
        if set(item) != {"story", "question"} or not isinstance(item["story"], list) or not isinstance(item["question"], str):
            raise Refused(422, f'texts[{index}]: a story is {{"story": ["a sentence", ...], "question": "a question?"}}.')
        if not all(isinstance(sentence, str) for sentence in item["story"]):
            raise Refused(422, f"texts[{index}]: every story sentence must be a string.")
        size = sum(map(len, item["story"])) + len(item["question"])
        parsed: str | Story = Story(item["story"], item["question"])
    elif isinstance(item, str):
        size, parsed = len(item), item
    elif columns and isinstance(item, dict):
        size, parsed = sum(len(value) for value in item.values() if isinstance(value, str)), item
    else:
        if stories:
            wanted = 'a string in the story format or {"story": [...], "question": "..."}'
        else:
            wanted = f"a string or an object of the text columns {', '.join(columns)}" if columns else "a string"
        raise Refused(422, f"texts[{index}] must be {wanted}, got a {json_type(item)}.")
    if size > limits.max_chars:
        raise Refused(413, f"texts[{index}] has {size:,} characters; this server takes at most {limits.max_chars:,} per text (max_chars).")
    return parsed


def json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


PREDICT_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["texts"],
            "properties": {
                "texts": {"type": "array", "minItems": 1, "items": {"oneOf": [
                    {"type": "string"},
                    {"type": "object", "properties": {"story": {"type": "array", "items": {"type": "string"}}, "question": {"type": "string"}}},
                    {"type": "object", "description": "a model of several text columns: each column's text by name",
                     "additionalProperties": {"type": "string"}},
                ]}},
                "top_k": {"type": "integer", "minimum": 1, "default": 3},
            },
            "example": {"texts": ["a gorgeous film", "boilerplate"], "top_k": 2},
        }}},
    },
}


def create_app(clf: Classifier, limits: Limits) -> FastAPI:
    batcher = MicroBatcher(clf.example_proba, limits.batch_size, limits.batch_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await batcher.close()  # after the requests in flight are answered (uvicorn waits for them)

    app = FastAPI(title="textclf", version=__version__, lifespan=lifespan,
                  description=f"{clf.loaded.config.model.name} text classifier: POST /predict with {{\"texts\": [...]}}.")

    columns = clf.text_columns
    home = page(clf.loaded.config.model.name, len(clf.labels), clf.stories, PAGE_LABELS)

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
            items, top_k = parse_request(await read_body(request, limits.max_body), limits, clf.stories, columns)
            examples = clf.examples(items)
        except Refused as err:
            return answer(err.status, str(err))
        except TextclfError as err:  # an input the model cannot read (a story string without its question)
            return answer(422, str(err))
        try:
            prob = await batcher.submit(examples)
        except Exception as err:  # the batcher logged it; the server goes on serving
            return answer(500, f"the model failed on this request ({first_line(err)}). The server goes on serving; if it recurs, report it with the input.")
        return JSONResponse({"predictions": prediction_records(examples, prob, clf.labels, top_k, clf.loaded.task)})

    return app
