"""The FastAPI application: the public verification API, writes, queries, operations.

``create_app`` wires a :class:`~ledger.storage.service.LedgerService` into the
routes; it holds no other state, so any number of processes can serve one database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import logs, problems
from api.auth import FailureLimiter
from api.edge import DirectRoute, EdgeMiddleware, loggable_path
from api.preverify import POOL
from api.ratelimit import RateLimiter
from api.settings import Settings
from ledger import collector
from ledger.storage.service import LedgerService

__all__ = ["create_app", "loggable_path"]


DESCRIPTION = """
Verifiable books of estates run under the trust model of property management
(信托制物业). Every entry is signed by its authors and is a leaf of the estate's
RFC 6962 Merkle tree; checkpoints are C2SP signed notes. The `GET` endpoints under
`/v1/estates` are public and stable: verify what they say with any RFC 6962 tooling.
Errors are RFC 9457 `application/problem+json` with a stable `type`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    POOL.start()  # the batch import's signature verifiers, ready before the first batch
    collector.tune_process()  # a server imports batches all its life (ledger.collector)
    yield


def create_app(settings: Settings | None = None, service: LedgerService | None = None) -> FastAPI:
    settings = settings or Settings()
    if os.environ.get("TRUSTLEDGER_JSON_LOGS") == "1":
        logs.configure()
    if service is None:
        service = LedgerService(
            settings.db_url(),
            settings.data_dir,
            settings.log_origin_host,
            blobs=settings.blob_stores(),
        )
    app = FastAPI(
        title="trustledger",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "verification", "description": "The public verification API (stable)."},
            {"name": "writes", "description": "Signed posting, co-signing, vouchers."},
            {"name": "queries", "description": "What residents and committees ask."},
            {"name": "operator", "description": "Platform operator actions (bearer token)."},
            {"name": "operations", "description": "Health and metrics."},
        ],
    )
    POOL.configure(settings.verify_workers)
    app.state.service = service
    app.state.settings = settings
    shared = settings.rate_limit_redis_url
    app.state.limiter = RateLimiter(settings.write_rate, settings.write_burst, redis_url=shared)
    app.state.auth_limiter = FailureLimiter(
        settings.operator_auth_rate,
        settings.operator_auth_burst,
        name="operator-auth-failures",
        redis_url=shared,
    )
    problems.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["X-Request-Id"],
    )

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

    # Outermost (added last): every answer, errors included, carries the request id.
    # The signed post, the hot write path, is answered there (see DirectRoute).
    post = routes_write.POST_ENTRY
    app.add_middleware(EdgeMiddleware, direct=[DirectRoute("POST", post.path, post.endpoint)])

    app.include_router(routes_public.router)
    app.include_router(routes_write.router)
    app.include_router(routes_proposals.router)
    app.include_router(routes_operator.router)
    app.include_router(routes_query.router)
    app.include_router(routes_tiles.router)
    app.include_router(routes_ops.router)
    pages.install(app)
    return app
