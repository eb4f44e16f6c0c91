"""What every campaign needs: fresh databases, real servers, authors, checks, results.

- :class:`Databases` makes fresh, migrated databases (a SQLite file copied from a
  template, or a PostgreSQL database created from a template database) and drops
  them at the end.
- :class:`Server` runs ``trustledger serve`` in a subprocess over one database and
  data directory (as ``tests/audits/test_live.py`` does), with its log captured in
  a file; it can be ``kill -9``'d and restarted on the same database.
- :class:`Authors` holds an estate's author keys and builds signed payloads the way
  a client does (``api.payloads``), so nothing here trusts the server.
- :func:`check_log` reads the log back with plain SQL and compares it with what
  clients were acknowledged; :func:`audit` runs the full audit
  (:mod:`audits.db` + :func:`audits.run.run_audit`).
- :class:`Result` is one row of the campaign table.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.payloads import genesis_body, payload, sign
from ledger.signing import AuthorKey
from ledger.storage.appender import SignedPayload
from ledger.storage.db import make_engine, migrate
from ledger.storage.service import LedgerService

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reliability" / "out"
ORIGIN_HOST = "trustledger.example"
PG_ENV = ("TRUSTLEDGER_RELIABILITY_PG_URL", "TRUSTLEDGER_TEST_PG_URL")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/trustledger_test"
ENGINES = ("sqlite", "postgresql")
SERVE = (sys.executable, "-c", "from api.cli import main; main()", "serve")
PROBLEM = "application/problem+json"
DAY = dt.date(2026, 10, 15)
BANK = "Assets:Bank:CoManaged"
CHART = [
    (BANK, "asset", "共管账户"),
    ("Income:PropertyFee", "income", "物业费收入"),
    ("Income:Public:Parking", "income", "停车收益"),
    ("Expenses:Cleaning", "expense", "保洁"),
    ("Equity:Opening", "equity", "期初权益"),
]


# -- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One row of the table: what was run, what came back, what was lost or let in."""

    campaign: str
    engine: str
    scenario: str
    counts: str
    requests: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    let_in: int = 0
    audit: str = "n/a"
    throughput: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and self.lost == 0
            and self.duplicated == 0
            and self.let_in == 0
            and self.audit in ("clean", "n/a", "pending")
        )

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# -- databases -------------------------------------------------------------------------------


def pg_base_url() -> str:
    for name in PG_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return DEFAULT_PG


