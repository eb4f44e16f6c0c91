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


def test_a_failing_write_leaves_nothing(estate: EstateFactory) -> None:
    """The last statement before COMMIT fails in the database: every row of the append
    (on PostgreSQL queued in the same pipeline as the failing statement and COMMIT) is
    rolled back."""
    estate.append(estate.income(10_000))
    before = _size(estate)
    real_write_all = RawConnection.write_all

    def failing(raw: RawConnection, inserts: Any, updates: Any) -> None:
        real_write_all(raw, inserts, updates)
        raw.write("INSERT INTO no_such_table VALUES (1)", ())

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RawConnection, "write_all", failing)
        with pytest.raises(DBAPIError, match="no_such_table"):
            estate.append(estate.income(222))
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


def test_write_all_keeps_every_value(estate: EstateFactory) -> None:
    """What :meth:`RawConnection.write_all` writes reads back equal on both engines
    (on PostgreSQL every row passes through one JSON parameter): bytes of every value,
    text beyond ASCII, integers near the 64-bit bounds, an ``ON CONFLICT`` tail,
    and an update in the same statement."""
    digest = bytes(range(256))[:32]
    zeros = bytes(32)
    big = 2**62 + 12345
    totals = ("estate_id", "dim", "name", "span", "period", *aggregates.FIELDS)
    tail = "ON CONFLICT (estate_id, dim, name, span, period) DO UPDATE SET amount = excluded.amount"
    hashes = [(estate.id, 40, i, h) for i, h in enumerate([digest, zeros, b"\xff" * 32])]
    with estate.service.engine.connect() as conn, conn.begin():
        raw = RawConnection(conn)
        raw.write_all(
            [
                ("tree_hashes", ("estate_id", "level", "idx", "hash"), hashes, ""),
                (
                    "period_totals",
                    totals,
                    [(estate.id, "测", "名 ✓ 🏠", "all", "", 1, -big, big, 0, -1)],
                    "",
                ),
                ("redactions", ("estate_id",), [], ""),  # no rows: no member
            ],
            [("UPDATE estates SET name = ? WHERE id = ?", ("示范花园 “二期”", estate.id))],
        )
        raw.write_all(
            [
                (
                    "period_totals",
                    totals,
                    [(estate.id, "测", "名 ✓ 🏠", "all", "", 0, 0, 0, 0, 7)],
                    tail,
                )
            ],
            [],
        )
        got = conn.execute(
            text(
                "SELECT idx, hash FROM tree_hashes WHERE estate_id = :e AND level = 40 ORDER BY idx"
            ),
            {"e": estate.id},
        ).all()
        assert [(i, bytes(h)) for i, h in got] == [(i, h) for _, _, i, h in hashes]
        row = conn.execute(
            text(
                "SELECT name, entries, trust_delta, income, spending, amount FROM period_totals"
                " WHERE estate_id = :e AND dim = '测'"
            ),
            {"e": estate.id},
        ).one()
        assert tuple(row) == ("名 ✓ 🏠", 1, -big, big, 0, 7)
        name = conn.execute(text("SELECT name FROM estates WHERE id = :e"), {"e": estate.id})
        assert name.scalar_one() == "示范花园 “二期”"
        conn.rollback()


def test_a_failing_member_of_the_writes_leaves_nothing(estate: EstateFactory) -> None:
    """One table's rows break a constraint: the append's other rows (on PostgreSQL
    members of the same statement) are not written either."""
    estate.append(estate.income(10_000))
    before = _size(estate)
    real_upsert = aggregates.upsert

    def null_dim(rows: Any) -> Any:
        table, columns, params, tail = real_upsert(rows)
        return table, columns, [(p[0], None, *p[2:]) for p in params], tail

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aggregates, "upsert", null_dim)
        with pytest.raises(DBAPIError):
            estate.append(estate.income(222))
    assert _size(estate) == before
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == before
    assert estate.append(estate.income(333))[0].entry.seq == before
