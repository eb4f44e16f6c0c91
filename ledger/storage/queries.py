"""Read queries over the derived tables for people: accounts, balances, keys, transactions.

Every figure here can be recomputed from the leaves (the audit does); these
queries only make them fast, with indexes keyed by estate. Lists page by keyset on
``seq`` (never OFFSET) and never load the log into memory: a page costs its own
rows, a total one aggregate over the filtered rows. The caller owns the session
and its transaction; nothing here writes or commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from ledger.storage.models import (
    AccountRow,
    EntryFactRow,
    EntryRow,
    KeyRow,
    PostingRow,
    ReversalRow,
)


@dataclass(frozen=True)
class AccountBalance:
    name: str
    type: str
    display_name: str
    opened_seq: int
    closed_seq: int | None
    balance: int  # fen, Beancount sign convention (debit positive)


def balances(session: Session, estate: str, as_of: dt.date | None = None) -> list[AccountBalance]:
    """Every account of the chart with its balance at the end of ``as_of`` (default: now)."""
    sums = select(PostingRow.account, func.sum(PostingRow.amount).label("total")).where(
        PostingRow.estate_id == estate
    )
    if as_of is not None:
        sums = sums.where(PostingRow.date <= as_of.isoformat())
    totals = dict(session.execute(sums.group_by(PostingRow.account)).all())
    accounts = session.scalars(
        select(AccountRow).where(AccountRow.estate_id == estate).order_by(AccountRow.name)
    )
    return [
        AccountBalance(
            a.name, a.type, a.display_name, a.opened_seq, a.closed_seq, int(totals.get(a.name) or 0)
        )
        for a in accounts
    ]


def keys(session: Session, estate: str) -> list[KeyRow]:
    return list(
        session.scalars(
            select(KeyRow)
            .where(KeyRow.estate_id == estate)
            .order_by(KeyRow.added_seq, KeyRow.key_id)
        )
    )


# -- transactions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TxFilter:
    """Which transactions and reversals a list or a total covers; every given filter applies.

    Dates are the entries' business dates, both ends inclusive. ``account`` keeps
    entries with a posting to that account or one below it, by whole name segments
    (``Income:Public`` matches ``Income:Public:Parking``, not ``Income:PublicX``).
    ``category`` is exact; ``counterparty`` is a substring; ``text`` is a substring
    of the memo, the counterparty or the category. Substrings ignore ASCII case.
    """

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    account: str | None = None
    category: str | None = None
    counterparty: str | None = None
    text: str | None = None

    @property
    def dates_only(self) -> bool:
        return not (self.account or self.category is not None or self.counterparty or self.text)


@dataclass(frozen=True)
class PostingLine:
    account: str
    display_name: str
    amount: int  # fen, debit positive


@dataclass(frozen=True)
class VoucherRef:
    sha256: str
    name: str


@dataclass(frozen=True)
class TxRow:
    """A transaction or reversal as listed, with the trust account's balance after it."""

    seq: int
    date: str
    kind: str
    category: str
    counterparty: str
    memo: str
    amount: int  # fen: the sum of the entry's positive postings
    trust_delta: int  # fen: the entry's net change of the co-managed account
    trust_balance: int  # fen: the co-managed account's balance after the entry (in seq order)
    leaf_hash: bytes
    reversed_by: int | None
    reverses: int | None
    postings: tuple[PostingLine, ...] = ()
    vouchers: tuple[VoucherRef, ...] = ()


@dataclass(frozen=True)
class TxTotals:
    count: int
    income: int
    spending: int
    net_trust: int


def chart(session: Session, estate: str) -> list[tuple[str, str, str]]:
    """The chart of accounts as (name, type, display name), by name."""
    rows = session.execute(
        select(AccountRow.name, AccountRow.type, AccountRow.display_name)
        .where(AccountRow.estate_id == estate)
        .order_by(AccountRow.name)
    )
    return [(n, t, d) for n, t, d in rows]


def accounts_under(names: Sequence[str], prefix: str) -> list[str]:
    """The names equal to ``prefix`` or below it in the account tree."""
    return [n for n in names if n == prefix or n.startswith(prefix + ":")]


