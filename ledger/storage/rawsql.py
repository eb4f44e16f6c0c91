"""The append path's fixed statements, sent on the session's own DBAPI connection.

An append sends a dozen small statements whose text never changes. Through
SQLAlchemy each one costs more Python time (statement caching, parameter
processing, result wrapping) than SQLite or PostgreSQL take to run it, so the hot
path hands plain SQL and tuples to the driver (``sqlite3`` or ``psycopg``) of the
connection the session already holds: same transaction, same isolation, the
session still begins and commits it.

Statements are written with ``?`` placeholders and rewritten once for psycopg's
``%s``; an ``IN`` list is written ``IN (?*)`` and expanded to the number of values.
Everything here is plain column values (str, int, bytes, None): the columns the
append writes have no SQLAlchemy type processing, on either engine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Row = tuple[Any, ...]


@functools.lru_cache(maxsize=512)
def _render(sql: str, postgres: bool, counts: tuple[int, ...]) -> str:
    for n in counts:  # each ``IN (?*)`` in turn takes its number of placeholders
        sql = sql.replace("?*", ", ".join("?" * max(n, 1)), 1)
    return sql.replace("?", "%s") if postgres else sql


VALUES_ROWS = 256
"""Rows per multi-row ``INSERT`` (at 11 columns, well below SQLite's 32,766 variables
and PostgreSQL's 65,535 parameters)."""


_PG_VALUES_PARAMS = 50
"""PostgreSQL: up to this many parameters, a ``VALUES`` list (psycopg caches the
conversion of statements of at most 50 parameters); beyond, one array per column."""


@functools.lru_cache(maxsize=256)
def _values_sql(table: str, columns: tuple[str, ...], n: int, tail: str) -> str:
    row = "(" + ", ".join("?" * len(columns)) + ")"
    values = ", ".join([row] * n)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} {tail}"  # noqa: S608 (the code's own names)
    return sql.rstrip()


