"""Resident web pages: phone-first, Chinese by default, verifiable in the browser.

``install(app)`` adds the page routes (:mod:`api.pages.routes`) and serves
``api/static`` (CSS, the pages' JavaScript, the vendored fallback crypto) under
``/static``. The pages read through the ledger's storage layer in-process; their
scripts verify against the public JSON API and trust nothing without a proof.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).resolve().parent.parent / "static"


class RevalidatedStaticFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) on each use: no stale script after a
    deploy, and a 304 costs a phone almost nothing."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cache_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_cache_header)


def install(app: FastAPI) -> None:
    from api.pages.routes import router

    app.include_router(router)
    app.mount("/static", RevalidatedStaticFiles(directory=STATIC), name="static")
