"""The public verification API (DESIGN.md): stable paths and JSON shapes, no token."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api import schemas
from api.deps import get_service
from api.problems import Problem
from ledger.canonical import b64encode
from ledger.entry import parse_leaf
from ledger.payload import GenesisBody
from ledger.statement import parse_period
from ledger.storage import queries
from ledger.storage.service import LedgerService

router = APIRouter(prefix="/v1/estates", tags=["verification"])
Svc = Annotated[LedgerService, Depends(get_service)]
MAX_SEQ = 2**53


def entry_json(seq: int, leaf: bytes) -> dict[str, Any]:
    return {"seq": seq, "leaf": b64encode(leaf), "entry": json.loads(leaf)}


def entry_body(seq: int, leaf: bytes) -> bytes:
    """:func:`entry_json` as ``JSONResponse`` encodes it, without decoding the leaf.

    A leaf is RFC 8785 JSON (sorted keys, integers, the same string escapes as the
    standard library's encoder with ``ensure_ascii=False``), so embedding its bytes
    gives exactly what decoding and re-encoding it would (tested on whole logs).
    """
    return b'{"seq":%d,"leaf":"%s","entry":%s}' % (seq, base64.b64encode(leaf), leaf)


def entries_body(
    entries: Iterable[tuple[int, bytes]], head: bytes = b'{"entries":[', tail: bytes = b"]}"
) -> bytes:
    """A JSON array of :func:`entry_body` objects between ``head`` and ``tail``."""
    return head + b",".join(entry_body(seq, leaf) for seq, leaf in entries) + tail


def json_response(
    body: bytes, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Pre-encoded JSON: no response model validation, no second encoding."""
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


@router.get("", response_model=schemas.EstateList, summary="All estates")
def list_estates(svc: Svc) -> dict[str, Any]:
    return {"estates": [{"id": e.id, "name": e.name, "origin": e.origin} for e in svc.estates()]}


@router.get(
    "/{estate}", response_model=schemas.EstateDetails, summary="An estate: chart, balances, keys"
)
def estate_details(estate: str, svc: Svc) -> dict[str, Any]:
    with svc.reader(estate) as r:
        genesis = parse_leaf(r.leaf(0)).payload.body
        assert isinstance(genesis, GenesisBody)
        cp = r.latest_checkpoint()
        return {
            "id": r.estate,
            "name": r.row.name,
            "address": genesis.address,
            "currency": genesis.currency,
            "households": genesis.households,
            "origin": r.row.origin,
            "vkey": r.row.vkey,
            "size": r.size,
            "checkpoint": {"size": cp.size, "root": b64encode(cp.root)},
            "policy": json.loads(r.row.policy),
            "accounts": [vars(b) for b in queries.balances(r.session, estate)],
            "keys": [
                {
                    "key_id": k.key_id,
                    "public_key": b64encode(k.public_key),
                    "role": k.role,
                    "holder": k.holder,
                    "added_seq": k.added_seq,
                    "revoked_seq": k.revoked_seq,
                }
                for k in queries.keys(r.session, estate)
            ],
        }


@router.get("/{estate}/log-key", response_model=schemas.LogKey, summary="The log's verifier key")
def log_key(estate: str, svc: Svc) -> dict[str, str]:
    with svc.reader(estate) as r:
        return {"origin": r.row.origin, "vkey": r.row.vkey}


@router.get(
    "/{estate}/log-keys",
    response_model=schemas.LogKeyHistory,
    summary="Every log key, the size it took over at, and its hand-over note",
)
def log_keys(estate: str, svc: Svc) -> dict[str, Any]:
    """How to follow rotations: the checkpoint of size ``s`` is signed by the key with
    the greatest ``from_size`` below ``s``; each later key's ``handover`` is the
    checkpoint of size ``from_size`` signed by both the key before and this key."""
    origin, keys = svc.log_key_history(estate)
    return {
        "origin": origin,
        "keys": [{"vkey": k.vkey, "from_size": k.from_size, "handover": k.handover} for k in keys],
    }


@router.get(
    "/{estate}/checkpoint",
    response_class=PlainTextResponse,
    summary="Latest signed checkpoint (C2SP tlog-checkpoint as a signed note)",
    responses={200: {"content": {"text/plain": {"example": schemas.CHECKPOINT_EXAMPLE}}}},
)
def checkpoint(estate: str, svc: Svc) -> Response:
    with svc.reader(estate) as r:
        note = r.latest_checkpoint().note
    return PlainTextResponse(
        note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/{estate}/entries",
    response_model=schemas.EntriesPage,
    summary="Entries with their exact leaf bytes, in order",
)
def entries(
    estate: str,
    svc: Svc,
    start: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    with svc.reader(estate) as r:
        rows = r.leaves(start, limit)
        size = r.size
    nxt = start + len(rows) if start + len(rows) < size and rows else None
    return json_response(entries_body(rows, tail=b'],"next":%s}' % json.dumps(nxt).encode()))


@router.get("/{estate}/entries/{seq}", response_model=schemas.EntryItem, summary="One entry")
def entry(estate: str, seq: Annotated[int, Path(ge=0, le=MAX_SEQ)], svc: Svc) -> Response:
    with svc.reader(estate) as r:
        leaf = r.leaf(seq)
    return json_response(
        entry_body(seq, leaf), headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )


@router.get(
    "/{estate}/proofs/inclusion",
    response_model=schemas.InclusionProof,
    summary="RFC 9162 inclusion proof (audit path)",
)
def inclusion(
    estate: str,
    svc: Svc,
    seq: Annotated[int, Query(ge=0, le=MAX_SEQ)],
    tree_size: Annotated[int, Query(ge=0, le=MAX_SEQ)],
) -> dict[str, Any]:
    with svc.reader(estate) as r:
        hashes = r.inclusion_proof(seq, tree_size)
    return {"seq": seq, "tree_size": tree_size, "hashes": [b64encode(h) for h in hashes]}


@router.get(
    "/{estate}/proofs/consistency",
    response_model=schemas.ConsistencyProof,
    summary="RFC 9162 consistency proof",
)
def consistency(
    estate: str,
    svc: Svc,
    from_: Annotated[int, Query(alias="from", ge=0, le=MAX_SEQ)],
    to: Annotated[int, Query(ge=0, le=MAX_SEQ)],
) -> Any:
    with svc.reader(estate) as r:
        hashes = r.consistency_proof(from_, to)
    return JSONResponse({"from": from_, "to": to, "hashes": [b64encode(h) for h in hashes]})


@router.get(
    "/{estate}/vouchers/{sha256}",
    summary="A voucher's bytes",
    response_class=Response,
    responses={
        200: {
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}}
                for m in ("application/pdf", "image/jpeg", "image/png", "image/webp")
            }
        },
        410: {"description": "withdrawn by a later entry"},
    },
)
def voucher(estate: str, sha256: str, svc: Svc) -> Response:
    from api.vouchers import get_voucher

    return get_voucher(svc, estate, sha256)


