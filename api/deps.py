"""Dependencies shared by the routes: the ledger service and request bodies."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.problems import Problem
from ledger.canonical import parse_json
from ledger.errors import InvalidInput
from ledger.storage.service import LedgerService


async def get_service(request: Request) -> LedgerService:
    """``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread,
    a round trip through the thread pool for every request that uses the service."""
    svc: LedgerService = request.app.state.service
    return svc


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused early when larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem("payload-too-large", f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem("payload-too-large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int) -> Any:
    """Strictly parsed JSON (no floats, no duplicate keys, valid UTF-8, NFC strings)."""
    return parse_body(await read_body(request, limit))


def parse_body(data: bytes) -> Any:
    """:func:`json_body` of bytes already read (refusals as problems the same way)."""
    if not data:
        raise Problem("malformed-json", "the request body is empty")
    try:
        return parse_json(data)
    except InvalidInput as e:
        if e.message.startswith("malformed JSON"):
            raise Problem("malformed-json", e.message) from e
        raise
