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
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from ledger.storage import aggregates
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
    """Every account of the chart with its balance at the end of ``as_of`` (default: now).

    From the maintained totals (:mod:`.aggregates`): one row per account now, whole
    years and months plus the days of ``as_of``'s month at a date.
    """
    accounts = list(
        session.scalars(
            select(AccountRow).where(AccountRow.estate_id == estate).order_by(AccountRow.name)
        )
    )
    totals = aggregates.balances_at(session, estate, [a.name for a in accounts], as_of)
    return [
        AccountBalance(
            a.name, a.type, a.display_name, a.opened_seq, a.closed_seq, totals.get(a.name, 0)
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


@dataclass(frozen=True)
class _Page:
    """A page's order and seq bounds, for a bounded account subquery."""

    descending: bool
    after: int | None
    below: int | None
    limit: int


def _conditions(
    session: Session, estate: str, flt: TxFilter, page: _Page | None = None
) -> list[ColumnElement[bool]]:
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
        conds.append(f.seq.in_(_account_seqs(estate, flt, names, page)) if names else false())
    return conds


def _account_seqs(
    estate: str, flt: TxFilter, names: Sequence[str], page: _Page | None
) -> Select[Any] | CompoundSelect[Any]:
    """The seqs of the entries with a posting to one of ``names``.

    A posting's date is its entry's, so dates narrow the postings read
    (``(estate_id, account, date)``). For a page filtered by the account alone, each
    account contributes its first ``limit`` seqs in the page's order (one bounded
    range of ``(estate_id, account, seq)`` each): the page is among them.
    """
    p = PostingRow
    where = [p.estate_id == estate]
    if flt.date_from is not None:
        where.append(p.date >= flt.date_from.isoformat())
    if flt.date_to is not None:
        where.append(p.date <= flt.date_to.isoformat())
    alone = replace(flt, account=None) == TxFilter()
    if page is None or not alone:
        return select(p.seq).where(*where, p.account.in_(names))
    if page.after is not None:
        where.append(p.seq < page.after if page.descending else p.seq > page.after)
    if page.below is not None:
        where.append(p.seq < page.below)
    parts = [
        select(p.seq)
        .distinct()
        .where(*where, p.account == name)
        .order_by(p.seq.desc() if page.descending else p.seq.asc())
        .limit(page.limit)
        .subquery()
        for name in names
    ]
    return union_all(*(select(part.c.seq) for part in parts))


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
    conds = _conditions(session, estate, flt, _Page(descending, after, below, limit))
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

    As :func:`transaction_totals_by_rows` defines them. Filtered by dates, a
    ``category`` or an ``account`` (with or without dates), they come from the totals
    the append maintains (:mod:`.aggregates`): whole years and months from
    ``period_totals``, the days of a partial month at either end from the rows of
    those days. Any other filter (``counterparty``, ``text``, ``category`` with
    ``account``) sums the matching rows.
    """
    key = _totals_key(flt)
    if key is None:
        return transaction_totals_by_rows(session, estate, flt)
    c = aggregates.cover(flt.date_from, flt.date_to)
    got = aggregates.read(session, estate, key[0], [key[1]], c.pieces).get(key[1])
    total = TxTotals(0, 0, 0, 0) if got is None else TxTotals(got[0], got[2], got[3], got[1])
    for first, last in c.days:
        edge = _edge_totals(session, estate, replace(flt, date_from=first, date_to=last))
        total = TxTotals(
            total.count + edge.count,
            total.income + edge.income,
            total.spending + edge.spending,
            total.net_trust + edge.net_trust,
        )
    return total


def _totals_key(flt: TxFilter) -> tuple[str, str] | None:
    """The ``(dim, name)`` of ``period_totals`` that answers ``flt``'s totals, if one does."""
    if flt.counterparty or flt.text:
        return None
    if flt.category is not None:
        return None if flt.account else ("category", flt.category)
    return ("account", flt.account) if flt.account else ("all", "")


def _flows(session: Session, estate: str) -> tuple[list[str], list[str]]:
    """The chart's income and expense accounts."""
    accounts = chart(session, estate)
    income = [n for n, t, _ in accounts if t == "income"]
    return income, [n for n, t, _ in accounts if t == "expense"]


def _sums(
    income: list[str], expense: list[str], match: ColumnElement[bool] | None = None
) -> tuple[ColumnElement[Any], ...]:
    """count, net_trust, income, spending over facts joined with their postings; a fact's
    own figures are taken once, on its posting line 0 (every fact has one)."""
    f, p = EntryFactRow, PostingRow
    first = p.line == 0 if match is None else and_(match, p.line == 0)
    inc = p.account.in_(income) if match is None else and_(match, p.account.in_(income))
    spent = p.account.in_(expense) if match is None else and_(match, p.account.in_(expense))
    return (
        func.coalesce(func.sum(case((first, 1), else_=0)), 0),
        func.coalesce(func.sum(case((first, f.trust_delta), else_=0)), 0),
        func.coalesce(func.sum(case((inc, -p.amount), else_=0)), 0),
        func.coalesce(func.sum(case((spent, p.amount), else_=0)), 0),
    )


def _edge_totals(session: Session, estate: str, flt: TxFilter) -> TxTotals:
    """Totals of a few days (a partial month), read through the date indexes whatever
    else filters: the days' facts by ``(estate_id, date)``, then their postings."""
    income, expense = _flows(session, estate)
    if flt.dates_only:
        return _totals_by_date(
            session, estate, flt, _conditions(session, estate, flt), income, expense
        )
    assert flt.date_from is not None and flt.date_to is not None
    f, p = EntryFactRow, PostingRow
    where = [
        f.estate_id == estate,
        f.date >= flt.date_from.isoformat(),
        f.date <= flt.date_to.isoformat(),
    ]
    match = None
    if flt.category is not None:
        # In the sums, not the WHERE: there the planner may read the category's whole
        # history by (estate_id, category) instead of the days by (estate_id, date).
        match = f.category == flt.category
    else:
        assert flt.account
        names = accounts_under([n for n, _, _ in chart(session, estate)], flt.account)
        if not names:
            return TxTotals(0, 0, 0, 0)
        q = aliased(PostingRow)
        where.append(
            exists().where(q.estate_id == f.estate_id, q.seq == f.seq, q.account.in_(names))
        )
    count, net, inc, spent = session.execute(
        select(*_sums(income, expense, match))
        .select_from(f)
        .join(p, and_(p.estate_id == f.estate_id, p.seq == f.seq))
        .where(*where)
    ).one()
    return TxTotals(int(count), int(inc), int(spent), int(net))


def transaction_totals_by_rows(
    session: Session, estate: str, flt: TxFilter = TxFilter()
) -> TxTotals:
    """Totals over every transaction and reversal matching ``flt``, summed from the rows.

    - ``count``: the matching entries;
    - ``income``: the net credit to income accounts (type ``income``, ``Income:*``)
      by the matching entries, ``-Σ amount`` of those postings; reversing income
      thus lowers it;
    - ``spending``: the net debit to expense accounts (``Expenses:*``), ``Σ amount``
      of those postings; reversing a payment lowers it;
    - ``net_trust``: ``Σ trust_delta``, the net change of the co-managed account.

    Income and spending take every posting of a matching entry: with an ``account``
    filter, an entry's postings to other income or expense accounts count too.
    O(matching rows): :func:`transaction_totals` uses it only for the filters the
    maintained totals cannot answer; it is also their reference in the tests.
    """
    income, expense = _flows(session, estate)
    conds = _conditions(session, estate, flt)
    if flt.dates_only:
        return _totals_by_date(session, estate, flt, conds, income, expense)
    f, p = EntryFactRow, PostingRow
    count, net, inc, spent = session.execute(
        select(*_sums(income, expense))
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
    income: list[str],
    expense: list[str],
) -> TxTotals:
    """Totals when only dates filter: a posting's date is its entry's, so no join."""
    f, p = EntryFactRow, PostingRow
    count, net = session.execute(
        select(func.count(), func.coalesce(func.sum(f.trust_delta), 0)).where(*conds)
    ).one()
    where = [p.estate_id == estate, p.account.in_(income + expense)]
    if flt.date_from is not None:
        where.append(p.date >= flt.date_from.isoformat())
    if flt.date_to is not None:
        where.append(p.date <= flt.date_to.isoformat())
    inc, spent = session.execute(select(*_sums(income, expense)[2:]).where(*where)).one()
    return TxTotals(int(count), int(inc), int(spent), int(net))
