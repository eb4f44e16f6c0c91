"""Reports for people: a period's income and spending, budget against actual, receipts.

Figures are integer fen from the derived tables (``postings``, ``entry_facts``),
by business date; every one can be recomputed from the leaves. Signs: income is
the net credit to income accounts (``-Σ amount``), spending the net debit to
expense accounts (``Σ amount``), so a reversal lowers what it reverses. The caller
owns the session; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from ledger.canonical import b64encode
from ledger.entry import parse_leaf
from ledger.payload import TRUST_ACCOUNT, BudgetBody, TransactionBody
from ledger.statement import CREDIT_NORMAL, Period, parse_period, percent
from ledger.storage.aggregates import Piece, balances_at, read
from ledger.storage.models import EntryFactRow, EntryRow, PostingRow, ReversalRow
from ledger.storage.queries import chart

__all__ = ["Period", "parse_period", "percent"]


# -- period summary ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountAmount:
    account: str
    display_name: str
    amount: int


@dataclass(frozen=True)
class CategoryAmount:
    category: str
    amount: int


@dataclass(frozen=True)
class PeriodSummary:
    period: Period
    count: int  # transactions and reversals dated in the period
    reversals: int  # of which reversals
    income: int
    spending: int
    income_by_account: tuple[AccountAmount, ...]
    spending_by_account: tuple[AccountAmount, ...]
    income_by_category: tuple[CategoryAmount, ...]
    spending_by_category: tuple[CategoryAmount, ...]
    trust_opening: int  # balance of the co-managed account at the end of the day before
    trust_closing: int  # … and at the end of the period's last day


def period_summary(session: Session, estate: str, period: Period) -> PeriodSummary:
    """Income and spending of ``period`` by account and by category, and the trust account.

    A reversal's postings fall under the category ``reversal`` (its entry's), dated
    on the reversal's own date.
    """
    f = EntryFactRow
    start, end = period.start.isoformat(), period.end.isoformat()
    accounts = {n: (t, d) for n, t, d in chart(session, estate)}
    by_account, by_category = _flows(session, estate, period, accounts)
    count, reversals = session.execute(
        select(
            func.count(), func.coalesce(func.sum(case((f.kind == "reversal", 1), else_=0)), 0)
        ).where(f.estate_id == estate, f.date >= start, f.date <= end)
    ).one()
    trust = [TRUST_ACCOUNT]  # balances from the maintained totals (whole months)
    before = period.start - dt.timedelta(days=1) if period.start > dt.date.min else None
    opening = (
        0 if before is None else balances_at(session, estate, trust, before).get(TRUST_ACCOUNT, 0)
    )
    closing = balances_at(session, estate, trust, period.end).get(TRUST_ACCOUNT, 0)

    def accounts_of(kind: str) -> tuple[AccountAmount, ...]:
        return tuple(
            AccountAmount(a, accounts[a][1], n)
            for a, n in sorted(by_account.items())
            if accounts[a][0] == kind
        )

    def categories_of(kind: str) -> tuple[CategoryAmount, ...]:
        items = [(c, n) for (k, c), n in by_category.items() if k == kind]
        return tuple(CategoryAmount(c, n) for c, n in sorted(items, key=lambda x: (-x[1], x[0])))

    income, spending = accounts_of("income"), accounts_of("expense")
    return PeriodSummary(
        period=period,
        count=int(count),
        reversals=int(reversals),
        income=sum(a.amount for a in income),
        spending=sum(a.amount for a in spending),
        income_by_account=income,
        spending_by_account=spending,
        income_by_category=categories_of("income"),
        spending_by_category=categories_of("expense"),
        trust_opening=int(opening),
        trust_closing=int(closing),
    )


def _flows(
    session: Session, estate: str, period: Period, accounts: dict[str, tuple[str, str]]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Income (credits positive) and spending of the period by account and by (type, category)."""
    f, p = EntryFactRow, PostingRow
    flows = [n for n, (t, _) in accounts.items() if t in ("income", "expense")]
    groups = session.execute(
        select(f.category, p.account, func.sum(p.amount))
        .join(f, and_(f.estate_id == p.estate_id, f.seq == p.seq))
        .where(
            p.estate_id == estate,
            p.account.in_(flows),
            p.date >= period.start.isoformat(),
            p.date <= period.end.isoformat(),
        )
        .group_by(f.category, p.account)
    )
    by_account: dict[str, int] = {}
    by_category: dict[tuple[str, str], int] = {}
    for category, account, total in groups:
        kind = accounts[account][0]
        amount = -int(total) if kind == "income" else int(total)
        by_account[account] = by_account.get(account, 0) + amount
        by_category[kind, category] = by_category.get((kind, category), 0) + amount
    return by_account, by_category