def _conditions(session: Session, estate: str, flt: TxFilter) -> list[ColumnElement[bool]]:
    f = EntryFactRow
    conds: list[ColumnElement[bool]] = [f.estate_id == estate]
    if flt.date_from is not None:
        conds.append(f.date >= flt.date_from.isoformat())
    if flt.date_to is not None:
        conds.append(f.date <= flt.date_to.isoformat())
    if flt.category is not None:
        conds.append(f.category == flt.category)
    if flt.counterparty:
        conds.append(f.counterparty.icontains(flt.counterparty, autoescape=True))
    if flt.text:
        conds.append(
            or_(
                *(
                    c.icontains(flt.text, autoescape=True)
                    for c in (f.memo, f.counterparty, f.category)
                )
            )
        )
    if flt.account:
        # The chart is small: resolve the prefix to names here, exactly and case-sensitively
        # on both engines, so the database can use (estate_id, account, seq).
        names = accounts_under([n for n, _, _ in chart(session, estate)], flt.account)
        if not names:
            conds.append(false())
        else:
            conds.append(
                f.seq.in_(
                    select(PostingRow.seq).where(
                        PostingRow.estate_id == estate, PostingRow.account.in_(names)
                    )
                )
            )
    return conds


def list_transactions(
    session: Session,
    estate: str,
    flt: TxFilter = TxFilter(),
    *,
    descending: bool = True,
    after: int | None = None,
    below: int | None = None,
    limit: int = 50,
    details: bool = True,
) -> list[TxRow]:
    """Up to ``limit`` transactions and reversals matching ``flt``, ordered by seq.

    ``after`` is the keyset cursor: the seq of the previous page's last row; the page
    holds the rows beyond it in the list's order. ``below`` keeps only seqs below it
    (a fixed end for an export while appends go on). Without ``details`` postings and
    vouchers stay empty and no leaf is read.
    """
    f, e = EntryFactRow, EntryRow
    by, of = ReversalRow.__table__.alias("by"), ReversalRow.__table__.alias("of")
    conds = _conditions(session, estate, flt)
    if after is not None:
        conds.append(f.seq < after if descending else f.seq > after)
    if below is not None:
        conds.append(f.seq < below)
    # Choose the page from entry_facts alone, then join its few rows: a join first lets
    # PostgreSQL merge-join the whole of ``entries`` up to the cursor.
    page = (
        select(f)
        .where(*conds)
        .order_by(f.seq.desc() if descending else f.seq.asc())
        .limit(limit)
        .subquery("page")
    )
    stmt = (
        select(
            page.c.seq,
            page.c.date,
            page.c.kind,
            page.c.category,
            page.c.counterparty,
            page.c.memo,
            page.c.amount,
            page.c.trust_delta,
            page.c.trust_balance,
            e.leaf_hash,
            by.c.reversal_seq.label("reversed_by"),
            of.c.target_seq.label("reverses"),
            (e.leaf if details else e.leaf_hash).label("leaf"),
        )
        .join(e, and_(e.estate_id == estate, e.seq == page.c.seq))
        .outerjoin(by, and_(by.c.estate_id == estate, by.c.target_seq == page.c.seq))
        .outerjoin(of, and_(of.c.estate_id == estate, of.c.reversal_seq == page.c.seq))
        .order_by(page.c.seq.desc() if descending else page.c.seq.asc())
    )
    rows = session.execute(stmt).all()
    if not details:
        return [_tx_row(r) for r in rows]
    lines = _posting_lines(session, estate, [r.seq for r in rows])
    return [_tx_row(r, lines.get(r.seq, ()), _vouchers(r.leaf)) for r in rows]


def _tx_row(
    r: Any, postings: tuple[PostingLine, ...] = (), vouchers: tuple[VoucherRef, ...] = ()
) -> TxRow:
    return TxRow(
        seq=r.seq,
        date=r.date,
        kind=r.kind,
        category=r.category,
        counterparty=r.counterparty,
        memo=r.memo,
        amount=r.amount,
        trust_delta=r.trust_delta,
        trust_balance=r.trust_balance,
        leaf_hash=r.leaf_hash,
        reversed_by=r.reversed_by,
        reverses=r.reverses,
        postings=postings,
        vouchers=vouchers,
    )


