"""Shared pieces of the benchmarks: the Result row, statistics, databases, workloads.

Timing is ``time.perf_counter``; every benchmark repeats its measurement (rounds
or many samples), reports the median with its spread, and compares with a
baseline measured in the same process run, interleaved round by round, so that
a noisy machine moves both sides alike.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from api.payloads import genesis_body, payload, sign
from ledger.signing import AuthorKey
from ledger.storage.appender import SignedPayload
from ledger.storage.db import migrate
from ledger.storage.service import LedgerService

OUT = Path(__file__).parent / "out"
"""Scratch space and caches (gitignored)."""

PG_URL_ENV = "TRUSTLEDGER_BENCH_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/trustledger_bench"
ORIGIN_HOST = "bench.trustledger.example"
DAY = dt.date(2026, 10, 15)
BANK = "Assets:Bank:CoManaged"
CHART = [
    (BANK, "asset", "共管账户"),
    ("Income:PropertyFee", "income", "物业费收入"),
    ("Expenses:Cleaning", "expense", "保洁"),
]


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One row of the table: our figure, the baseline's, and their ratio against a target.

    ``target`` is ``">= x"`` or ``"<= x"`` and applies to ``ratio``; ``figure`` and
    ``baseline`` are medians in ``unit`` (the note gives the spread); ``peak_mb`` is
    optional.
    """

    name: str
    figure: float
    baseline: float
    ratio: float
    target: str
    unit: str
    note: str = ""
    peak_mb: float | None = None
    """Peak memory in MB: of the measured work when the benchmark measures it (its
    docstring says which: peak RSS or the ``tracemalloc`` heap peak), else the peak
    resident set of the benchmark's process or its workers, set by ``bench.run``."""

    @property
    def verdict(self) -> str:
        op, value = self.target.split()
        limit = float(value)
        ok = self.ratio >= limit if op == ">=" else self.ratio <= limit
        return "meets" if ok else "misses"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figure": self.figure,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "unit": self.unit,
            "verdict": self.verdict,
            "note": self.note,
            "peak_mb": self.peak_mb,
        }


# -- statistics --------------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of a sample."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def spread(xs: Sequence[float], fmt: str = "{:.0f}") -> str:
    """``min–max`` of the rounds, the spread shown next to a median."""
    return f"{fmt.format(min(xs))}–{fmt.format(max(xs))}"


@contextmanager
def no_gc() -> Iterator[None]:
    """Collector off for a timed section (as ``timeit`` does); restored afterwards."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# -- databases ---------------------------------------------------------------------------------


def pg_url() -> str:
    return os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)


def reset_pg(url: str) -> None:
    """Drop and re-create the benchmark database, then create the schema."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    migrate(url)


class SqliteFiles:
    """Fresh migrated SQLite files, copied from one template (migrating is slow)."""

    def __init__(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="sqlite-", dir=OUT))
        self._template = self.dir / "template.db"
        migrate(f"sqlite:///{self._template}")
        self._n = 0

    def fresh(self) -> str:
        self._n += 1
        path = self.dir / f"db{self._n}.db"
        shutil.copy(self._template, path)
        return f"sqlite:///{path}"

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements sent on ``engine`` inside the block (BEGIN/COMMIT excluded)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


# -- an estate and its workload ----------------------------------------------------------------


class BenchEstate:
    """An estate's founding keys, its genesis and chart, and pre-signed transactions."""

    def __init__(self, estate_id: str) -> None:
        self.id = estate_id
        self.operator = AuthorKey.generate()
        self.committee = AuthorKey.generate()
        self.trustee = AuthorKey.generate()

    @property
    def author_keys(self) -> dict[str, bytes]:
        """Key id -> public key, as the baseline's verifier holds them."""
        keys = (self.operator, self.committee, self.trustee)
        return {k.key_id: k.public_key for k in keys}

    def genesis(self) -> SignedPayload:
        body = genesis_body(
            "基准小区",
            "常州市基准路 1 号",
            500,
            [
                (self.operator.public_key, "operator", "平台"),
                (self.committee.public_key, "committee", "业委会"),
                (self.trustee.public_key, "trustee", "某物业公司"),
            ],
        )
        return sign(payload(self.id, "genesis", body, date=DAY), [self.operator])

    def chart(self) -> list[SignedPayload]:
        out = []
        for name, type_, display in CHART:
            body = {"action": "open", "name": name, "type": type_, "display_name": display}
            out.append(sign(payload(self.id, "account", body, date=DAY), [self.committee]))
        return out

    def create(self, service: LedgerService) -> None:
        """Genesis and the chart of accounts (two transactions)."""
        service.create_estate(self.genesis())
        service.append(self.id, self.chart())

    def transactions(self, n: int, start: int = 0) -> list[SignedPayload]:
        """``n`` pre-signed transactions: three fee receipts (one signature), then a
        spend (trustee and committee), repeating — the mix of an estate's books."""
        out = []
        for i in range(start, start + n):
            fen = 10_000 + i
            if i % 4 == 3:
                postings = [
                    {"account": BANK, "amount": -fen},
                    {"account": CHART[2][0], "amount": fen},
                ]
                body = {"postings": postings, "counterparty": "常州某保洁公司", "category": "保洁"}
                keys = [self.trustee, self.committee]
            else:
                postings = [
                    {"account": BANK, "amount": fen},
                    {"account": CHART[1][0], "amount": -fen},
                ]
                body = {"postings": postings, "counterparty": "业主", "category": "物业费"}
                keys = [self.trustee]
            raw = payload(self.id, "transaction", body, date=DAY, memo=f"第 {i} 笔")
            out.append(sign(raw, keys))
        return out


def wire_form(items: Sequence[SignedPayload]) -> list[tuple[dict[str, Any], list[dict[str, str]]]]:
    """What a client posts: (payload JSON, signatures JSON) — picklable for worker processes."""
    return [(item.payload.raw, [s.to_json() for s in item.signatures]) for item in items]
