"""Engines and sessions for SQLite and PostgreSQL, and schema migration.

SQLite runs in WAL mode with ``synchronous=FULL`` (an acknowledged append survives a
power cut), foreign keys on, and a busy timeout so that writers queue instead of
failing. pysqlite's own transaction handling is replaced by explicit ``BEGIN`` so
that reads inside a session see one snapshot (SQLAlchemy's documented recipe).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

SQLITE_IMMEDIATE = "sqlite_immediate"
"""Execution option: on SQLite, begin the connection's transactions with ``BEGIN IMMEDIATE``."""

_names: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def database_name(engine: Engine) -> str:
    """``str(engine.url)``, computed once per engine: the key of the per-process caches
    (heads, public keys, tree nodes) that several engines on one database share."""
    name = _names.get(engine)
    if name is None:
        name = _names[engine] = str(engine.url)
    return name


PING_AFTER = 1.0
"""Seconds a pooled PostgreSQL connection may rest and still be handed out unchecked."""

_RESTED_SINCE = "trustledger_rested_since"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_setup(engine)
        return engine
    engine = create_engine(url, **kwargs)
    _ping_rested(engine)
    return engine


def _ping_rested(engine: Engine) -> None:
    """Ping a pooled connection on checkout only if it rested over :data:`PING_AFTER`.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip and ≈ 60 µs
    of the GIL per transaction, a tenth of a grouped append's. A connection that
    came back healthy a moment ago is handed out as it is (HikariCP's
    ``aliveBypassWindowMs``, 500 ms, does the same). One that failed or was lost
    (psycopg's ``broken``) counts as rested, so the next checkout pings it, and a
    failed ping replaces it and every connection older than it. Left: a database
    restarted within the window fails the first statement of each connection used in
    it once (``503``, like a request in flight during the restart); clients retry
    posts by payload id.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _back(dbapi_conn: Any, record: Any) -> None:
        healthy = dbapi_conn is not None and not getattr(dbapi_conn, "broken", True)
        record.info[_RESTED_SINCE] = time.monotonic() if healthy else float("-inf")

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RESTED_SINCE, float("-inf")) <= PING_AFTER:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as e:  # as pre-ping: every older connection is suspect too
            raise InvalidatePoolError(f"pooled connection failed its ping: {e}") from e


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages per connection (default 2)
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Straight to the driver: through exec_driver_sql this cost more than the append's
        # reads. A connection with execution option ``sqlite_immediate`` takes the write
        # lock at once (see LedgerService.writing).
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE)
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Create or upgrade the schema to the newest migration."""
    command.upgrade(alembic_config(url), "head")


def schema_is_current(engine: Engine, url: str) -> bool:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
