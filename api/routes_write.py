"""Writes: signed posting (single and batch) and voucher upload.

Authorisation is the authors' signatures under the estate's policy — there is no
token for posting. Bodies are parsed by the ledger core, strictly.

The two posting routes are the API's hot path, so they skip what costs without
changing an answer: the service comes from the app's state (no dependency to
solve), answers are encoded from the stored leaf bytes (:func:`entry_body`) and
returned as a ready ``Response`` (no response model validation). A batch is read
and appended in a worker thread, with its signatures verified meanwhile by worker
processes (:mod:`api.preverify`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.deps import get_service, json_body, parse_body, read_body
from api.preverify import MIN_ITEMS, POOL, Preverifier, estate_keys
from api.problems import Problem
from api.routes_public import entries_body, entry_body, json_response
from ledger.errors import InvalidInput, LedgerError
from ledger.fields import Obj
from ledger.payload import parse_payload
from ledger.signing import parse_signatures
from ledger.storage.appender import Appended, SignedPayload
from ledger.storage.service import LedgerService

router = APIRouter(prefix="/v1/estates", tags=["writes"])
Svc = Annotated[LedgerService, Depends(get_service)]
MAX_BATCH = 1000
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Problem, "content": {"application/problem+json": {}}}
    for code in (400, 403, 409, 413, 422, 429)
}
VOUCHER_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Problem, "content": {"application/problem+json": {}}}
    for code in (413, 415, 422, 429)
}


def signed_from(value: Any, path: str) -> SignedPayload:
    """A signed payload from a request document, which :func:`api.deps.parse_body` read:
    every string in it is checked already, so the payload's are not checked again."""
    o = Obj(value, path, {"payload", "signatures"}, set())
    payload = parse_payload(o.raw("payload"), strings_checked=True)
    return SignedPayload(payload, parse_signatures(o.raw("signatures")))


def _limits(request: Request) -> Any:
    return request.app.state.settings


@router.post(
    "/{estate}/entries",
    status_code=201,
    response_model=schemas.EntryItem,
    summary="Append a signed payload",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schemas.SignedPayloadIn.model_json_schema()}
            },
        }
    },
    responses={
        200: {
            "description": "the payload id was already in the log (safe retry)",
            "model": schemas.EntryItem,
        },
        **PROBLEM_RESPONSES,
    },
)
async def post_entry(estate: str, request: Request) -> Response:
    state = request.app.state
    await state.limiter.check(request)
    doc = await json_body(request, state.settings.max_body_bytes)
    item = signed_from(doc, "$")
    svc: LedgerService = state.service
    result = await run_in_threadpool(svc.append_one, estate, item)
    return json_response(entry_body(result.entry.seq, result.leaf), 201 if result.created else 200)


POST_ENTRY = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is post_entry)
"""The route of :func:`post_entry` (the edge answers it directly: ``api.app``)."""


@router.post(
    "/{estate}/entries:batch",
    status_code=201,
    response_model=schemas.EntriesOut,
    summary="Append up to 1,000 signed payloads atomically",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schemas.BatchIn.model_json_schema()}},
        }
    },
    responses={
        200: {
            "description": "every payload id was already in the log",
            "model": schemas.EntriesOut,
        },
        **PROBLEM_RESPONSES,
    },
)
async def post_batch(estate: str, request: Request) -> Response:
    state = request.app.state
    await state.limiter.check(request)
    data = await read_body(request, state.settings.max_batch_bytes)
    results = await run_in_threadpool(import_batch, state.service, estate, data)
    created = any(r.created for r in results)
    return json_response(
        entries_body((r.entry.seq, r.leaf) for r in results), 201 if created else 200
    )


def import_batch(svc: LedgerService, estate: str, data: bytes) -> list[Appended]:
    """Read a batch body and append its items atomically (in a worker thread).

    Refusals come in the order they always did: the body, then each item in turn
    (with its ``index``), then the append. Meanwhile the items' signatures are
    verified by worker processes against the estate's keys, so the append's own
    check finds them verified or being verified (:mod:`api.preverify`).
    """
    doc = parse_body(data)
    o = Obj(doc, "$", {"items"}, set())
    raw_items: Sequence[Any] = o.list("items", min_len=1, max_len=MAX_BATCH)
    executor = POOL.executor() if len(raw_items) >= MIN_ITEMS else None
    ahead = Preverifier(estate_keys(svc, estate) if executor else {}, executor)
    try:
        items = []
        for i, value in enumerate(raw_items):
            try:
                item = signed_from(value, f"items[{i}]")
            except LedgerError as e:
                e.data.setdefault("index", i)
                raise
            items.append(item)
            ahead.add(item)
        ahead.submit()
        return svc.append(estate, items, defer_verified_elsewhere=executor is not None)
    finally:
        ahead.close()


@router.put(
    "/{estate}/vouchers/{sha256}",
    status_code=201,
    response_model=schemas.VoucherStored,
    summary="Upload a voucher whose bytes hash to its name",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}}
                for m in ("application/pdf", "image/jpeg", "image/png", "image/webp")
            },
        }
    },
    responses={
        200: {"description": "already stored", "model": schemas.VoucherStored},
        **VOUCHER_PROBLEMS,
    },
)
async def put_voucher(estate: str, sha256: str, request: Request, svc: Svc) -> Response:
    from api.vouchers import store_voucher

    await request.app.state.limiter.check(request)
    data = await read_body(request, _limits(request).max_voucher_bytes)
    if not data:
        raise InvalidInput("the voucher is empty", field="body")
    created, media_type = store_voucher(svc, estate, sha256, data)
    return JSONResponse(
        {"sha256": sha256, "size": len(data), "media_type": media_type},
        status_code=201 if created else 200,
    )


__all__ = ["Problem", "router"]
