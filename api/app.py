"""The FastAPI application: the public verification API, writes, queries, operations.

``create_app`` wires a :class:`~ledger.storage.service.LedgerService` into the
routes; it holds no other state, so any number of processes can serve one database.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from api import logs, problems
from api.auth import FailureLimiter
from api.metrics import observe
from api.ratelimit import RateLimiter
from api.settings import Settings
from ledger.storage.service import LedgerService

log = logging.getLogger("trustledger.access")
_RECEIPT_CODE = re.compile(r"(/receipts/)[^/]*")


def loggable_path(path: str) -> str:
    """The path as logged: a receipt code carries a household's salt, so it is masked."""
    return _RECEIPT_CODE.sub(r"\1***", path)


DESCRIPTION = """
Verifiable books of estates run under the trust model of property management
(信托制物业). Every entry is signed by its authors and is a leaf of the estate's
RFC 6962 Merkle tree; checkpoints are C2SP signed notes. The `GET` endpoints under
`/v1/estates` are public and stable: verify what they say with any RFC 6962 tooling.
Errors are RFC 9457 `application/problem+json` with a stable `type`.
"""


def create_app(settings: Settings | None = None, service: LedgerService | None = None) -> FastAPI:
    settings = settings or Settings()
    if os.environ.get("TRUSTLEDGER_JSON_LOGS") == "1":
        logs.configure()
    if service is None:
        service = LedgerService(settings.db_url(), settings.data_dir, settings.log_origin_host)
    app = FastAPI(
        title="trustledger",
        version="1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "verification", "description": "The public verification API (stable)."},
            {"name": "writes", "description": "Signed posting, co-signing, vouchers."},
            {"name": "queries", "description": "What residents and committees ask."},
            {"name": "operator", "description": "Platform operator actions (bearer token)."},
            {"name": "operations", "description": "Health and metrics."},
        ],
    )
    app.state.service = service
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.write_rate, settings.write_burst)
    app.state.auth_limiter = FailureLimiter(
        settings.operator_auth_rate, settings.operator_auth_burst
    )
    problems.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["X-Request-Id"],
    )

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id", "")
        if not (0 < len(rid) <= 64 and rid.replace("-", "").isalnum()):
            rid = uuid.uuid4().hex
        request.state.request_id = rid
        start = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - start
        observe(request, response.status_code, elapsed)
        response.headers["X-Request-Id"] = rid
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        log.info(
            "request",
            extra={
                "request_id": rid,
                "method": request.method,
                "path": loggable_path(request.url.path),
                "status": response.status_code,
                "ms": round(elapsed * 1000, 2),
            },
        )
        return response

    from api import (
        pages,
        routes_operator,
        routes_ops,
        routes_proposals,
        routes_public,
        routes_query,
        routes_tiles,
        routes_write,
    )

    app.include_router(routes_public.router)
    app.include_router(routes_write.router)
    app.include_router(routes_proposals.router)
    app.include_router(routes_operator.router)
    app.include_router(routes_query.router)
    app.include_router(routes_tiles.router)
    app.include_router(routes_ops.router)
    pages.install(app)
    return app
