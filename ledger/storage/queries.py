"""Read queries over the derived tables for people: accounts, balances, keys.

Every figure here can be recomputed from the leaves (the audit does); these
queries only make them fast, with indexes keyed by estate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.storage.models import AccountRow, KeyRow, PostingRow


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
    totals = dict(session.execute(sums.group_by(PostingRow.account)).tuples().all())
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