# -- budget against actual --------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    """One account's budget and actual for the year, both counted in the account's direction.

    ``variance = actual - budget`` (positive: spent more than budgeted, or took in
    more than expected); ``percent_used`` is ``actual / budget`` in percent with one
    decimal, rounded half up, as a string (``None`` when the budget is zero).
    """

    account: str
    display_name: str
    type: str
    budget: int
    actual: int
    variance: int
    percent_used: str | None


@dataclass(frozen=True)
class BudgetReport:
    year: int
    seq: int  # the budget entry (the latest for the year)
    date: str
    lines: tuple[BudgetLine, ...]
    unbudgeted: tuple[BudgetLine, ...]  # income and expense accounts with actuals, no budget


def latest_budget(session: Session, estate: str, year: int) -> tuple[int, str, BudgetBody] | None:
    """(seq, date, body) of the last ``budget`` entry for ``year``, or ``None``."""
    rows = session.execute(
        select(EntryRow.seq, EntryRow.date, EntryRow.leaf)
        .where(EntryRow.estate_id == estate, EntryRow.kind == "budget")
        .order_by(EntryRow.seq.desc())
    )
    for seq, date, leaf in rows:
        body = parse_leaf(leaf).payload.body
        if isinstance(body, BudgetBody) and body.year == year:
            return seq, date, body
    return None


def budget_report(session: Session, estate: str, year: int) -> BudgetReport | None:
    """The year's latest budget against the postings dated in that year, or ``None``."""
    found = latest_budget(session, estate, year)
    if found is None:
        return None
    seq, date, body = found
    accounts = {n: (t, d) for n, t, d in chart(session, estate)}
    budgeted = {line.account: line.amount for line in body.lines}
    wanted = set(budgeted) | {n for n, (t, _) in accounts.items() if t in ("income", "expense")}
    rows = read(
        session, estate, "account", sorted(wanted), [Piece("year", f"{year:04d}", f"{year:04d}")]
    )
    totals = {account: figures[4] for account, figures in rows.items()}  # Σ amount in the year

    def line(account: str, budget: int) -> BudgetLine:
        kind, display = accounts.get(account, ("", ""))
        total = totals.get(account, 0)
        actual = -total if kind in CREDIT_NORMAL else total
        return BudgetLine(
            account, display, kind, budget, actual, actual - budget, percent(actual, budget)
        )

    return BudgetReport(
        year=year,
        seq=seq,
        date=date,
        lines=tuple(line(a, n) for a, n in budgeted.items()),
        unbudgeted=tuple(line(a, 0) for a in sorted(totals) if a not in budgeted and totals[a]),
    )


# -- household receipts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    seq: int
    commitment: str
    date: str
    amount: int  # fen: the sum of the entry's positive postings
    leaf: bytes
    reversed_by: int | None


def find_receipt(session: Session, estate: str, seq: int, commitment: str) -> Receipt | None:
    """Entry ``seq`` if it is a transaction whose ``body.household`` is ``commitment``.

    The household is read from the leaf itself, not from the derived facts.
    """
    e, f, r = EntryRow, EntryFactRow, ReversalRow
    row = session.execute(
        select(e.leaf, e.date, f.amount, r.reversal_seq)
        .join(f, and_(f.estate_id == e.estate_id, f.seq == e.seq))
        .outerjoin(r, and_(r.estate_id == e.estate_id, r.target_seq == e.seq))
        .where(e.estate_id == estate, e.seq == seq, e.kind == "transaction")
    ).one_or_none()
    if row is None:
        return None
    leaf, date, amount, reversed_by = row
    body = parse_leaf(leaf).payload.body
    if not isinstance(body, TransactionBody) or body.household is None:
        return None
    if not hmac.compare_digest(b64encode(body.household), commitment):
        return None
    return Receipt(seq, commitment, date, int(amount), leaf, reversed_by)
