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

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Row = tuple[Any, ...]


@functools.lru_cache(maxsize=512)
def _render(sql: str, postgres: bool, counts: tuple[int, ...]) -> str:
    for n in counts:  # each ``IN (?*)`` in turn takes its number of placeholders
        sql = sql.replace("?*", ", ".join("?" * max(n, 1)), 1)
    return sql.replace("?", "%s") if postgres else sql


class RawConnection:
    """The DBAPI connection under ``session`` (joined to the session's transaction)."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.driver: Any = connection.connection.driver_connection
        # The engine's ``before_cursor_execute`` listeners see these statements too
        # (tests and benchmarks that watch what a session sends).
        self._before = connection.dispatch.before_cursor_execute

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