def pg_available(url: str | None = None) -> bool:
    parsed = make_url(url or pg_base_url())
    engine = create_engine(parsed.set(database="postgres"), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@dataclass
class Db:
    engine: str  # "sqlite" | "postgresql"
    url: str
    data_dir: Path
    name: str

    def service(self) -> LedgerService:
        return LedgerService(self.url, self.data_dir, ORIGIN_HOST)

    def env(self) -> dict[str, str]:
        return {
            "TRUSTLEDGER_DATABASE_URL": self.url,
            "TRUSTLEDGER_DATA_DIR": str(self.data_dir),
            "TRUSTLEDGER_LOG_ORIGIN_HOST": ORIGIN_HOST,
        }


class Databases:
    """Fresh migrated databases for one campaign run; :meth:`close` drops them all."""

    _counter = itertools.count(1)

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_made: list[str] = []
        base = make_url(pg_base_url())
        self._pg_base = base
        self._pg_prefix = f"{base.database or 'trustledger'}_rel_{os.getpid()}"

    def _admin(self) -> Any:
        return create_engine(
            self._pg_base.set(database="postgres"),
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5},
        )

    def _pg_url(self, name: str) -> str:
        return self._pg_base.set(database=name).render_as_string(hide_password=False)

    def new(self, engine: str, label: str = "db") -> Db:
        n = next(self._counter)
        data_dir = self.workdir / f"{label}-{engine}-{n}" / "data"
        data_dir.mkdir(parents=True)
        if engine == "sqlite":
            if self._sqlite_template is None:
                self._sqlite_template = self.workdir / "template.db"
                migrate(f"sqlite:///{self._sqlite_template}")
            path = data_dir / "trustledger.db"
            shutil.copy(self._sqlite_template, path)
            return Db(engine, f"sqlite:///{path}", data_dir, str(path))
        if engine != "postgresql":
            raise ValueError(f"unknown engine {engine!r}")
        admin = self._admin()
        try:
            with admin.connect() as conn:
                if self._pg_template is None:
                    tpl = f"{self._pg_prefix}_tpl"
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{tpl}" WITH (FORCE)'))
                    conn.execute(text(f'CREATE DATABASE "{tpl}"'))
                    self._pg_made.append(tpl)
                    migrate(self._pg_url(tpl))
                    self._pg_template = tpl
                name = f"{self._pg_prefix}_{n}"
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"'))
                self._pg_made.append(name)
        finally:
            admin.dispose()
        return Db(engine, self._pg_url(name), data_dir, name)

    def copy(self, db: Db, label: str) -> Db:
        """A copy of ``db`` (database and data directory) as it is now: a backup.

        Nothing may be connected to ``db`` (stop its server, dispose its engines).
        """
        n = next(self._counter)
        data_dir = self.workdir / f"{label}-{db.engine}-{n}" / "data"
        shutil.copytree(db.data_dir, data_dir)
        if db.engine == "sqlite":
            path = data_dir / "trustledger.db"
            if Path(db.name).parent != db.data_dir:  # the SQLite file lives elsewhere
                for suffix in ("", "-wal", "-shm"):
                    src = Path(db.name + suffix)
                    if src.exists():
                        shutil.copy(src, str(path) + suffix)
            return Db(db.engine, f"sqlite:///{path}", data_dir, str(path))
        name = f"{self._pg_prefix}_{n}"
        admin = self._admin()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{db.name}"'))
                self._pg_made.append(name)
        finally:
            admin.dispose()
        return Db(db.engine, self._pg_url(name), data_dir, name)

    def empty(self, engine: str, label: str) -> Db:
        """A database with no schema at all (for commands that must create it)."""
        n = next(self._counter)
        data_dir = self.workdir / f"{label}-{engine}-{n}" / "data"
        data_dir.mkdir(parents=True)
        if engine == "sqlite":
            path = data_dir / "trustledger.db"
            return Db(engine, f"sqlite:///{path}", data_dir, str(path))
        name = f"{self._pg_prefix}_{n}"
        admin = self._admin()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                self._pg_made.append(name)
        finally:
            admin.dispose()
        return Db(engine, self._pg_url(name), data_dir, name)

    def close(self) -> None:
        if not self._pg_made:
            return
        admin = self._admin()
        try:
            with admin.connect() as conn:
                for name in reversed(self._pg_made):
                    with suppress(Exception):
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as e:  # PostgreSQL down: leave them, say so
            print(f"reliability: could not drop {self._pg_made}: {e}", file=sys.stderr)
        finally:
            admin.dispose()
            self._pg_made.clear()


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``trustledger serve`` over ``db`` in a subprocess; stdout and stderr go to ``log``."""

    def __init__(
        self,
        db: Db,
        log: Path,
        *,
        write_rate: float = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.db = db
        self.log = Path(log)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **db.env(),
            "TRUSTLEDGER_LOG_ORIGIN_HOST": ORIGIN_HOST,
            "TRUSTLEDGER_WRITE_RATE": str(write_rate),
            "TRUSTLEDGER_LANG": "en",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self, timeout: float = 60) -> float:
        """Start and wait until ``/readyz`` answers 200; returns the seconds it took."""
        began = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*SERVE, "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"the server did not become ready; see {self.log}")
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """``kill -9`` the server: no shutdown, no cleanup, open transactions cut."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def log_text(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- authors ---------------------------------------------------------------------------------


