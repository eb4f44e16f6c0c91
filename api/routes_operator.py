"""Operator actions behind a bearer token: creating estates and rotating log keys.

Every route here depends on :func:`api.auth.require_operator`. Creating an estate
still needs the genesis signed by the operator's author key: the token says who
may call, the signature is what the log keeps.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.auth import require_operator
from api.deps import get_service, json_body
from api.routes_public import entry_json
from api.routes_write import signed_from
from ledger.errors import InvalidInput
from ledger.storage.service import LedgerService

router = APIRouter(
    prefix="/v1/estates", tags=["operator"], dependencies=[Depends(require_operator)]
)
Svc = Annotated[LedgerService, Depends(get_service)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Problem, "content": {"application/problem+json": {}}}
    for code in (401, 403, 409, 422, 429)
}


@router.post(
    "",
    status_code=201,
    response_model=schemas.EntryItem,
    summary="Create an estate from its signed genesis payload",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schemas.SignedPayloadIn.model_json_schema()}
            },
        }
    },
    responses={
        200: {"description": "the same genesis again: the estate's existing entry 0"},
        **RESPONSES,
    },
)
async def create_estate(request: Request, svc: Svc) -> Response:
    doc = await json_body(request, request.app.state.settings.max_body_bytes)
    item = signed_from(doc, "$")
    if item.payload.kind != "genesis":
        raise InvalidInput("an estate is created by a genesis payload", field="payload.kind")
    result = await run_in_threadpool(svc.create_estate, item)
    return JSONResponse(
        entry_json(result.entry.seq, result.leaf), status_code=201 if result.created else 200
    )


@router.post(
    "/{estate}/log-key:rotate",
    summary="Replace the estate's log key, handing the log over at its current size",
    responses=RESPONSES,
)
def rotate_log_key(estate: str, svc: Svc) -> dict[str, Any]:
    origin, key = svc.rotate_log_key(estate)
    return {
        "origin": origin,
        "vkey": key.vkey,
        "from_size": key.from_size,
        "handover": key.handover,
    }
