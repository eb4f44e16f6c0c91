"""Writes: signed posting (single and batch) and voucher upload.

Authorisation is the authors' signatures under the estate's policy — there is no
token for posting. Bodies are parsed by the ledger core, strictly.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api import schemas
from api.deps import get_service, json_body
from api.problems import Problem
from api.routes_public import entry_json
from ledger.errors import InvalidInput, LedgerError
from ledger.fields import Obj
from ledger.storage.appender import SignedPayload
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
    o = Obj(value, path, {"payload", "signatures"}, set())
    return SignedPayload.parse(o.raw("payload"), o.raw("signatures"))


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
async def post_entry(estate: str, request: Request, svc: Svc) -> Response:
    request.app.state.limiter.check(request)
    doc = await json_body(request, _limits(request).max_body_bytes)
    item = signed_from(doc, "$")
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(svc.append_one, estate, item)
    return JSONResponse(
        entry_json(result.entry.seq, result.leaf), status_code=201 if result.created else 200
    )


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
async def post_batch(estate: str, request: Request, svc: Svc) -> Response:
    request.app.state.limiter.check(request)
    doc = await json_body(request, _limits(request).max_batch_bytes)
    o = Obj(doc, "$", {"items"}, set())
    raw_items = o.list("items", min_len=1, max_len=MAX_BATCH)
    items = []
    for i, value in enumerate(raw_items):
        try:
            items.append(signed_from(value, f"items[{i}]"))
        except LedgerError as e:
            e.data.setdefault("index", i)
            raise
    from starlette.concurrency import run_in_threadpool

    results = await run_in_threadpool(svc.append, estate, items)
    created = any(r.created for r in results)
    body = {"entries": [entry_json(r.entry.seq, r.leaf) for r in results]}
    return JSONResponse(body, status_code=201 if created else 200)


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
    from api.deps import read_body
    from api.vouchers import store_voucher

    request.app.state.limiter.check(request)
    data = await read_body(request, _limits(request).max_voucher_bytes)
    if not data:
        raise InvalidInput("the voucher is empty", field="body")
    created, media_type = store_voucher(svc, estate, sha256, data)
    return JSONResponse(
        {"sha256": sha256, "size": len(data), "media_type": media_type},
        status_code=201 if created else 200,
    )


__all__ = ["Problem", "router"]
