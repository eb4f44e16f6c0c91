"""The append path's fixed statements, sent on the session's own DBAPI connection.

An append sends a few small statements whose text never changes. Through
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
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Row = tuple[Any, ...]
_PG_IDLE = 0
"""``psycopg.pq.TransactionStatus.IDLE`` (an int: this module imports no driver)."""


@functools.lru_cache(maxsize=512)
def _render(sql: str, postgres: bool, counts: tuple[int, ...]) -> str:
    for n in counts:  # each ``IN (?*)`` in turn takes its number of placeholders
        sql = sql.replace("?*", ", ".join("?" * max(n, 1)), 1)
    return sql.replace("?", "%s") if postgres else sql


VALUES_ROWS = 256
"""Rows per multi-row ``INSERT`` on SQLite (at 11 columns, well below its 32,766
variables)."""


@functools.lru_cache(maxsize=256)
def _values_sql(table: str, columns: tuple[str, ...], n: int, tail: str) -> str:
    row = "(" + ", ".join("?" * len(columns)) + ")"
    values = ", ".join([row] * n)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} {tail}"  # noqa: S608 (the code's own names)
    return sql.rstrip()


def _pg_types(table: str, columns: tuple[str, ...]) -> list[str]:
    """The PostgreSQL type of each column's values (:data:`_PG_TYPE_OF`)."""
    from ledger.storage.models import Base  # the models import nothing of this module

    cols = Base.metadata.tables[table].c
    return [_PG_TYPE_OF[type(cols[c].type).__name__] for c in columns]


Insert = tuple[str, tuple[str, ...], Sequence[Row], str]
"""One table's rows to insert: ``(table, columns, rows, tail)``, tuples in ``columns``
order; ``tail`` may be an ``ON CONFLICT`` clause (the rows must then differ in its key)."""


@functools.lru_cache(maxsize=64)
def _pg_write_all_sql(
    inserts: tuple[tuple[str, tuple[str, ...], str], ...], updates: tuple[str, ...]
) -> str:
    """One statement of data-modifying ``WITH`` members: an ``INSERT … SELECT`` per
    ``(table, columns, tail)`` from the rows of element ``i`` of one JSON parameter
    (bytes as hex), then each update with its own ``?`` placeholders."""
    members = ["j AS (SELECT ?::jsonb AS j)"]
    for i, (table, columns, tail) in enumerate(inserts):
        values = ", ".join(
            {"text": f"r->>{k}", "bytea": f"decode(r->>{k}, 'hex')"}.get(t, f"(r->>{k})::{t}")
            for k, t in enumerate(_pg_types(table, columns))
        )
        rows = f"FROM j, jsonb_array_elements(j.j->{i}) r {tail}".rstrip()
        into = f"INSERT INTO {table} ({', '.join(columns)})"
        members.append(f"w{i} AS ({into} SELECT {values} {rows})")
    members += [f"u{i} AS ({sql})" for i, sql in enumerate(updates)]
    return "WITH " + ", ".join(members) + " SELECT 1"


