"""What each resident page shows, read in-process from the ledger's storage layer.

Plain values for the templates (frozen dataclasses), computed inside one reader
session per page. Nothing here renders or trusts the browser; nothing here writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ledger.canonical import b64encode
from ledger.entry import parse_leaf
from ledger.payload import TRUST_ACCOUNT, GenesisBody, TransactionBody
from ledger.storage import overview, queries, reports
from ledger.storage.reader import LogReader
from ledger.storage.service import LedgerService


@dataclass(frozen=True)
class Bar:
    label: str
    amount: int
    width: str  # percent of the largest bar, for an SVG ``width``


@dataclass(frozen=True)
class BudgetBar:
    label: str
    type: str
    budget: int
    actual: int
    percent: str | None
    width: str
    over: bool


@dataclass(frozen=True)
class Collection:
    period: str
    paid: int
    due: int
    rate: str | None


@dataclass(frozen=True)
class Pending:
    id: str
    kind: str
    date: str
    memo: str
    amount: int
    missing: tuple[tuple[str, ...], ...]  # each: roles of which one must sign


@dataclass(frozen=True)
class StatementItem:
    period: str
    number: int
    issued_at: str
    size: int
    root: str
    check_url: str
    json_url: str
    pdf_url: str
    superseded_by: int | None


@dataclass(frozen=True)
class Overview:
    id: str
    name: str
    address: str
    households: int
    size: int
    trust_balance: int
    month: str
    month_income: int
    month_spending: int
    year: int
    year_income: int
    year_spending: int
    categories: tuple[Bar, ...]
    budget: tuple[BudgetBar, ...] | None
    collection: tuple[Collection, Collection]  # (last complete month, this month so far)
    statement: StatementItem | None
    pending: tuple[Pending, ...]


def genesis_of(r: LogReader) -> GenesisBody:
    body = parse_leaf(r.leaf(0)).payload.body
    assert isinstance(body, GenesisBody)
    return body


def _width(part: int, whole: int) -> str:
    return "0" if whole <= 0 else f"{min(100.0, max(0.0, 100 * part / whole)):.1f}%"


def estate_overview(svc: LedgerService, estate: str, today: dt.date) -> Overview:
    """The estate at a glance, as of the month of its latest transaction (else today's)."""
    with svc.reader(estate) as r:
        genesis = genesis_of(r)
        latest = overview.latest_date(r.session, estate)
        day = dt.date.fromisoformat(latest) if latest else today
        month = reports.parse_period(f"{day.year:04d}-{day.month:02d}")
        year = reports.parse_period(f"{day.year:04d}")
        m = reports.period_summary(r.session, estate, month)
        y = reports.period_summary(r.session, estate, year)
        top = max((c.amount for c in y.spending_by_category), default=0)
        categories = tuple(
            Bar(c.category, c.amount, _width(c.amount, top)) for c in y.spending_by_category
        )  # reversals fall under the category "reversal" (see reports.period_summary)
        balance = next(
            (b.balance for b in queries.balances(r.session, estate) if b.name == TRUST_ACCOUNT), 0
        )
        previous = reports.parse_period(f"{month.start - dt.timedelta(days=1):%Y-%m}")
        collection = (
            _collection(r, previous, genesis.households),
            _collection(r, month, genesis.households),
        )
        budget = _budget(reports.budget_report(r.session, estate, day.year))
        statement = next(iter(statement_list(r, estate, today)[0]), None)
        size = r.size
    return Overview(
        id=estate,
        name=genesis.name,
        address=genesis.address,
        households=genesis.households,
        size=size,
        trust_balance=balance,
        month=month.text,
        month_income=m.income,
        month_spending=m.spending,
        year=day.year,
        year_income=y.income,
        year_spending=y.spending,
        categories=categories,
        budget=budget,
        collection=collection,
        statement=statement,
        pending=pending(svc, estate),
    )


def _collection(r: LogReader, month: reports.Period, due: int) -> Collection:
    paid = overview.households_paid(r.session, r.estate, month)
    return Collection(month.text, paid, due, reports.percent(paid, due))


def _budget(report: reports.BudgetReport | None) -> tuple[BudgetBar, ...] | None:
    if report is None:
        return None
    return tuple(
        BudgetBar(
            line.display_name or line.account,
            line.type,
            line.budget,
            line.actual,
            line.percent_used,
            _width(line.actual, line.budget),
            line.type == "expense" and line.actual > line.budget,
        )
        for line in report.lines
        if line.type in ("income", "expense")
    )


def pending(svc: LedgerService, estate: str) -> tuple[Pending, ...]:
    """Proposals waiting for signatures, with the roles still missing."""
    out = []
    for v in svc.list_proposals(estate, "pending"):
        p = v.proposal.payload
        amount = 0
        if isinstance(p.body, TransactionBody):
            amount = sum(x.amount for x in p.body.postings if x.amount > 0)
        missing = tuple(tuple(m.split("|")) for m in v.missing)
        out.append(Pending(v.proposal.id, p.kind, p.date.isoformat(), p.memo, amount, missing))
    return tuple(out)


# -- statements (the statements package may not exist yet) -------------------------------------


def _plain(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if hasattr(item, "__dataclass_fields__"):
        return {k: getattr(item, k) for k in item.__dataclass_fields__}
    return dict(vars(item))


def _root_b64url(root: Any) -> str:
    raw = root if isinstance(root, bytes) else base64.b64decode(str(root))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _statement_item(estate: str, raw: Any) -> StatementItem:
    item = _plain(raw)
    cp = _plain(item["checkpoint"])
    root = cp["root"]
    period = str(item["period"])
    base = f"/v1/estates/{estate}/statements/{period}"
    return StatementItem(
        period=period,
        number=int(item.get("number", 1)),
        issued_at=str(item.get("issued_at", "")),
        size=int(cp["size"]),
        root=root if isinstance(root, str) else b64encode(root),
        check_url=f"/e/{estate}/check?size={int(cp['size'])}&root={_root_b64url(root)}",
        json_url=str(item.get("json") or base),
        pdf_url=str(item.get("pdf") or f"{base}.pdf"),
        superseded_by=item.get("superseded_by"),
    )


def statement_list(
    r: LogReader, estate: str, today: dt.date
) -> tuple[list[StatementItem], list[str]]:
    """(published statements newest first, closed periods), from ``statements.store``.

    Until that module exists the list is empty and the page says there is none.
    """
    try:
        from statements import store
    except ImportError:
        return [], []
    result = store.list_statements(r.session, estate)
    data: dict[str, Any] = (
        {"statements": result} if isinstance(result, list | tuple) else _plain(result)
    )
    items = [_statement_item(estate, s) for s in data.get("statements", [])]
    closed = data.get("closed_periods")
    if closed is None and hasattr(store, "closed_periods"):
        closed = store.closed_periods(r.session, estate, today)
    return items, [str(p) for p in closed or []]


# -- one entry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostingView:
    account: str
    display_name: str
    amount: int


@dataclass(frozen=True)
class VoucherView:
    sha256: str
    name: str
    media_type: str
    size: int
    redacted: tuple[int, str] | None


@dataclass(frozen=True)
class SignerView:
    key_id: str
    role: str | None
    holder: str | None


@dataclass(frozen=True)
class EntryView:
    estate: str
    estate_name: str
    seq: int
    size: int
    kind: str
    date: str
    recorded_at: str
    memo: str
    counterparty: str | None
    category: str | None
    household: bool
    postings: tuple[PostingView, ...]
    vouchers: tuple[VoucherView, ...]
    signers: tuple[SignerView, ...]
    reverses: int | None
    reversed_by: int | None
    details: tuple[tuple[str, str], ...]  # other kinds' fields, as (name, text)
    leaf_hash: str


def entry_view(svc: LedgerService, estate: str, seq: int) -> EntryView:
    with svc.reader(estate) as r:
        leaf = r.leaf(seq)
        entry = parse_leaf(leaf)
        names = {n: d for n, _, d in queries.chart(r.session, estate)}
        keys = {k.key_id: k for k in queries.keys(r.session, estate)}
        p, body = entry.payload, entry.payload.body
        vouchers = tuple(
            VoucherView(
                v.sha256, v.name, v.media_type, v.size, svc.redaction(r.session, estate, v.sha256)
            )
            for v in p.vouchers
        )
        postings: tuple[PostingView, ...] = ()
        counterparty = category = None
        if isinstance(body, TransactionBody):
            postings = tuple(
                PostingView(x.account, names.get(x.account, ""), x.amount) for x in body.postings
            )
            counterparty, category = body.counterparty, body.category
        reversed_by = r.view.reversed_by(seq)
        name, size = r.row.name, r.size
    raw_body = p.raw.get("body", {})
    details = tuple(
        (k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=1))
        for k, v in raw_body.items()
        if k not in ("postings", "counterparty", "category", "household")
    )
    return EntryView(
        estate=estate,
        estate_name=name,
        seq=seq,
        size=size,
        kind=p.kind,
        date=p.date.isoformat(),
        recorded_at=entry.recorded_at,
        memo=p.memo,
        counterparty=counterparty,
        category=category,
        household=isinstance(body, TransactionBody) and body.household is not None,
        postings=postings,
        vouchers=vouchers,
        signers=tuple(
            SignerView(
                s.key,
                getattr(keys.get(s.key), "role", None),
                getattr(keys.get(s.key), "holder", None),
            )
            for s in entry.signatures
        ),
        reverses=getattr(body, "target", None) if p.kind == "reversal" else None,
        reversed_by=reversed_by,
        details=details,
        leaf_hash=b64encode(entry.leaf_hash()),
    )