@router.get(
    "/{estate}/statements",
    response_model=schemas.StatementList,
    summary="Published statements, and the closed periods that can be asked for",
)
def statements(estate: str, svc: Svc) -> dict[str, Any]:
    from statements import store

    today = store.today_in_china(svc.clock())
    with svc.reader(estate) as r:
        return {
            "statements": store.list_statements(r.session, estate),
            "closed_periods": store.closed_periods(r.session, estate, today),
        }


@router.get(
    "/{estate}/statements/{period}",
    summary="A period's statement: signed JSON, or its signed PDF with `.pdf`",
    description=(
        "Produced at the latest checkpoint on first request for a closed period and "
        "never changed afterwards; a correction is a new `number` for the same period "
        "(the latest is served unless `number` is given). `{period}.pdf` serves the PDF "
        "(`lang=zh` by default, or `en`)."
    ),
    responses={
        200: {"content": {"application/json": {}, "application/pdf": {}}},
        409: {"description": "the period has not ended yet"},
    },
)
def statement(
    estate: str,
    period: Annotated[str, Path(max_length=16)],
    request: Request,
    svc: Svc,
    number: Annotated[int | None, Query(ge=1, le=1000)] = None,
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
) -> Response:
    from statements import store

    svc.require_estate(estate)
    as_pdf = period.endswith(".pdf")
    text = period.removesuffix(".pdf")
    if number is None:
        found = store.publish(svc, estate, text)
    else:
        with svc.reader(estate) as r:
            numbered = store.find(r.session, estate, parse_period(text).text, number)
        if numbered is None:
            raise Problem("not-found", f"statement {text} number {number} does not exist")
        found = numbered
    cache = "public, max-age=31536000, immutable" if number else "public, max-age=300"
    if as_pdf:
        settings = request.app.state.settings
        data = store.pdf(svc, estate, found, lang, settings.public_base_url)
        name = f"{estate}-{found.period}-{found.number}{'' if lang == 'zh' else '-en'}.pdf"
        return Response(
            data,
            media_type="application/pdf",
            headers={
                "Cache-Control": cache,
                "Content-Disposition": f'inline; filename="{name}"',
            },
        )
    return Response(found.document, media_type="application/json", headers={"Cache-Control": cache})
