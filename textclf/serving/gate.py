"""What every request passes before a route sees it, and the shape of every error the server sends.

A server on 127.0.0.1 is still reachable from a web page in the user's browser: a page whose name
an attacker rebinds to 127.0.0.1 (DNS rebinding) sends its own name as the Host header, and a
cross-site POST needs no CORS preflight as long as its body is text/plain or a form. `Gate`
answers only the Host names the server was started for (421 otherwise) and takes POST bodies only
as application/json (415 otherwise), which no page on another site can send without the
server's consent. `json_errors` makes Starlette's own answers (404, 405, an unexpected failure)
the documented ``{"error": ...}`` JSON like every other refusal.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("textclf.serve")

ROUTES = "POST /predict, POST /explain, GET /health, /labels, /metadata, /docs and /"


def answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def host_name(header: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8000`` -> ``::1``, ``a.org:80`` -> ``a.org``."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Gate:
    """ASGI middleware: the Host check (``hosts`` None: any) and JSON-only POST bodies."""

    def __init__(self, app: ASGIApp, hosts: set[str] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> JSONResponse | None:
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        host = host_name(headers.get("host", "").strip().lower())
        if self.hosts is not None and host and host not in self.hosts:
            return answer(421, f"this server answers requests for {', '.join(sorted(self.hosts))}, not {host!r}; "
                               "start it with allowed_hosts=[NAME,...] to serve another name.")
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if scope["method"] == "POST" and kind != "application/json":
            return answer(415, f"send the body as JSON with the header content-type: application/json (got {kind or 'none'}); "
                               "curl: --json '{...}'. Forms and text/plain are refused so that other web sites cannot post here.")
        return None


def json_errors(app: FastAPI) -> None:
    """Starlette's own error answers, as ``{"error": ...}`` with the same status."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        if err.status_code == 404:
            return answer(404, f"no such address {request.url.path}; this server has {ROUTES}.")
        if err.status_code == 405:
            return answer(405, f"{request.method} is not allowed on {request.url.path}; this server has {ROUTES}.")
        return answer(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def failure(request: Request, err: Exception) -> JSONResponse:  # Starlette logs the traceback
        return answer(500, "the server failed on this request; it goes on serving. If it recurs, report it with the request.")