@dataclass
class Authors:
    """An estate's id and its author keys; builds signed payloads like a client does."""

    id: str
    operator: AuthorKey = field(default_factory=AuthorKey.generate)
    committee: AuthorKey = field(default_factory=AuthorKey.generate)
    committee2: AuthorKey = field(default_factory=AuthorKey.generate)
    trustee: AuthorKey = field(default_factory=AuthorKey.generate)
    supervisor: AuthorKey = field(default_factory=AuthorKey.generate)

    @classmethod
    def new(cls, prefix: str = "r", **keys: AuthorKey) -> Authors:
        return cls(f"{prefix}-{uuid.uuid4().hex[:12]}", **keys)

    def keys(self) -> dict[str, AuthorKey]:
        return {
            "operator": self.operator,
            "committee": self.committee,
            "committee2": self.committee2,
            "trustee": self.trustee,
            "supervisor": self.supervisor,
        }

    def genesis(self) -> SignedPayload:
        body = genesis_body(
            "可靠性测试小区",
            "常州市测试路 7 号",
            100,
            [
                (self.operator.public_key, "operator", "平台"),
                (self.committee.public_key, "committee", "业委会 张三"),
                (self.committee2.public_key, "committee", "业委会 李四"),
                (self.trustee.public_key, "trustee", "某物业公司"),
                (self.supervisor.public_key, "supervisor", "信托监察人"),
            ],
        )
        return sign(payload(self.id, "genesis", body, date=DAY), [self.operator])

    def signed(self, kind: str, body: dict[str, Any], *keys: AuthorKey, **kw: Any) -> SignedPayload:
        kw.setdefault("date", DAY)
        return sign(payload(self.id, kind, body, **kw), keys or [self.committee])

    def chart(self) -> list[SignedPayload]:
        return [
            self.signed(
                "account",
                {"action": "open", "name": n, "type": t, "display_name": z},
                self.committee,
            )
            for n, t, z in CHART
        ]

    def income(
        self,
        fen: int,
        account: str = "Income:PropertyFee",
        *,
        keys: Sequence[AuthorKey] = (),
        household: bytes | None = None,
        **kw: Any,
    ) -> SignedPayload:
        body: dict[str, Any] = {
            "postings": [{"account": BANK, "amount": fen}, {"account": account, "amount": -fen}],
            "counterparty": "业主",
            "category": "物业费",
        }
        if household is not None:
            body["household"] = base64.b64encode(household).decode()
        return self.signed("transaction", body, *(keys or [self.trustee]), **kw)

    def spend(self, fen: int, *keys: AuthorKey, **kw: Any) -> SignedPayload:
        body = {
            "postings": [
                {"account": BANK, "amount": -fen},
                {"account": "Expenses:Cleaning", "amount": fen},
            ],
            "counterparty": "常州某保洁服务有限公司",
            "category": "保洁",
        }
        return self.signed("transaction", body, *(keys or (self.trustee, self.committee)), **kw)

    def create(self, db: Db, *, opening: int = 0) -> None:
        """Create the estate in ``db`` directly (genesis, chart, an opening income)."""
        svc = db.service()
        try:
            svc.create_estate(self.genesis())
            items = self.chart()
            if opening:
                items.append(self.income(opening))
            svc.append(self.id, items)
        finally:
            svc.engine.dispose()


def wire(item: SignedPayload) -> dict[str, Any]:
    """The JSON body of ``POST /entries`` for a signed payload."""
    return {"payload": dict(item.payload.raw), "signatures": [s.to_json() for s in item.signatures]}


def pdf_voucher(text_: str, size: int = 0) -> tuple[bytes, dict[str, Any]]:
    """PDF-looking bytes (the server sniffs ``%PDF-``) and their reference for a payload."""
    data = b"%PDF-1.4\n% " + text_.encode("utf-8") + b"\n"
    if size > len(data):
        data += b"%" + b"0" * (size - len(data) - 7) + b"\n%%EOF\n"
    else:
        data += b"%%EOF\n"
    sha = hashlib.sha256(data).hexdigest()
    ref = {"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": "凭证.pdf"}
    return data, ref


# -- checks ----------------------------------------------------------------------------------


@dataclass
class LogCheck:
    """The log as stored, against what clients were acknowledged."""

    size: int
    contiguous: bool
    head_size: int  # estates.size
    checkpoint_size: int  # the latest checkpoint's size
    lost: list[str]  # acknowledged but not in the log
    duplicated: list[str]  # in the log more than once
    misplaced: list[str]  # in the log, but not at the seq it was acknowledged with
    ids: Counter[str]

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.contiguous:
            out.append("seqs are not contiguous")
        if self.head_size != self.size:
            out.append(f"estates.size {self.head_size} != {self.size} entries")
        if self.checkpoint_size != self.size:
            out.append(f"latest checkpoint size {self.checkpoint_size} != {self.size} entries")
        if self.misplaced:
            out.append(f"{len(self.misplaced)} acknowledged at another seq: {self.misplaced[:3]}")
        return out


