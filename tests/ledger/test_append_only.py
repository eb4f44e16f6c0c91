"""Append-only in the database itself: raw SQL cannot rewrite or erase the log.

Statements go straight through ``svc.engine`` (no ledger code in the way), on SQLite
and PostgreSQL. The household salts are the one deliberate exception (PIPL).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.canonical import b64encode
from ledger.storage.models import APPEND_ONLY_TABLES, StatementPdfRow
from ledger.storage.verify import verify_estate
from tests.factories import BANK, EstateFactory

REQUIRED = ("entries", "tree_hashes", "checkpoints", "postings")
"""The tables DESIGN.md names as append-only; each must hold rows for the estate."""

UPDATES = {
    "entries": "SET kind = 'document', leaf = leaf",
    "tree_hashes": "SET hash = :zero",
    "checkpoints": "SET note = 'forged', size = size",
    "postings": "SET amount = amount + 1",
}
"""A real change per table; tables added later get a no-op SET (triggers fire anyway)."""

TABLES = sorted(set(REQUIRED) | set(APPEND_ONLY_TABLES))
ZERO = b"\x00" * 32


def rows(estate: EstateFactory, table: str) -> list[tuple[Any, ...]]:
    with estate.service.engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM {table} WHERE estate_id = :e"), {"e": estate.id})
        return sorted(tuple(r) for r in result)


@pytest.fixture
def filled(estate: EstateFactory) -> EstateFactory:
    from statements import store

    estate.service.clock = lambda: dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    estate.append(estate.income(10_000), estate.spend(2_500))
    published = store.publish(estate.service, estate.id, "2026-10")
    with estate.service.session() as s:  # a rendered PDF, as the API stores it
        s.add(
            StatementPdfRow(
                estate_id=estate.id,
                period=published.period,
                number=published.number,
                lang="zh",
                pdf=b"%PDF-1.7 stand-in",
                created_at="2026-11-26T00:00:00.000Z",
            )
        )
    return estate


def test_the_design_tables_are_declared_append_only() -> None:
    assert set(REQUIRED) <= set(APPEND_ONLY_TABLES)


def rows_or_skip(estate: EstateFactory, table: str) -> list[tuple[Any, ...]]:
    before = rows(estate, table)
    if not before:
        # Refusing to touch zero rows would prove nothing.
        assert table not in REQUIRED, f"{table} has no rows for the estate"
        pytest.skip(f"{table} holds no rows for this estate")
    return before


@pytest.mark.parametrize("table", TABLES)
def test_update_is_refused(filled: EstateFactory, table: str) -> None:
    before = rows_or_skip(filled, table)
    update = UPDATES.get(table, "SET estate_id = estate_id")
    with pytest.raises(DBAPIError, match="append-only"), filled.service.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {table} {update} WHERE estate_id = :e"),
            {"e": filled.id, "zero": ZERO},
        )
    assert rows(filled, table) == before


@pytest.mark.parametrize("table", TABLES)
def test_delete_is_refused(filled: EstateFactory, table: str) -> None:
    before = rows_or_skip(filled, table)
    with pytest.raises(DBAPIError, match="append-only"), filled.service.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {table} WHERE estate_id = :e"), {"e": filled.id})
    assert rows(filled, table) == before


def test_deleting_only_the_last_entry_is_refused(filled: EstateFactory) -> None:
    before = rows(filled, "entries")
    last = max(r[1] for r in before)
    with pytest.raises(DBAPIError), filled.service.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM entries WHERE estate_id = :e AND seq = :s"),
            {"e": filled.id, "s": last},
        )
    assert rows(filled, "entries") == before
    with filled.service.session() as s:
        assert verify_estate(s, filled.id).tree.size == last + 1


@pytest.mark.parametrize("table", TABLES)
def test_truncate_is_refused_on_postgresql(filled: EstateFactory, table: str) -> None:
    engine = filled.service.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    before = rows_or_skip(filled, table)
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(f"TRUNCATE {table}"))
        finally:
            # Other tests share this database: never let a TRUNCATE commit.
            trans.rollback()
    assert rows(filled, table) == before


def test_appends_still_work_after_refused_tampering(filled: EstateFactory) -> None:
    with pytest.raises(DBAPIError), filled.service.engine.begin() as conn:
        conn.execute(text("DELETE FROM checkpoints WHERE estate_id = :e"), {"e": filled.id})
    appended = filled.append(filled.income(1))[0]
    with filled.service.session() as s:
        assert verify_estate(s, filled.id).tree.size == appended.entry.seq + 1


def test_household_salts_can_be_deleted(estate: EstateFactory) -> None:
    salt = bytes(range(16))
    unit = "3-2-501"
    commitment = b64encode(hashlib.sha256(salt + unit.encode()).digest())
    body = {
        "postings": [
            {"account": BANK, "amount": 180_000},
            {"account": "Income:PropertyFee", "amount": -180_000},
        ],
        "counterparty": "业主",
        "category": "物业费",
        "household": commitment,
    }
    item = estate.signed("transaction", body, estate.trustee)
    entry = estate.service.append(estate.id, [item], salts=[(commitment, salt, unit)])[0]
    assert rows(estate, "household_salts") == [(estate.id, commitment, salt, unit)]

    with estate.service.engine.begin() as conn:
        deleted = conn.execute(
            text("DELETE FROM household_salts WHERE estate_id = :e AND commitment = :c"),
            {"e": estate.id, "c": commitment},
        )
        assert deleted.rowcount == 1
    assert rows(estate, "household_salts") == []

    with estate.service.session() as s:
        result = verify_estate(s, estate.id)
    assert result.tree.size == entry.entry.seq + 1
    assert result.last is not None and result.last.leaf_hash() == entry.entry.leaf_hash()
    with estate.service.reader(estate.id) as r:
        assert commitment.encode() in r.leaf(entry.entry.seq)
