"""The HTTP edge around every request: request id, security header, metrics, access log.

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: that one runs the
rest of the app in a task group with memory streams and cancels the group at the
end of every request, which costs more than the routing, the body parsing and the
response of a signed post together (``bench/api_bench.py``). This one only wraps
``send`` to add two headers to the response start.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import observe_route

log = logging.getLogger("trustledger.access")
_RECEIPT_CODE = re.compile(r"(/receipts/)[^/]*")
_REQUEST_ID = b"x-request-id"
_NOSNIFF = (b"x-content-type-options", b"nosniff")


def loggable_path(path: str) -> str:
    """The path as logged: a receipt code carries a household's salt, so it is masked."""
    return _RECEIPT_CODE.sub(r"\1***", path)


def _url_path(scope: Scope) -> str:
    """The request's path as ``Request.url.path`` spells it."""
    path: str = scope["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-Id`` if it is short and plain, else a new random one."""
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            rid: str = value.decode("latin-1")
            if 0 < len(rid) <= 64 and rid.replace("-", "").isalnum():
                return rid
            break
    return uuid.uuid4().hex


class EdgeMiddleware:
    """Adds ``X-Request-Id`` (kept from the client when well formed) and
    ``X-Content-Type-Options: nosniff`` to every response, observes the request in
    the Prometheus metrics (labelled by route template) and writes the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (_REQUEST_ID, rid.encode("latin-1"))
        status = 0
        start = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID]
                headers.append(rid_header)
                if not any(h[0].lower() == _NOSNIFF[0] for h in headers):
                    headers.append(_NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
        # As before: a request whose exception escaped to the server's error handler
        # (its 500 is sent outside this middleware) is not observed here.
        elapsed = time.perf_counter() - start
        observe_route(scope, status, elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "path": loggable_path(_url_path(scope)),
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )
