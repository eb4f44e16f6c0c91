"""The queries people need (tag "queries"): public, no token, read-only.

Transactions with filters and keyset paging (and as CSV), balances at a date, a
period's summary, budget against actual, and a household's receipt check. The SQL
lives in :mod:`ledger.storage.queries` and :mod:`ledger.storage.reports`; this
module reads parameters strictly and shapes JSON.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api import schemas_query as sq
from api.csv_export import csv_text
from api.cursors import decode_text, encode_text, not_a_cursor
from api.deps import get_service
from api.problems import Problem
from ledger.canonical import b64encode, check_text
from ledger.errors import InvalidInput
from ledger.household import make_commitment, parse_receipt_code
from ledger.payload import TRUST_ACCOUNT
from ledger.storage import queries, reports
from ledger.storage.queries import TxFilter, TxRow
from ledger.storage.service import LedgerService

router = APIRouter(prefix="/v1/estates", tags=["queries"])
Svc = Annotated[LedgerService, Depends(get_service)]
CSV_PAGE = 500
ACCOUNT_PREFIX = re.compile(r"(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)*")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NO_STORE = {"Cache-Control": "no-store"}


# -- parameters -------------------------------------------------------------------------------


def parse_date(value: str, field: str) -> dt.date:
    """A calendar date written exactly ``YYYY-MM-DD``."""
    try:
        if ISO_DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidInput(f"{field}: expected a date YYYY-MM-DD, got {value!r}", field=field)


def encode_cursor(seq: int) -> str:
    """The opaque cursor after ``seq``: base64url (no padding) of its decimal digits."""
    return encode_text(str(seq))


def decode_cursor(cursor: str) -> int:
    """Undo :func:`encode_cursor`, refusing anything it would not have produced."""
    digits = decode_text(cursor, 24)
    if digits.isascii() and digits.isdigit() and encode_cursor(int(digits)) == cursor:
        return int(digits)
    raise not_a_cursor()


def tx_filter(
    from_: Annotated[str | None, Query(alias="from", description="first date, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="last date (inclusive), YYYY-MM-DD")] = None,
    account: Annotated[
        str | None,
        Query(
            max_length=200,
            description="entries with a posting to this account or below it, "
            "by whole segments: `Expenses`, `Income:Public`",
        ),
    ] = None,
    category: Annotated[str | None, Query(max_length=64, description="exact category")] = None,
    counterparty: Annotated[
        str | None, Query(max_length=200, description="substring of the counterparty")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="substring of memo, counterparty, category")
    ] = None,
) -> TxFilter:
    """The filters shared by the JSON and CSV lists, read strictly."""
    for name, value in (("category", category), ("counterparty", counterparty), ("q", q)):
        if value is not None:
            check_text(value, name)
    if account is not None and not ACCOUNT_PREFIX.fullmatch(account):
        raise InvalidInput(
            f"account: {account!r} is not an account name or prefix", field="account"
        )
    start = None if from_ is None else parse_date(from_, "from")
    end = None if to is None else parse_date(to, "to")
    return TxFilter(start, end, account, category, counterparty or None, q or None)


Filter = Annotated[TxFilter, Depends(tx_filter)]
Order = Annotated[
    Literal["desc", "asc"], Query(description="`desc`: newest first (default); `asc`")
]


# -- transactions -----------------------------------------------------------------------------


def transaction_json(row: TxRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "date": row.date,
        "kind": row.kind,
        "category": row.category,
        "counterparty": row.counterparty,
        "memo": row.memo,
        "postings": [vars(p) for p in row.postings],
        "amount": row.amount,
        "trust_delta": row.trust_delta,
        "trust_balance": row.trust_balance,
        "vouchers": [vars(v) for v in row.vouchers],
        "leaf_hash": b64encode(row.leaf_hash),
        "reversed_by": row.reversed_by,
        "reverses": row.reverses,
    }


@router.get(
    "/{estate}/transactions",
    response_model=sq.TransactionPage,
    summary="Transactions and reversals, filtered, with running balances",
)
def transactions(
    estate: str,
    svc: Svc,
    flt: Filter,
    order: Order = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=24, description="`next_cursor` of the previous page")
    ] = None,
) -> Response:
    """One page of the estate's transactions and reversals, and totals over all that match.

    Pages follow ``seq`` (keyset): pass ``next_cursor`` back as ``cursor`` with the
    same filters and order. ``sum`` covers every matching entry, not only the page:
    ``income`` is the net credit to ``Income:*`` accounts (``-Σ`` of those postings),
    ``spending`` the net debit to ``Expenses:*`` (``Σ`` of those postings), both over
    every posting of each matching entry, so reversals count against what they
    reverse; ``net_trust`` is ``Σ trust_delta``.
    """
    after = None if cursor is None else decode_cursor(cursor)
    with svc.reader(estate) as r:
        rows = queries.list_transactions(
            r.session, estate, flt, descending=order == "desc", after=after, limit=limit + 1
        )
        totals = queries.transaction_totals(r.session, estate, flt)
    more = len(rows) > limit
    rows = rows[:limit]
    return JSONResponse(
        {
            "transactions": [transaction_json(row) for row in rows],
            "next_cursor": encode_cursor(rows[-1].seq) if more else None,
            "sum": vars(totals),
        }
    )


@router.get(
    "/{estate}/transactions.csv",
    summary="All matching transactions as CSV (UTF-8 with BOM, Chinese header)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def transactions_csv(estate: str, svc: Svc, flt: Filter, order: Order = "desc") -> Response:
    """Every matching row, streamed in keyset pages; amounts in yuan (see ``api.csv_export``).

    The export ends at the log's size when it starts, so entries appended meanwhile
    do not shift it.
    """
    with svc.reader(estate) as r:
        size = r.size

    def chunks() -> Iterator[bytes]:
        yield csv_text([], header=True).encode("utf-8")
        after: int | None = None
        while True:
            with svc.session() as s:
                rows = queries.list_transactions(
                    s,
                    estate,
                    flt,
                    descending=order == "desc",
                    after=after,
                    below=size,
                    limit=CSV_PAGE,
                    details=False,
                )
            if rows:
                yield csv_text(rows).encode("utf-8")
            if len(rows) < CSV_PAGE:
                return
            after = rows[-1].seq

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{estate}-transactions.csv"'},
    )


# -- balances, summary, budget ----------------------------------------------------------------


@router.get(
    "/{estate}/balances", response_model=sq.BalancesOut, summary="Every account's balance at a date"
)
def balances(
    estate: str,
    svc: Svc,
    date: Annotated[str | None, Query(description="YYYY-MM-DD; default: now")] = None,
) -> dict[str, Any]:
    """Each account of the chart with its balance at the end of ``date`` (business dates)."""
    as_of = None if date is None else parse_date(date, "date")
    with svc.reader(estate) as r:
        return {
            "date": date,
            "size": r.size,
            "accounts": [vars(b) for b in queries.balances(r.session, estate, as_of)],
        }


@router.get(
    "/{estate}/summary",
    response_model=sq.SummaryOut,
    summary="A period's income and spending, by account and category",
)
def summary(
    estate: str,
    svc: Svc,
    period: Annotated[str, Query(max_length=16, description="`2026-10`, `2026-Q4` or `2026`")],
) -> dict[str, Any]:
    """Income and spending by account and by category, the trust account's opening and
    closing balance, and the number of transactions (reversals included) of the period."""
    p = reports.parse_period(period)
    with svc.reader(estate) as r:
        s = reports.period_summary(r.session, estate, p)
    return {
        "period": p.text,
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "count": s.count,
        "reversals": s.reversals,
        "income": s.income,
        "spending": s.spending,
        "income_by_account": [vars(a) for a in s.income_by_account],
        "spending_by_account": [vars(a) for a in s.spending_by_account],
        "income_by_category": [vars(c) for c in s.income_by_category],
        "spending_by_category": [vars(c) for c in s.spending_by_category],
        "trust": {"account": TRUST_ACCOUNT, "opening": s.trust_opening, "closing": s.trust_closing},
    }


@router.get("/{estate}/budget", response_model=sq.BudgetOut, summary="Budget against actual")
def budget(estate: str, svc: Svc, year: Annotated[int, Query(ge=2000, le=2200)]) -> dict[str, Any]:
    """The year's latest ``budget`` entry against the postings dated in that year.

    Income (and other credit-normal) accounts count credits as positive;
    ``variance = actual - budget``; ``percent_used`` is a decimal string.
    """
    with svc.reader(estate) as r:
        report = reports.budget_report(r.session, estate, year)
    if report is None:
        raise Problem("not-found", f"estate {estate} has no budget for {year}", field="year")
    return {
        "year": report.year,
        "seq": report.seq,
        "date": report.date,
        "lines": [vars(line) for line in report.lines],
        "unbudgeted": [vars(line) for line in report.unbudgeted],
    }


# -- household receipts -----------------------------------------------------------------------


@router.get(
    "/{estate}/receipts/{code}",
    response_model=sq.ReceiptOut,
    summary="Check a household's fee receipt and prove it is in the log",
)
def receipt(estate: str, code: str, svc: Svc) -> Response:
    """Recompute the commitment from the receipt code ``<seq>-<salt>-<unit>`` and prove
    that entry ``seq`` carries it: the leaf, its inclusion proof and the latest checkpoint.

    A wrong code of any kind is the same ``receipt-not-found``; the code (it holds the
    household's salt) is masked in the access log and the answer is not cached.
    """
    not_found = Problem("receipt-not-found", "no fee receipt in this log matches the code")
    try:
        seq, salt, unit_id = parse_receipt_code(code)
    except InvalidInput:
        raise not_found from None
    commitment = make_commitment(salt, unit_id)
    with svc.reader(estate) as r:
        found = reports.find_receipt(r.session, estate, seq, commitment)
        if found is None:
            raise not_found
        cp = r.latest_checkpoint()
        hashes = r.inclusion_proof(seq, cp.size)
    body = {
        "seq": found.seq,
        "commitment": found.commitment,
        "date": found.date,
        "amount": found.amount,
        "leaf": b64encode(found.leaf),
        "reversed_by": found.reversed_by,
        "inclusion": {"tree_size": cp.size, "hashes": [b64encode(h) for h in hashes]},
        "checkpoint": cp.note,
    }
    return JSONResponse(body, headers=NO_STORE)
