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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import observe_route
from api.problems import ANSWERED, response_for

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


@dataclass(frozen=True)
class DirectRoute:
    """A hot route answered by the edge itself, past the framework's middleware and
    routing: ``endpoint(request, **path_params)`` gives the response, and a failure
    with a problem type is answered as the application's handlers answer it
    (:func:`api.problems.response_for`); anything else goes on to the server's error
    handler as from any route. The route stays declared in the application (OpenAPI,
    and every request the edge does not take, below)."""

    method: str
    path: str  # the template, as in the application and the metrics
    endpoint: Callable[..., Awaitable[Response]]
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        object.__setattr__(self, "pattern", re.compile(regex))

    def match(self, scope: Scope) -> dict[str, str] | None:
        if scope["method"] != self.method:
            return None
        found = self.pattern.fullmatch(scope["path"])
        return None if found is None else found.groupdict()


def _takes(scope: Scope) -> bool:
    """Whether the edge may answer a request itself: not when it names an ``Origin``,
    whose answer the CORS middleware decorates."""
    return all(name != b"origin" for name, _ in scope["headers"])


class EdgeMiddleware:
    """Adds ``X-Request-Id`` (kept from the client when well formed) and
    ``X-Content-Type-Options: nosniff`` to every response, observes the request in
    the Prometheus metrics (labelled by route template) and writes the access log.

    ``direct``: routes answered here (:class:`DirectRoute`). For a signed post the
    framework's layers below (CORS, exception middleware, the exit stack, routing
    through every router, dependency resolution) cost about as much CPU as half the
    append itself (``bench/api_bench.py``, ``api_post``)."""

    def __init__(self, app: ASGIApp, direct: Sequence[DirectRoute] = ()) -> None:
        self.app = app
        self.direct = tuple(direct)

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

        for route in self.direct:
            params = route.match(scope)
            if params is not None and _takes(scope):
                await self._answer(route, params, scope, receive, send_with_headers)
                break
        else:
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

    async def _answer(
        self, route: DirectRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route"] = route
        scope["path_params"] = params
        try:
            response = await route.endpoint(request=Request(scope, receive), **params)
        except ANSWERED as exc:
            answer = response_for(exc)
            assert answer is not None
            response = answer
        await response(scope, receive, send)
