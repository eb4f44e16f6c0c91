"""What an insider with database access does: edit the append-only tables directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from ledger.storage.models import APPEND_ONLY_TABLES
from ledger.storage.service import LedgerService


@contextmanager
def insider(service: LedgerService) -> Iterator[Connection]:
    """A connection with the append-only triggers out of the way (restored on PostgreSQL)."""
    with service.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")
            for (name,) in names.all():
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            yield conn
            return
        for table in APPEND_ONLY_TABLES:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        yield conn
        for table in APPEND_ONLY_TABLES:
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER ALL")


def sql(conn: Connection, statement: str, **params: Any) -> Any:
    return conn.execute(text(statement), params)


def delete_nodes_of(conn: Connection, estate: str, leaf: int) -> None:
    """Delete every stored tree node the append of ``leaf`` created."""
    level = 0
    while (leaf + 1) % (1 << level) == 0:
        idx = ((leaf + 1) >> level) - 1
        sql(
            conn,
            "DELETE FROM tree_hashes WHERE estate_id=:e AND level=:l AND idx=:i",
            e=estate,
            l=level,
            i=idx,
        )
        level += 1


def leaf_of(conn: Connection, estate: str, seq: int) -> bytes:
    return bytes(
        sql(
            conn, "SELECT leaf FROM entries WHERE estate_id=:e AND seq=:s", e=estate, s=seq
        ).scalar_one()
    )