def _posting_lines(
    session: Session, estate: str, seqs: Sequence[int]
) -> dict[int, tuple[PostingLine, ...]]:
    if not seqs:
        return {}
    names = {n: d for n, _, d in chart(session, estate)}
    out: dict[int, list[PostingLine]] = {}
    rows = session.execute(
        select(PostingRow.seq, PostingRow.account, PostingRow.amount)
        .where(PostingRow.estate_id == estate, PostingRow.seq.in_(seqs))
        .order_by(PostingRow.seq, PostingRow.line)
    )
    for seq, account, amount in rows:
        out.setdefault(seq, []).append(PostingLine(account, names.get(account, ""), amount))
    return {seq: tuple(lines) for seq, lines in out.items()}


def _vouchers(leaf: bytes) -> tuple[VoucherRef, ...]:
    vouchers: list[dict[str, Any]] = json.loads(leaf)["payload"].get("vouchers", [])
    return tuple(VoucherRef(v["sha256"], v["name"]) for v in vouchers)


def transaction_totals(session: Session, estate: str, flt: TxFilter = TxFilter()) -> TxTotals:
    """Totals over every transaction and reversal matching ``flt`` (not one page).

    - ``count``: the matching entries;
    - ``income``: the net credit to income accounts (type ``income``, ``Income:*``)
      by the matching entries, ``-Σ amount`` of those postings; reversing income
      thus lowers it;
    - ``spending``: the net debit to expense accounts (``Expenses:*``), ``Σ amount``
      of those postings; reversing a payment lowers it;
    - ``net_trust``: ``Σ trust_delta``, the net change of the co-managed account.

    Income and spending take every posting of a matching entry: with an ``account``
    filter, an entry's postings to other income or expense accounts count too.
    """
    accounts = chart(session, estate)
    income = [n for n, t, _ in accounts if t == "income"]
    expense = [n for n, t, _ in accounts if t == "expense"]
    p = PostingRow
    flows = (
        func.coalesce(func.sum(case((p.account.in_(income), -p.amount), else_=0)), 0),
        func.coalesce(func.sum(case((p.account.in_(expense), p.amount), else_=0)), 0),
    )
    conds = _conditions(session, estate, flt)
    if flt.dates_only:
        return _totals_by_date(session, estate, flt, conds, flows, income + expense)
    # One pass over the matching facts joined with their postings; a fact's own
    # figures are taken once, on its posting line 0 (every fact has one).
    f, first = EntryFactRow, PostingRow.line == 0
    count, net, inc, spent = session.execute(
        select(
            func.coalesce(func.sum(case((first, 1), else_=0)), 0),
            func.coalesce(func.sum(case((first, f.trust_delta), else_=0)), 0),
            *flows,
        )
        .select_from(f)
        .join(p, and_(p.estate_id == f.estate_id, p.seq == f.seq))
        .where(*conds)
    ).one()
    return TxTotals(int(count), int(inc), int(spent), int(net))


def _totals_by_date(
    session: Session,
    estate: str,
    flt: TxFilter,
    conds: list[ColumnElement[bool]],
    flows: tuple[ColumnElement[Any], ColumnElement[Any]],
    accounts: list[str],
) -> TxTotals:
    """Totals when only dates filter: a posting's date is its entry's, so no join."""
    f, p = EntryFactRow, PostingRow
    count, net = session.execute(
        select(func.count(), func.coalesce(func.sum(f.trust_delta), 0)).where(*conds)
    ).one()
    where = [p.estate_id == estate, p.account.in_(accounts)]
    if flt.date_from is not None:
        where.append(p.date >= flt.date_from.isoformat())
    if flt.date_to is not None:
        where.append(p.date <= flt.date_to.isoformat())
    inc, spent = session.execute(select(*flows).where(*where)).one()
    return TxTotals(int(count), int(inc), int(spent), int(net))