@contextmanager
def connect(db: Db) -> Iterator[Any]:
    engine = make_engine(db.url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def check_log(db: Db, estate: str, acks: Mapping[str, int | None]) -> LogCheck:
    """Read ``estate``'s log with plain SQL; ``acks``: payload id → acknowledged seq."""
    with connect(db) as conn:
        rows = conn.execute(
            text("SELECT seq, payload_id FROM entries WHERE estate_id = :e ORDER BY seq"),
            {"e": estate},
        ).all()
        head = conn.execute(text("SELECT size FROM estates WHERE id = :e"), {"e": estate}).scalar()
        cp = conn.execute(
            text("SELECT max(size) FROM checkpoints WHERE estate_id = :e"), {"e": estate}
        ).scalar()
    seqs = [int(r[0]) for r in rows]
    ids = Counter(str(r[1]) for r in rows)
    at = {str(r[1]): int(r[0]) for r in rows}
    lost = [pid for pid in acks if pid not in ids]
    duplicated = [pid for pid, n in ids.items() if n > 1]
    misplaced = [
        pid for pid, seq in acks.items() if seq is not None and pid in at and at[pid] != seq
    ]
    return LogCheck(
        len(rows),
        seqs == list(range(len(rows))),
        int(head or 0),
        int(cp or 0),
        lost,
        duplicated,
        misplaced,
        ids,
    )


@dataclass
class AuditOutcome:
    clean: bool
    findings: list[str]
    roots: dict[str, tuple[int, str | None]]  # estate -> (size, base64 root)

    @property
    def verdict(self) -> str:
        return "clean" if self.clean else f"{len(self.findings)} findings"


def audit(db: Db, estates: Iterable[str] = ()) -> AuditOutcome:
    """The full audit of ``estates`` (all by default) from the database, inline."""
    from audits.db import DatabaseSource
    from audits.run import AuditOptions, run_audit

    source = DatabaseSource(db.url, db.data_dir)
    try:
        report = run_audit(source, AuditOptions(estates=tuple(estates), workers=1))
    finally:
        source.close()
    findings = [f"{f.check}@{f.seq}: {f.message}" for f in report.findings]
    roots = {e.estate: (e.size, e.root) for e in report.estates}
    return AuditOutcome(report.clean, findings, roots)


CLI_IN_PROCESS = os.environ.get("TRUSTLEDGER_RELIABILITY_CLI_IN_PROCESS") == "1"
"""Run ``trustledger`` commands in this process (Typer's runner) instead of a subprocess:
the same code without the interpreter start-up (the CI-sized pytest runs set it)."""


def cli(db: Db | None, *args: str, timeout: float = 300, **env: str) -> tuple[int, str, str]:
    """Run ``trustledger ARGS`` in a subprocess (over ``db``): (exit code, stdout, stderr)."""
    if CLI_IN_PROCESS:
        from typer.testing import CliRunner

        from api.cli import app

        run_env = {"TRUSTLEDGER_LANG": "en", **(db.env() if db else {}), **env}
        if db is None:  # no database given: none from this process's environment either
            run_env.setdefault("TRUSTLEDGER_DATABASE_URL", "")
        result = CliRunner().invoke(app, list(args), env=run_env)
        return result.exit_code, result.stdout, result.stderr
    full_env = {**os.environ, "TRUSTLEDGER_LANG": "en", **(db.env() if db else {}), **env}
    proc = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def is_problem(response: httpx.Response, code: str | None = None) -> bool:
    """An RFC 9457 problem (of type ``/problems/<code>`` if given) with a matching status."""
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or body.get("status") != response.status_code:
        return False
    return code is None or body.get("type") == f"/problems/{code}"


def problem_type(response: httpx.Response) -> str:
    try:
        return str(response.json().get("type", "?"))
    except (ValueError, AttributeError):
        return f"(not JSON: {response.headers.get('content-type', '')})"
