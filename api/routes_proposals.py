"""Co-signing: proposals that wait for the signatures the policy asks for.

A payload whose signatures do not yet satisfy the policy (a spend signed by the
trustee, waiting for the committee) is posted as a proposal; co-signers fetch it,
sign the very same payload and add their signatures; the entry is appended the
moment the policy is satisfied. Reading proposals is public, like the log.
Authorisation is the signatures themselves, as for posting entries.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.cursors import decode_text, encode_text, not_a_cursor
from api.deps import get_service, json_body
from api.routes_write import signed_from
from ledger.canonical import b64encode
from ledger.fields import Obj
from ledger.signing import parse_signatures
from ledger.storage.proposals import MAX_LIST, Outcome, ProposalView
from ledger.storage.service import LedgerService

router = APIRouter(prefix="/v1/estates", tags=["writes"])
Svc = Annotated[LedgerService, Depends(get_service)]
Status = Literal["pending", "appended", "withdrawn"]
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Problem, "content": {"application/problem+json": {}}}
    for code in (400, 403, 404, 409, 413, 422, 429)
}


def proposal_json(v: ProposalView) -> dict[str, Any]:
    p = v.proposal
    return {
        "id": p.id,
        "status": p.status,
        "seq": p.seq,
        "rule": v.rule,
        "missing": list(v.missing),
        "signatures": [
            {
                "key": s.key,
                "sig": b64encode(s.sig),
                "role": s.role,
                "holder": s.holder,
                "active": s.active,
            }
            for s in v.signers
        ],
        "proposed_by": list(p.proposed_by),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "payload": p.payload.raw,
    }


def _answer(out: Outcome, created_status: int = 200) -> Response:
    return JSONResponse(
        proposal_json(out.described), status_code=created_status if out.changed else 200
    )


async def _body(request: Request) -> Any:
    await request.app.state.limiter.check(request)
    return await json_body(request, request.app.state.settings.max_body_bytes)


@router.post(
    "/{estate}/proposals",
    status_code=201,
    summary="Propose a signed payload for co-signing (appended at once if already allowed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schemas.SignedPayloadIn.model_json_schema()}
            },
        }
    },
    responses={200: {"description": "nothing new: the proposal as it stands"}, **RESPONSES},
)
async def propose(estate: str, request: Request, svc: Svc) -> Response:
    item = signed_from(await _body(request), "$")
    return _answer(await run_in_threadpool(svc.propose, estate, item), 201)


@router.post(
    "/{estate}/proposals/{proposal_id}/signatures",
    summary="Add co-signatures; the entry is appended when the policy is satisfied",
    responses=RESPONSES,
)
async def cosign(estate: str, proposal_id: str, request: Request, svc: Svc) -> Response:
    o = Obj(await _body(request), "$", {"signatures"}, set())
    signatures = parse_signatures(o.raw("signatures"), "$.signatures")
    return _answer(await run_in_threadpool(svc.cosign, estate, proposal_id, signatures))


@router.post(
    "/{estate}/proposals/{proposal_id}:withdraw",
    summary="Withdraw a pending proposal (signed by one of the keys that made it)",
    responses=RESPONSES,
)
async def withdraw(estate: str, proposal_id: str, request: Request, svc: Svc) -> Response:
    o = Obj(await _body(request), "$", {"signature"}, set())
    signature = parse_signatures([o.raw("signature")], "$.signature")[0]
    return _answer(await run_in_threadpool(svc.withdraw, estate, proposal_id, signature))


def encode_proposal_cursor(created_at: str, proposal_id: str) -> str:
    """The opaque cursor after a proposal: base64url (no padding) of its time and id."""
    return encode_text(f"{created_at} {proposal_id}")


def decode_proposal_cursor(cursor: str) -> tuple[str, str]:
    """Undo :func:`encode_proposal_cursor`, refusing anything it would not have produced."""
    created_at, _, proposal_id = decode_text(cursor, 240).partition(" ")  # ids may hold spaces
    if _CURSOR_TIME.fullmatch(created_at) and 0 < len(proposal_id) <= 36:
        return created_at, proposal_id
    raise not_a_cursor()


_CURSOR_TIME = re.compile(r"[0-9T:.Z-]{1,32}")


@router.get(
    "/{estate}/proposals",
    summary="Proposals, oldest first, with who signed and who is missing",
    responses=RESPONSES,
)
def list_proposals(
    estate: str,
    svc: Svc,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=240, description="`next_cursor` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """One page of the estate's proposals (keyset pages: pass ``next_cursor`` back as
    ``cursor`` with the same ``status``; ``null`` on the last page)."""
    after = None if cursor is None else decode_proposal_cursor(cursor)
    views = svc.list_proposals(estate, status, after=after, limit=limit + 1)
    more = len(views) > limit
    views = views[:limit]
    last = views[-1].proposal if views else None
    return {
        "proposals": [proposal_json(v) for v in views],
        "next_cursor": (
            encode_proposal_cursor(last.created_at, last.id) if more and last else None
        ),
    }


@router.get("/{estate}/proposals/{proposal_id}", summary="One proposal")
def get_proposal(estate: str, proposal_id: str, svc: Svc) -> dict[str, Any]:
    return proposal_json(svc.list_proposals(estate, proposal_id=proposal_id)[0])
