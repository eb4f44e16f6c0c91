"""Totals by business period, kept by the append: the ``period_totals`` table.

Resident queries that add up the whole history — balances, the trust account's
opening and closing balance, the totals of the transaction list — would cost
O(log) on every call. Instead each append adds its entries' figures to one row per
(dimension, key, span, period), in the append's transaction, so a total over any
date range reads O(years + months) rows plus the postings of at most two partial
months at its edges (:func:`cover`).

Rows (every figure an exact integer, amounts in fen):

- ``dim`` ``all`` (``name`` ``""``): every transaction and reversal;
  ``category``: those of category ``name`` (a reversal's is ``reversal``);
  ``account``: those with a posting to ``name`` or to an account below it, where
  ``name`` is an account or a prefix of one by whole segments (``Income``,
  ``Income:Public``, ``Income:Public:Parking``); an entry counts once per prefix.
- ``span`` ``all`` (``period`` ``""``), ``year`` (``YYYY``) or ``month``
  (``YYYY-MM``) of the entries' business dates: each entry is in three rows per key.
- ``entries``: how many; ``trust_delta``: ``Σ`` of their net change of the trust
  account; ``income``: ``-Σ amount`` of their postings to income accounts;
  ``spending``: ``Σ amount`` of their postings to expense accounts (all postings of
  each entry, as :func:`ledger.storage.queries.transaction_totals` defines them);
  ``amount`` (dim ``account`` only, else 0): ``Σ amount`` of the postings to exactly
  the account ``name`` — its balance change.

The table is derived and mutable (upserts), unlike the append-only tables; the
audit recomputes it from the leaves (``audits/checks_aggregates.py``) and migration
0007 builds it for logs appended before it existed. :func:`entry_rows` and
:func:`cover` are pure; :func:`write` adds a batch in the caller's transaction and
:func:`read` / :func:`balances_at` read in the caller's session (they never commit).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.orm import Session

from ledger.payload import ACCOUNT_ROOTS
from ledger.storage.models import PeriodTotalRow, PostingRow
from ledger.storage.rawsql import Insert

Key = tuple[str, str]
"""``(dim, name)``."""
Figures = list[int]
"""``[entries, trust_delta, income, spending, amount]``."""
RowKey = tuple[str, str, str, str]
"""``(dim, name, span, period)``: a row's primary key within an estate."""

FIELDS = ("entries", "trust_delta", "income", "spending", "amount")
SPANS = ("all", "year", "month")


def prefixes(account: str) -> list[str]:
    """``A``, ``A:B``, ``A:B:C`` for ``A:B:C``: every name a whole-segment prefix filter uses."""
    parts = account.split(":")
    return [":".join(parts[: i + 1]) for i in range(len(parts))]


@functools.lru_cache(maxsize=4096)
def _account(account: str) -> tuple[str | None, tuple[Key, ...]]:
    """The type of ``account`` (its root's, None if the root is not a type) and the
    ``("account", prefix)`` keys it counts under: an estate has a few dozen accounts and
    a batch names them thousands of times."""
    kind = ACCOUNT_ROOTS.get(account.split(":", 1)[0])
    return kind, tuple(("account", name) for name in prefixes(account))


def _amounts(category: str, postings: Iterable[tuple[str, int]]) -> tuple[int, int, dict[Key, int]]:
    """``(income, spending, amounts)`` of one entry: ``amounts`` has every key the entry
    counts under, with the sum of its postings to exactly that account (0 for the
    ``all`` and ``category`` keys and for prefixes that are not posted to)."""
    income = spending = 0
    amounts: dict[Key, int] = {("all", ""): 0, ("category", category): 0}
    for account, amount in postings:
        kind, keys = _account(account)
        if kind == "income":
            income -= amount
        elif kind == "expense":
            spending += amount
        for key in keys:
            if key not in amounts:
                amounts[key] = 0
        amounts[keys[-1]] += amount
    return income, spending, amounts


def entry_rows(
    category: str, trust_delta: int, postings: Iterable[tuple[str, int]]
) -> dict[Key, Figures]:
    """One entry's contribution to each ``(dim, name)`` (any one span and period).

    ``postings`` are ``(account, amount)`` — for a reversal, the target's negated.
    An account's type is its root's (``Income`` → income, ``Expenses`` → expense),
    as the payload rules require of every account opened.
    """
    income, spending, amounts = _amounts(category, postings)
    return {key: [1, trust_delta, income, spending, a] for key, a in amounts.items()}


