"""Connections the server will not let hang: a deadline for reading each request, a cap on open ones.

uvicorn reads requests without a deadline: a client that sends half its headers (or half its body)
and stalls holds a connection, and a file handle, for ever, and a few hundred such clients starve
everyone else. uvicorn's own ``limit_concurrency`` answers 503 only once a request's headers have
arrived, and in plain text. So the server runs uvicorn's h11 protocol with two additions:

- each request must arrive whole (headers and body) within ``read_timeout`` seconds of its first
  byte (of the connection, for the first request), else the client gets 408 and is cut off;
- a connection beyond ``max_connections`` gets 503 at once and is closed.

Both answers are the server's documented ``{"error": ...}`` JSON. Idle keep-alive connections
between requests are uvicorn's ``timeout_keep_alive``. The events are logged through
`textclf.serving.quiet_log`, which folds repeats into one line with a count.
"""

from __future__ import annotations

import asyncio
import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("textclf.serve")

READ = {h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR}  # the client's side once its request is in


def raw_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection, written as bytes: at these
    moments h11 may not send one (no request has arrived yet to answer)."""
    body = json.dumps({"error": message}).encode("utf-8")
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode("ascii") + body


def guarded_protocol(read_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a read deadline and a connection cap (pass it as ``http=``)."""

    class GuardedProtocol(H11Protocol):
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                log.warning("refused a connection: %d open, the most this server keeps (max_connections) (503)", max_connections)
                self.cut_off(raw_response(503, "Service Unavailable", f"the server has {max_connections} connections open, its limit; retry shortly."))
                return
            self.arm()

        def data_received(self, data: bytes) -> None:
            if self.deadline is None and self.conn.their_state is h11.IDLE:  # the first bytes of a next request
                self.arm()
            super().data_received(data)
            if self.conn.their_state in READ:
                self.disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm()
            super().connection_lost(exc)

        def arm(self) -> None:
            self.deadline = self.loop.call_later(read_timeout, self.expired)

        def disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def expired(self) -> None:
            self.deadline = None
            if self.transport.is_closing() or self.conn.their_state in READ:
                return
            if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0] and self.cycle is None:
                self.transport.close()  # connected and sent nothing: nothing to answer
                return
            log.warning("cut off a client that took over %g s to send its request (408)", read_timeout)
            self.cut_off(raw_response(408, "Request Timeout", f"the request did not arrive whole within {read_timeout:g} s (read_timeout); send it at once."))

        def cut_off(self, response: bytes) -> None:
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True  # the handler waiting for the body ends; its answer is dropped
                self.cycle.message_event.set()
            self._unset_keepalive_if_required()
            self.transport.write(response)
            self.transport.close()

    return GuardedProtocol