@functools.lru_cache(maxsize=64)
def _unnest_sql(table: str, columns: tuple[str, ...], tail: str) -> str:
    """``?`` placeholders (rendered ``%s``), each cast to its column's array type."""
    from ledger.storage.models import Base  # the models import nothing of this module

    cols = Base.metadata.tables[table].c
    arrays = ", ".join(f"?::{_ARRAY_OF[type(cols[c].type).__name__]}[]" for c in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {tail}"  # noqa: S608 (the code's own names)
    return sql.rstrip()


_ARRAY_OF = {
    "String": "text",
    "Text": "text",
    "BigInteger": "bigint",
    "Integer": "integer",
    "LargeBinary": "bytea",
}
"""PostgreSQL element type of an array parameter for a column of each SQLAlchemy type
(text converts to the column's ``varchar(n)`` on insert, length still checked)."""


class RawConnection:
    """The DBAPI connection under ``session`` (joined to the session's transaction), or
    under a Core ``Connection`` already in a transaction."""

    write_locked = False
    """SQLite: the transaction began with ``BEGIN IMMEDIATE`` (holds the write lock)."""

    def __init__(self, session: Session | Connection) -> None:
        connection = session if isinstance(session, Connection) else session.connection()
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.driver: Any = connection.connection.driver_connection
        # The engine's ``before_cursor_execute`` listeners see these statements too
        # (tests and benchmarks that watch what a session sends).
        before = connection.dispatch.before_cursor_execute
        self._before = before if before else None  # testing it costs: once

    def _sql(self, sql: str, params: Any, counts: tuple[int, ...] = (), many: bool = False) -> str:
        text = _render(sql, self.postgres, counts)
        if self._before:
            self._before(self.connection, None, text, params, None, many)
        return text

    def rows(self, sql: str, params: Sequence[Any], counts: tuple[int, ...] = ()) -> list[Row]:
        """Run one statement; its rows. ``counts``: how many values each ``IN (?*)`` takes
        (an empty list is given one value that matches nothing, by the caller)."""
        try:
            return list(self.driver.execute(self._sql(sql, params, counts), params).fetchall())
        except Exception as e:
            _reraise(e)

    def send(self, sql: str, params: Sequence[Any], counts: tuple[int, ...] = ()) -> Any:
        """Run one statement without waiting for its rows (PostgreSQL: in a pipeline the
        statement only goes out; :meth:`fetch` on the returned cursor settles it)."""
        try:
            return self.driver.execute(self._sql(sql, params, counts), params)
        except Exception as e:
            _reraise(e)

    def fetch(self, cursor: Any) -> list[Row]:
        try:
            return list(cursor.fetchall())
        except Exception as e:
            _reraise(e)

    def many(self, sql: str, rows: Sequence[Row]) -> None:
        """One statement for each of ``rows`` (``executemany``)."""
        if not rows:
            return
        text = self._sql(sql, rows, many=True)
        try:
            if self.postgres:
                with self.driver.cursor() as cur:
                    cur.executemany(text, rows)
            else:
                self.driver.executemany(text, rows)
        except Exception as e:
            _reraise(e)

    def insert(
        self, table: str, columns: tuple[str, ...], rows: Sequence[Row], tail: str = ""
    ) -> None:
        """``INSERT INTO table (columns) … tail`` of every row of ``rows`` (tuples in
        ``columns`` order), in one statement where the engine allows.

        SQLite: ``VALUES (…), (…), …``, :data:`VALUES_ROWS` rows a statement, about half
        the cost of ``executemany`` for the 20-odd rows of an append's totals.
        PostgreSQL: a ``VALUES`` list up to :data:`_PG_VALUES_PARAMS` parameters (psycopg
        parses a longer statement anew every time); beyond, ``SELECT * FROM
        unnest(%s::type[], …)``, one array per column, a statement of fixed text whatever
        the number of rows (psycopg's Python cost per row of an ``executemany`` was most
        of an append's time).
        ``tail`` may be an ``ON CONFLICT`` clause: rows must then differ in its key.
        """
        if not rows:
            return
        if self.postgres and len(rows) * len(columns) > _PG_VALUES_PARAMS:
            self.send(_unnest_sql(table, columns, tail), [list(c) for c in zip(*rows, strict=True)])
            return
        if self.postgres:  # a few rows: psycopg dumps plain values faster than arrays
            params = [value for row in rows for value in row]
            self.send(_values_sql(table, columns, len(rows), tail), params)
            return
        for at in range(0, len(rows), VALUES_ROWS):
            chunk = rows[at : at + VALUES_ROWS]
            params = [value for row in chunk for value in row]
            self.send(_values_sql(table, columns, len(chunk), tail), params)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """PostgreSQL: the statements of the block go out together and one round trip
        settles them (psycopg pipeline mode); SQLite runs them one by one."""
        if not self.postgres:
            yield
            return
        try:
            with self.driver.pipeline():
                yield
        except Exception as e:
            _reraise(e)


def _reraise(e: Exception) -> NoReturn:
    converted = _as_sqlalchemy(e)
    if converted is e:
        raise e
    raise converted from e


def _as_sqlalchemy(e: Exception) -> Exception:
    """A driver error as SQLAlchemy would raise it (``IntegrityError`` for a unique
    violation, ``OperationalError`` for a lost connection…), so callers handle one kind."""
    if isinstance(e, DBAPIError):
        return e
    module = type(e).__module__
    if module.startswith("sqlite3") or module.startswith("psycopg"):
        base = _driver_error_base(e)
        if base is not None:
            return DBAPIError.instance(None, None, e, base)
    return e


def _driver_error_base(e: Exception) -> type[Exception] | None:
    for cls in type(e).__mro__:
        if cls.__name__ == "Error" and cls.__module__ in ("sqlite3", "psycopg", "psycopg.errors"):
            return cls
    return None