def periods_of(date: str) -> tuple[tuple[str, str], ...]:
    """The ``(span, period)`` rows a business date ``YYYY-MM-DD`` falls in."""
    return (("all", ""), ("year", date[:4]), ("month", date[:7]))


class Accumulator:
    """Sums entries' contributions by row key; per month first, spread to spans at the end."""

    def __init__(self) -> None:
        self.months: dict[tuple[str, str, str], Figures] = {}  # (dim, name, YYYY-MM)

    def add(
        self, date: str, category: str, trust_delta: int, postings: Iterable[tuple[str, int]]
    ) -> None:
        """Add one entry: :func:`entry_rows`, summed into this entry's month."""
        month = date[:7]
        income, spending, amounts = _amounts(category, postings)
        months = self.months
        for (dim, name), amount in amounts.items():
            row = months.get((dim, name, month))
            if row is None:
                months[dim, name, month] = [1, trust_delta, income, spending, amount]
            else:
                row[0] += 1
                row[1] += trust_delta
                row[2] += income
                row[3] += spending
                row[4] += amount

    def rows(self) -> dict[RowKey, Figures]:
        """Every row this accumulator adds to, with the figures it adds."""
        out: dict[RowKey, Figures] = {}
        for (dim, name, month), figures in self.months.items():
            for span, period in (("all", ""), ("year", month[:4]), ("month", month)):
                row = out.get((dim, name, span, period))
                if row is None:
                    out[dim, name, span, period] = list(figures)
                else:
                    for i, x in enumerate(figures):
                        row[i] += x
        return out


# -- maintenance on append --------------------------------------------------------------------

_COLUMNS = ("estate_id", "dim", "name", "span", "period", *FIELDS)
_UPSERT_TAIL = (
    "ON CONFLICT (estate_id, dim, name, span, period) DO UPDATE SET"
    " entries = period_totals.entries + excluded.entries,"
    " trust_delta = period_totals.trust_delta + excluded.trust_delta,"
    " income = period_totals.income + excluded.income,"
    " spending = period_totals.spending + excluded.spending,"
    " amount = period_totals.amount + excluded.amount"
)


