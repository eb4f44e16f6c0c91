"""Small read queries behind the resident pages: latest date, categories, fee collection.

Like :mod:`.queries` and :mod:`.reports`, every figure can be recomputed from the
leaves; the caller owns the session and nothing here writes.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.storage.models import EntryFactRow, PeriodTotalRow, ReversalRow
from ledger.storage.reports import Period


def latest_date(session: Session, estate: str) -> str | None:
    """The latest business date of a transaction or reversal, ``YYYY-MM-DD``, if any."""
    return session.scalar(
        select(func.max(EntryFactRow.date)).where(EntryFactRow.estate_id == estate)
    )


def categories(session: Session, estate: str) -> list[str]:
    """Every category used by a transaction or reversal, sorted.

    From the all-time rows of ``period_totals`` (one per category), not the facts.
    """
    t = PeriodTotalRow
    rows = session.scalars(
        select(t.name)
        .where(t.estate_id == estate, t.dim == "category", t.span == "all", t.name != "")
        .order_by(t.name)
    )
    return list(rows)


def households_paid(session: Session, estate: str, period: Period) -> int:
    """Distinct household commitments on non-reversed transactions dated in ``period``.

    The count docs/statements.md defines per month: each receipt has a fresh salt,
    so receipts cannot be linked across months and a month is the unit.
    """
    f = EntryFactRow
    reversed_ = select(ReversalRow.target_seq).where(ReversalRow.estate_id == estate)
    count = session.scalar(
        select(func.count(func.distinct(f.household))).where(
            f.estate_id == estate,
            f.kind == "transaction",
            f.household.is_not(None),
            f.date >= period.start.isoformat(),
            f.date <= period.end.isoformat(),
            f.seq.not_in(reversed_),
        )
    )
    return int(count or 0)