def _hex(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


_PG_TYPE_OF = {
    "String": "text",
    "Text": "text",
    "BigInteger": "bigint",
    "Integer": "integer",
    "LargeBinary": "bytea",
}
"""PostgreSQL type of the values sent for a column of each SQLAlchemy type (the casts
of :func:`_pg_write_all_sql`; text converts to the column's ``varchar(n)`` on insert,
length still checked)."""


class RawConnection:
    """The DBAPI connection under ``session`` (joined to the session's transaction), or
    under a Core ``Connection`` already in a transaction."""

    write_locked = False
    """SQLite: the transaction began with ``BEGIN IMMEDIATE`` (holds the write lock)."""

    explicit = False
    """PostgreSQL: the driver connection is in autocommit mode and this object sends the
    transaction's ``BEGIN`` (queued ahead of the first statement, in its pipeline) and
    may queue its ``COMMIT`` behind the last writes (:meth:`commit`): two round
    trips fewer than psycopg's own ``BEGIN`` (a round trip of its own, even in a
    pipeline) and ``commit()``. See :func:`explicit_transaction`."""
    _begun = False

    def __init__(self, session: Session | Connection) -> None:
        connection = session if isinstance(session, Connection) else session.connection()
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.driver: Any = connection.connection.driver_connection
        # The engine's ``before_cursor_execute`` listeners see these statements too
        # (tests and benchmarks that watch what a session sends).
        before = connection.dispatch.before_cursor_execute
        self._before = before if before else None  # testing it costs: once
        self._writer: Any = None  # the cursor of statements whose rows nobody reads

    def _sql(self, sql: str, params: Any, counts: tuple[int, ...] = (), many: bool = False) -> str:
        if self.explicit and not self._begun:
            self._begun = True
            self._cursor().execute("BEGIN")  # in a pipeline: queued ahead of this statement
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

    def write(self, sql: str, params: Sequence[Any], counts: tuple[int, ...] = ()) -> None:
        """Run one statement whose rows nobody reads, on one cursor kept for them (in a
        PostgreSQL pipeline a new cursor per statement cost about half of its send)."""
        try:
            self._cursor().execute(self._sql(sql, params, counts), params)
        except Exception as e:
            _reraise(e)

    def _cursor(self) -> Any:
        writer = self._writer
        if writer is None:
            writer = self._writer = self.driver.cursor()
        return writer

    def fetch(self, cursor: Any) -> list[Row]:
        try:
            return list(cursor.fetchall())
        except Exception as e:
            _reraise(e)

    def many(self, sql: str, rows: Sequence[Row]) -> None:
        """One statement for each of ``rows`` (``executemany``)."""
        if not rows:
            return
        if len(rows) == 1:
            self.write(sql, rows[0])
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

    def _insert_sqlite(
        self, table: str, columns: tuple[str, ...], rows: Sequence[Row], tail: str
    ) -> None:
        """SQLite: ``INSERT INTO table (columns) VALUES (…), (…), … tail``,
        :data:`VALUES_ROWS` rows a statement (about half the cost of ``executemany``
        for the 20-odd rows of an append's totals)."""
        for at in range(0, len(rows), VALUES_ROWS):
            chunk = rows[at : at + VALUES_ROWS]
            params = [value for row in chunk for value in row]
            self.write(_values_sql(table, columns, len(chunk), tail), params)

    def write_all(self, inserts: Sequence[Insert], updates: Sequence[tuple[str, Row]]) -> None:
        """Every insert of ``inserts`` (:data:`Insert`, one table each, no table twice)
        and every ``(sql, params)`` of ``updates`` (single-row ``UPDATE`` statements of
        tables not in ``inserts``), in this order on SQLite.

        PostgreSQL: one statement (:func:`_pg_write_all_sql`), all rows in one JSON
        parameter: an append's nine writes cost psycopg as much Python time each as the
        server takes to run them, and one statement of fixed text (for each set of
        tables written) is prepared once. Its members see one snapshot and do not see
        each other's rows, hence one member per table and no update of a table inserted
        into; foreign keys are checked at the end of the statement.
        """
        inserts = [i for i in inserts if i[2]]
        if not self.postgres:
            for table, columns, rows, tail in inserts:
                self._insert_sqlite(table, columns, rows, tail)
            for sql, params in updates:
                self.write(sql, params)
            return
        if not inserts and not updates:
            return
        text = _pg_write_all_sql(
            tuple((table, columns, tail) for table, columns, _, tail in inserts),
            tuple(sql for sql, _ in updates),
        )
        data = json.dumps(
            [rows for _, _, rows, _ in inserts],
            ensure_ascii=False,
            separators=(",", ":"),
            default=_hex,
        )
        self.write(text, [data, *(p for _, params in updates for p in params)])

    def commit(self) -> None:
        """Send the transaction's ``COMMIT`` now (explicit mode, after the transaction's
        last statement; inside a :meth:`pipeline` block it is queued, and the block's
        round trip commits).
        An error of any statement before it aborts the pipeline, ``COMMIT`` included,
        and :func:`explicit_transaction` rolls back. Elsewhere this does nothing: the
        transaction's owner commits."""
        if self.explicit and self._begun:
            self._cursor().execute("COMMIT")

    def rollback(self) -> None:
        """Explicit mode: roll the transaction back; the next statement begins another.
        Elsewhere this does nothing (the transaction's owner rolls back)."""
        if self.explicit and self._begun:
            try:
                self.driver.rollback()
            except Exception as e:
                _reraise(e)
            self._begun = False

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


@contextmanager
def explicit_transaction(connection: Connection) -> Iterator[RawConnection]:
    """A :class:`RawConnection` on ``connection`` (a Core connection in a transaction)
    that, on PostgreSQL, runs the transaction itself (:attr:`RawConnection.explicit`):
    ``BEGIN`` goes out with the first statement sent through it, ``COMMIT`` with the last
    writes if :meth:`~RawConnection.commit` was called in its pipeline, else at the end of the
    block; an error rolls back. Statements through SQLAlchemy on ``connection`` belong
    to the transaction once one statement went through the raw connection; nothing may
    go through SQLAlchemy before that (it would run in autocommit).
    On SQLite: the plain :class:`RawConnection` (the Core transaction does the work).
    """
    raw = RawConnection(connection)
    if not raw.postgres:
        yield raw
        return
    driver = raw.driver
    driver.autocommit = True  # psycopg sends no BEGIN of its own from here on
    raw.explicit = True
    try:
        yield raw
        if driver.info.transaction_status != _PG_IDLE:
            raw.commit()
    except BaseException:
        with suppress(Exception):
            driver.rollback()  # ROLLBACK unless idle (committed, or nothing began)
        raise
    finally:
        try:
            driver.autocommit = False  # fails unless idle: the pool must not keep it
        except Exception:
            connection.invalidate()


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