def upsert(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> Insert:
    """What a batch's ``rows["fact"]`` and ``rows["posting"]`` add to ``period_totals``:
    one upsert (``INSERT … ON CONFLICT DO UPDATE``, SQLite ≥ 3.24 and PostgreSQL, all
    rows at once, for :meth:`.RawConnection.write_all`;
    no rows if the batch has no facts). The other keys of ``rows`` are ignored.
    Every entry with postings has a fact, and the figures are taken per fact.
    """
    facts = rows.get("fact") or ()
    lines: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for p in rows.get("posting", ()):
        lines.setdefault((p["estate_id"], p["seq"]), []).append((p["account"], p["amount"]))
    acc: dict[str, Accumulator] = {}
    for f in facts:
        estate = f["estate_id"]
        a = acc.get(estate) or acc.setdefault(estate, Accumulator())
        a.add(f["date"], f["category"], f["trust_delta"], lines.get((estate, f["seq"]), ()))
    params = [
        (estate, *key, *figures)
        for estate, a in acc.items()
        for key, figures in sorted(a.rows().items())
    ]
    return ("period_totals", _COLUMNS, params, _UPSERT_TAIL)  # keys are distinct: one dict


# -- date ranges as rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Rows of one span with ``lo <= period <= hi`` (``None``: open)."""

    span: str
    lo: str | None = None
    hi: str | None = None


@dataclass(frozen=True)
class Cover:
    """A date range as whole periods read from ``period_totals`` and edge days read from rows."""

    pieces: tuple[Piece, ...]
    days: tuple[tuple[dt.date, dt.date], ...]  # inclusive ranges within one month each


def _month(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def _month_text(m: int) -> str:
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def _last_day(d: dt.date) -> dt.date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def cover(start: dt.date | None, end: dt.date | None) -> Cover:
    """Dates ``start``–``end`` (inclusive; ``None``: open) as disjoint pieces and edge days.

    A partial month at either end is left to the rows (``days``); the whole months
    between are whole years where they can be, months otherwise; with both ends
    open, the one ``all`` row. Empty when ``start > end``.
    """
    if start is None and end is None:
        return Cover((Piece("all"),), ())
    if start is not None and end is not None and start > end:
        return Cover((), ())
    days: list[tuple[dt.date, dt.date]] = []
    first: int | None = None  # the first whole month (None: open)
    last: int | None = None
    if start is not None:
        first = _month(start)
        if start.day != 1:
            days.append((start, min(_last_day(start), end or dt.date.max)))
            first += 1
    if end is not None:
        last = _month(end)
        if end != _last_day(end):
            head = end.replace(day=1)
            if start is None or head > start or start.day == 1:
                days.append((max(head, start or dt.date.min), end))
            last -= 1
    return Cover(_whole_months(first, last), tuple(days))


def _whole_months(first: int | None, last: int | None) -> tuple[Piece, ...]:
    """Months ``first``–``last`` (month numbers, ``None``: open) as year and month pieces."""
    if first is not None and last is not None and first > last:
        return ()
    pieces: list[Piece] = []
    y_lo: int | None = None  # whole years y_lo..y_hi
    y_hi: int | None = None
    if first is not None:
        y_lo = first // 12
        if first % 12:
            top = y_lo * 12 + 11 if last is None else min(y_lo * 12 + 11, last)
            pieces.append(Piece("month", _month_text(first), _month_text(top)))
            y_lo += 1
            if last is not None and top == last:
                return tuple(pieces)
    if last is not None:
        y_hi = last // 12
        if last % 12 != 11:
            bottom = y_hi * 12 if first is None else max(y_hi * 12, first)
            pieces.append(Piece("month", _month_text(bottom), _month_text(last)))
            y_hi -= 1
    if y_lo is None or y_hi is None or y_lo <= y_hi:
        lo = None if y_lo is None else f"{y_lo:04d}"
        hi = None if y_hi is None else f"{y_hi:04d}"
        pieces.append(Piece("year", lo, hi))
    return tuple(pieces)


# -- reading ----------------------------------------------------------------------------------


def read(
    session: Session, estate: str, dim: str, names: Sequence[str], pieces: Sequence[Piece]
) -> dict[str, Figures]:
    """``Σ`` of the rows of ``pieces`` for each of ``names``; a name without rows is absent.

    One statement: a ``UNION ALL`` of one primary-key range per piece.
    """
    if not names or not pieces:
        return {}
    t = PeriodTotalRow
    which = t.name == names[0] if len(names) == 1 else t.name.in_(names)
    parts: list[Select[str, int, int, int, int, int]] = []
    for piece in pieces:
        where = [t.estate_id == estate, t.dim == dim, which, t.span == piece.span]
        if piece.lo is not None:
            where.append(t.period >= piece.lo)
        if piece.hi is not None:
            where.append(t.period <= piece.hi)
        parts.append(
            select(
                t.name,
                func.sum(t.entries),
                func.sum(t.trust_delta),
                func.sum(t.income),
                func.sum(t.spending),
                func.sum(t.amount),
            )
            .where(*where)
            .group_by(t.name)
        )
    out: dict[str, Figures] = {}
    for name, *figures in session.execute(parts[0] if len(parts) == 1 else union_all(*parts)):
        row = out.setdefault(name, [0] * len(FIELDS))
        for i, x in enumerate(figures):
            row[i] += int(x)
    return out


def balances_at(
    session: Session, estate: str, accounts: Sequence[str], end: dt.date | None
) -> dict[str, int]:
    """``Σ amount`` of each account's postings dated up to ``end`` (``None``: all).

    Whole years and months from ``period_totals``; the days of ``end``'s month from
    the postings, by ``(estate_id, account, date, amount)``. Accounts without
    postings are absent.
    """
    if not accounts:
        return {}
    c = cover(None, end)
    out = {
        name: figures[4]
        for name, figures in read(session, estate, "account", accounts, c.pieces).items()
    }
    p = PostingRow
    for first, last in c.days:
        rows = session.execute(
            select(p.account, func.sum(p.amount))
            .where(
                p.estate_id == estate,
                p.account.in_(accounts),
                p.date >= first.isoformat(),
                p.date <= last.isoformat(),
            )
            .group_by(p.account)
        )
        for account, total in rows:
            out[account] = out.get(account, 0) + int(total)
    return out
