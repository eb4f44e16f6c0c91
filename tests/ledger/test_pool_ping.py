"""Pooled PostgreSQL connections are pinged on checkout only after resting
(``ledger.storage.db.PING_AFTER``); a connection lost meanwhile is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from ledger.storage import db


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    e = db.make_engine(pg_url, pool_size=1, max_overflow=0)
    yield e
    e.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pg_url: str, pid: int) -> None:
    other = db.make_engine(pg_url)
    with other.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    other.dispose()


def _pings(engine: Engine) -> list[int]:
    seen: list[int] = []
    real = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        seen.append(1)
        return bool(real(dbapi_conn))

    engine.dialect.do_ping = counting  # type: ignore[method-assign]
    return seen


def test_recently_used_connection_is_not_pinged(engine: Engine) -> None:
    pid = _backend_pid(engine)
    pings = _pings(engine)
    for _ in range(3):
        assert _backend_pid(engine) == pid
    assert pings == []


def test_rested_connection_is_pinged_and_replaced(
    engine: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _backend_pid(engine)
    _terminate(pg_url, pid)
    monkeypatch.setattr(db, "PING_AFTER", -1.0)  # as if it rested long enough
    pings = _pings(engine)
    assert _backend_pid(engine) != pid  # no error: the ping found it dead, the pool replaced it
    assert pings  # (the new connection is pinged too at this PING_AFTER)


def test_connection_lost_within_the_window_fails_once(engine: Engine, pg_url: str) -> None:
    pid = _backend_pid(engine)
    _terminate(pg_url, pid)
    with pytest.raises(OperationalError):
        _backend_pid(engine)  # handed out unchecked: its first statement fails
    assert _backend_pid(engine) != pid  # the next checkout has a new connection


def test_connection_broken_on_the_raw_path_is_pinged(engine: Engine, pg_url: str) -> None:
    """A connection lost under a statement sent straight to the driver (the append's
    path, which SQLAlchemy does not see) is not handed out again: its reset on
    check-in fails and the pool drops it, or it comes back ``broken`` and is pinged."""
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        pid = driver.execute("SELECT pg_backend_pid()").fetchone()[0]
        _terminate(pg_url, pid)
        with pytest.raises(Exception):  # noqa: B017 (psycopg's OperationalError)
            driver.execute("SELECT 1")
        assert driver.broken
    assert _backend_pid(engine) != pid  # no error
