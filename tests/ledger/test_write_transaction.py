"""The append's write transaction: on PostgreSQL the raw connection sends BEGIN with the
first pipeline and COMMIT with the writes (``rawsql.explicit_transaction``); a failure
anywhere leaves nothing written and the pooled connection as it was."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.storage import aggregates
from ledger.storage.rawsql import RawConnection
from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory


def _size(estate: EstateFactory) -> int:
    with estate.service.session() as s:
        return int(
            s.execute(text("SELECT size FROM estates WHERE id = :e"), {"e": estate.id}).scalar_one()
        )


def test_a_failing_write_leaves_nothing(estate: EstateFactory, monkeypatch: Any) -> None:
    """The last statement before COMMIT fails in the database: every row of the append
    (on PostgreSQL queued in the same pipeline as the failing statement and COMMIT) is
    rolled back."""
    estate.append(estate.income(10_000))
    before = _size(estate)
    real_write = aggregates.write

    def failing(raw: RawConnection, rows: Any) -> None:
        real_write(raw, rows)
        raw.write("INSERT INTO no_such_table VALUES (1)", ())

    monkeypatch.setattr(aggregates, "write", failing)
    with pytest.raises(DBAPIError, match="no_such_table"):
        estate.append(estate.income(222))
    monkeypatch.setattr(aggregates, "write", real_write)
    assert _size(estate) == before
    with estate.service.session() as s:
        n = s.execute(
            text("SELECT count(*) FROM entries WHERE estate_id = :e"), {"e": estate.id}
        ).scalar_one()
    assert n == before
    after = estate.append(estate.income(333))[0]  # the log goes on from the same head
    assert after.entry.seq == before
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == before + 1


def test_pooled_connections_keep_transactions(estate: EstateFactory) -> None:
    """After appends (one failed), a connection from the pool is in transaction mode
    again: two statements of a session see one snapshot, and an uncommitted write is
    not visible to others."""
    estate.append(estate.income(10_000))
    with pytest.raises(Exception):  # noqa: B017 (any refusal will do)
        estate.append(estate.income(-5))
    engine = estate.service.engine
    for _ in range(3):  # every pooled connection in turn
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            if engine.dialect.name == "postgresql":
                assert driver.autocommit is False
            conn.execute(text("UPDATE estates SET name = name WHERE id = :e"), {"e": estate.id})
            assert conn.in_transaction()
            conn.rollback()


def test_commit_goes_out_with_the_writes(estate: EstateFactory) -> None:
    """PostgreSQL: one append is BEGIN … COMMIT on one connection, its COMMIT sent in
    the writes' pipeline (no COMMIT of the driver's own afterwards)."""
    if estate.service.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no round trips to save")
    import psycopg

    sent: list[str] = []
    real = psycopg.Cursor.execute

    def spy(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
        word = str(query).split()[0].upper()
        if word != ";":  # the pool's ping
            sent.append(word)
        return real(self, query, *args, **kw)

    commits: list[int] = []
    real_commit = psycopg.Connection.commit

    def spy_commit(self: Any) -> None:
        commits.append(self.info.transaction_status)
        real_commit(self)

    estate.append(estate.income(10_000))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(psycopg.Cursor, "execute", spy)
        mp.setattr(psycopg.Connection, "commit", spy_commit)
        estate.append(estate.income(20_000))
    assert sent[0] == "BEGIN" and sent[-1] == "COMMIT", sent
    assert sent.count("BEGIN") == 1 and sent.count("COMMIT") == 1
    assert all(status == 0 for status in commits)  # the driver's commit() found it idle
