"""query_scale: every resident-facing query at 10,000 entries against 1,000,000.

Both logs are one estate built by :mod:`bench.generate` through the real batch path
(``LedgerService.append`` in batches of 1,000, pre-signed payloads; the realistic mix
of fee receipts, public income, co-signed spending and reversals, 100 transactions a
day ending 2026-10-31, so the 1M log spans 27 years and the 10k one three months, and
a month holds ≈ 3,000 entries in both). They are cached under ``bench/out/scale/``
(SQLite files; PostgreSQL databases named ``<bench db>_scale_<n>``) and reused while
their first and last entries match the generator's; a build in this run is timed and
its rate is in the note, otherwise the figures of the build that made the cache.

Each query is measured in process, through the code a route runs: one read
transaction (``LedgerService.reader``, which also loads the estate row) around the
same calls to :mod:`ledger.storage.queries`, :mod:`ledger.storage.reports` and
:class:`~ledger.storage.reader.LogReader` as the route, without HTTP and JSON:

- ``tx_first`` … ``tx_text``: ``GET /transactions`` — one page (51 rows asked, as the
  route does to know if there is more) and the totals over every match — unfiltered
  (first page; a page deep via a cursor in the middle half of the log), by month
  (``from``/``to`` = 2026-09), by category (``保洁``), by account prefix
  (``Income:Public``), by text (``q`` = ``电梯``);
- ``balances`` (now), ``summary`` (period 2026-09), ``entry`` (one leaf),
  ``entries`` (a page of 100 leaves), ``inclusion`` and ``consistency`` (proofs to the
  log's size from random points), ``receipt`` (a household's receipt check: the
  commitment's entry, the latest checkpoint and an inclusion proof).

Samples: 3 rounds alternating which size goes first, each after warm-up calls, up to
50 timed calls per size and round (quick: 20) or fewer when a round's time budget
(5 s; quick 1 s) is used up, never fewer than 3. Figures are p50 in ms over all
samples; p99 is in the note (with few samples it is close to the maximum). Target:
p50(1M) ≤ 2 × p50(10k). ``peak MB`` is the Python heap peak (``tracemalloc``) of one
call at the big size; the note of each engine's first row has the process's peak RSS.

Engines: SQLite always; PostgreSQL in full runs when ``TRUSTLEDGER_BENCH_PG_URL`` is
reachable (``TRUSTLEDGER_BENCH_SCALE_ENGINES=sqlite`` or ``=sqlite,postgresql``
chooses). ``--quick`` compares 10,000 with 100,000 entries.

``python -m bench.query_scale [--quick] [--engine E] --explain`` prints each query's
SQL with the plan (``EXPLAIN QUERY PLAN``; on PostgreSQL ``EXPLAIN (ANALYZE,
BUFFERS)``) at the big size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bench.common import OUT, Result, percentile, pg_url, spread
from bench.generate import (
    BuildStats,
    Spec,
    build_estate,
    finish_database,
    household,
    payload_id,
    peak_rss_mb,
    prepare_database,
    seq_of,
    write_stats,
)
from ledger.household import make_commitment
from ledger.storage import queries, reports
from ledger.storage.models import EntryRow
from ledger.storage.queries import TxFilter
from ledger.storage.service import LedgerService

NAME = "query_scale"
SCALE = OUT / "scale"
ESTATE = "bench-scale"
SMALL, BIG, BIG_QUICK = 10_000, 1_000_000, 100_000
ENGINES_ENV = "TRUSTLEDGER_BENCH_SCALE_ENGINES"
MONTH = "2026-09"
PAGE = 50
TARGET = "<= 2"


def spec(n: int) -> Spec:
    return Spec(ESTATE, n)


# -- the cached logs ----------------------------------------------------------------------------


@dataclass
class Db:
    engine: str  # "sqlite" | "postgresql"
    n: int
    url: str
    data_dir: Path
    stats_path: Path
    built: BuildStats | None = None  # when built (or finished) in this run
    svc: LedgerService | None = None

    @property
    def label(self) -> str:
        return "sqlite" if self.engine == "sqlite" else "pg"

    def service(self) -> LedgerService:
        if self.svc is None:
            self.svc = LedgerService(self.url, self.data_dir, "scale.trustledger.example")
        return self.svc

    def build_note(self) -> str:
        if self.built is not None and self.built.entries:
            b = self.built
            return f"built now: {b.entries:,} entries in {b.seconds:,.0f} s ({b.rate:,.0f}/s)"
        try:
            doc = json.loads(self.stats_path.read_text())
            s = doc["stats"]
            return (
                f"cached; built {doc['finished'][:10]}: {s['entries']:,} entries in "
                f"{s['seconds']:,.0f} s ({s['rate']:,.0f}/s)"
            )
        except (OSError, ValueError, KeyError):
            return "cached"


def locate(engine: str, n: int) -> Db:
    stem = f"{'sqlite' if engine == 'sqlite' else 'pg'}-{n}"
    if engine == "sqlite":
        url = f"sqlite:///{SCALE / f'{stem}.db'}"
    else:
        base = make_url(pg_url())
        url = base.set(database=f"{base.database}_scale_{n}").render_as_string(hide_password=False)
    return Db(engine, n, url, SCALE / f"{stem}.data", SCALE / f"{stem}.json")


def _matches(db: Db, sp: Spec) -> str:
    """``"ok"``, ``"partial"`` (the same log, not finished) or ``"other"``."""
    engine = create_engine(db.url)
    try:
        with engine.connect() as conn:
            rows = dict(
                conn.execute(
                    select(EntryRow.seq, EntryRow.payload_id).where(
                        EntryRow.estate_id == ESTATE, EntryRow.seq.in_([0, sp.entries - 1])
                    )
                ).all()
            )
            last_date = conn.scalar(
                select(EntryRow.date).where(
                    EntryRow.estate_id == ESTATE, EntryRow.seq == sp.entries - 1
                )
            )
    except OperationalError:
        return "other"
    finally:
        engine.dispose()
    if not rows:
        return "partial"  # no estate yet
    if rows.get(0) != payload_id(sp, "genesis"):
        return "other"
    k = sp.transactions - 1
    if rows.get(sp.entries - 1) == payload_id(sp, f"tx/{k}") and last_date == str(sp.end):
        return "ok"
    return "partial" if sp.entries - 1 not in rows else "other"


def ensure(engine: str, n: int, quiet: bool = False) -> Db:
    """The cached log of ``n`` entries on ``engine``, built (or finished) if needed."""
    db = locate(engine, n)
    sp = spec(n)
    SCALE.mkdir(parents=True, exist_ok=True)
    prepare_database(db.url, fresh=False)  # creates it if missing; migrates to the head
    state = _matches(db, sp)
    if state == "ok":
        return db
    if state == "other":
        prepare_database(db.url, fresh=True)
    if not quiet:
        print(f"  building {engine} log of {n:,} entries (cached in {SCALE}) …", flush=True)
    db.built = build_estate(db.url, db.data_dir, sp, workers=os.cpu_count() or 2, quiet=quiet)
    db.built.vacuum_seconds = finish_database(db.url)
    write_stats(db.stats_path, db.url, [sp], db.built)
    return db


# -- the queries ----------------------------------------------------------------------------------


@dataclass
class Ctx:
    n: int
    spec: Spec
    rng: random.Random

    def seq(self) -> int:
        return self.rng.randrange(self.n)


Outcome = tuple[dict[str, float], int | None]
"""Seconds of a sample's parts (may be empty), and the number of matching entries."""


@dataclass(frozen=True)
class Query:
    name: str
    run: Callable[[LedgerService, Ctx], Outcome]
    doc: str = ""


def _tx(flt: TxFilter, deep: bool = False) -> Callable[[LedgerService, Ctx], Outcome]:
    def run(svc: LedgerService, ctx: Ctx) -> Outcome:
        after = ctx.rng.randrange(ctx.n // 4, 3 * ctx.n // 4) if deep else None
        with svc.reader(ESTATE) as r:
            t0 = time.perf_counter()
            rows = queries.list_transactions(r.session, ESTATE, flt, after=after, limit=PAGE + 1)
            t1 = time.perf_counter()
            totals = queries.transaction_totals(r.session, ESTATE, flt)
            t2 = time.perf_counter()
        if not rows:
            raise RuntimeError(f"no transactions for {flt}")
        return {"page": t1 - t0, "totals": t2 - t1}, totals.count

    return run


def _balances(svc: LedgerService, ctx: Ctx) -> Outcome:
    with svc.reader(ESTATE) as r:
        accounts = queries.balances(r.session, ESTATE)
        _ = r.size
    assert accounts
    return {}, None


def _summary(svc: LedgerService, ctx: Ctx) -> Outcome:
    with svc.reader(ESTATE) as r:
        s = reports.period_summary(r.session, ESTATE, reports.parse_period(MONTH))
    return {}, s.count


def _entry(svc: LedgerService, ctx: Ctx) -> Outcome:
    with svc.reader(ESTATE) as r:
        r.leaf(ctx.seq())
    return {}, None


def _entries(svc: LedgerService, ctx: Ctx) -> Outcome:
    with svc.reader(ESTATE) as r:
        rows = r.leaves(ctx.rng.randrange(ctx.n - 100), 100)
    assert len(rows) == 100
    return {}, None


def _inclusion(svc: LedgerService, ctx: Ctx) -> Outcome:
    with svc.reader(ESTATE) as r:
        r.inclusion_proof(ctx.seq(), r.size)
    return {}, None


def _consistency(svc: LedgerService, ctx: Ctx) -> Outcome:
    with svc.reader(ESTATE) as r:
        r.consistency_proof(ctx.rng.randrange(1, ctx.n), r.size)
    return {}, None


def _receipt(svc: LedgerService, ctx: Ctx) -> Outcome:
    k = ctx.rng.randrange(ctx.spec.transactions)
    while (found := household(ctx.spec, k)) is None:
        k = (k + 1) % ctx.spec.transactions
    salt, unit = found
    commitment = make_commitment(salt, unit)
    with svc.reader(ESTATE) as r:
        receipt = reports.find_receipt(r.session, ESTATE, seq_of(k), commitment)
        if receipt is None:
            raise RuntimeError(f"no receipt for transaction {k}")
        cp = r.latest_checkpoint()
        r.inclusion_proof(receipt.seq, cp.size)
    return {}, None


QUERIES = (
    Query("tx_first", _tx(TxFilter()), "first page, no filter"),
    Query("tx_deep", _tx(TxFilter(), deep=True), "a page at a cursor in the middle"),
    Query(
        "tx_month",
        _tx(TxFilter(date_from=dt.date(2026, 9, 1), date_to=dt.date(2026, 9, 30))),
        f"from/to = {MONTH}",
    ),
    Query("tx_category", _tx(TxFilter(category="保洁")), "category = 保洁"),
    Query("tx_account", _tx(TxFilter(account="Income:Public")), "account = Income:Public"),
    Query("tx_text", _tx(TxFilter(text="电梯")), "q = 电梯"),
    Query("balances", _balances, "every account, now"),
    Query("summary", _summary, f"period {MONTH}"),
    Query("entry", _entry, "one leaf"),
    Query("entries", _entries, "100 leaves"),
    Query("inclusion", _inclusion, "inclusion proof"),
    Query("consistency", _consistency, "consistency proof"),
    Query("receipt", _receipt, "receipt check with its proof"),
)


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Samples:
    times: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    round_p50: list[float] = field(default_factory=list)
    matches: int | None = None


def measure(
    q: Query,
    dbs: dict[int, Db],
    rounds: int,
    per_round: int,
    budget: float,
    warmup: int,
    rng: random.Random,
) -> dict[int, Samples]:
    sizes = sorted(dbs)
    out = {n: Samples() for n in sizes}
    for r in range(rounds):
        for n in sizes if r % 2 == 0 else sizes[::-1]:
            svc, ctx, s = dbs[n].service(), Ctx(n, spec(n), rng), out[n]
            for _ in range(warmup):
                q.run(svc, ctx)
            mine: list[float] = []
            deadline = time.perf_counter() + budget
            while len(mine) < per_round and (len(mine) < 3 or time.perf_counter() < deadline):
                t = time.perf_counter()
                parts, matches = q.run(svc, ctx)
                mine.append(time.perf_counter() - t)
                for k, v in parts.items():
                    s.parts.setdefault(k, []).append(v)
                s.matches = matches
            s.times.extend(mine)
            s.round_p50.append(percentile(mine, 50) * 1e3)
    return out


def heap_peak_mb(q: Query, db: Db, rng: random.Random) -> float:
    """Python heap peak (tracemalloc) of one call; untimed."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        q.run(db.service(), Ctx(db.n, spec(db.n), rng))
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def ms(xs: Sequence[float], p: float) -> float:
    return percentile(xs, p) * 1e3


def bench_engine(engine: str, quick: bool) -> list[Result]:
    small, big = SMALL, (BIG_QUICK if quick else BIG)
    dbs = {n: ensure(engine, n) for n in (small, big)}
    rounds, per_round, budget, warmup = (3, 20, 1.0, 1) if quick else (3, 50, 5.0, 2)
    rng = random.Random(20261201)
    results = []
    try:
        for i, q in enumerate(QUERIES):
            got = measure(q, dbs, rounds, per_round, budget, warmup, rng)
            b, s = got[big], got[small]
            figure, baseline = ms(b.times, 50), ms(s.times, 50)
            note = (
                f"{engine}, in process; {q.doc}; {len(b.times)} vs {len(s.times)} calls; "
                f"p99 {ms(b.times, 99):.2f} vs {ms(s.times, 99):.2f} ms; p50 per round "
                f"{spread(b.round_p50, '{:.2f}')} vs {spread(s.round_p50, '{:.2f}')} ms"
            )
            for part in b.parts:
                note += (
                    f"; {part} p50 {ms(b.parts[part], 50):.2f} vs {ms(s.parts[part], 50):.2f} ms"
                )
            if b.matches is not None:
                note += f"; {b.matches:,} vs {s.matches:,} matching entries"
            peak = heap_peak_mb(q, dbs[big], rng)
            if i == 0:
                own, _ = peak_rss_mb()
                note += (
                    f"; {big:,}: {dbs[big].build_note()}; {small:,}: {dbs[small].build_note()}"
                    f"; process peak RSS {own:,.0f} MB"
                )
            results.append(
                Result(
                    f"{NAME}_{dbs[big].label}_{q.name}",
                    figure,
                    baseline,
                    figure / baseline,
                    TARGET,
                    "ms p50",
                    note,
                    peak_mb=peak,
                )
            )
    finally:
        for db in dbs.values():
            if db.svc is not None:
                db.svc.engine.dispose()
    return results


def engines(quick: bool) -> list[str]:
    chosen = os.environ.get(ENGINES_ENV)
    if chosen:
        return [e.strip() for e in chosen.split(",") if e.strip()]
    if quick:
        return ["sqlite"]
    try:
        probe = create_engine(make_url(pg_url()).set(database="postgres"))
        with probe.connect():
            pass
        probe.dispose()
    except OperationalError:
        return ["sqlite"]
    return ["sqlite", "postgresql"]


def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    for engine in engines(quick):
        results.extend(bench_engine(engine, quick))
    return results


# -- query plans ----------------------------------------------------------------------------------


def explain(engine: str, n: int, names: Sequence[str] = ()) -> None:
    """Print every statement each query sends, with its plan, on the log of ``n`` entries."""
    db = ensure(engine, n)
    svc = db.service()
    rng = random.Random(1)
    for q in QUERIES:
        if names and q.name not in names:
            continue
        seen: list[tuple[str, Any]] = []

        def before(
            _c: Any, _cur: Any, statement: str, params: Any, *_: Any, sink: list[Any] = seen
        ) -> None:
            sink.append((statement, params))

        event.listen(svc.engine, "before_cursor_execute", before)
        try:
            q.run(svc, Ctx(n, spec(n), rng))
        finally:
            event.remove(svc.engine, "before_cursor_execute", before)
        print(f"=== {q.name} ({q.doc}) on {engine}, {n:,} entries")
        prefix = "EXPLAIN QUERY PLAN " if engine == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
        with svc.engine.connect() as conn:
            for statement, params in seen:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                print("--", " ".join(statement.split())[:600], "|", params)
                t = time.perf_counter()
                plan = conn.exec_driver_sql(prefix + statement, params).all()
                elapsed = (time.perf_counter() - t) * 1e3
                for row in plan:
                    print("   ", " | ".join(str(x) for x in row))
                print(f"    ({elapsed:.1f} ms)")
    svc.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.query_scale")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--explain", action="store_true", help="print the plans (big size)")
    parser.add_argument("--size", type=int, help="log size for --explain")
    parser.add_argument("--query", action="append", default=[], help="only this query")
    args = parser.parse_args(argv)
    if args.explain:
        explain(args.engine, args.size or (BIG_QUICK if args.quick else BIG), args.query)
        return 0
    for r in bench_engine(args.engine, args.quick):
        print(f"{r.name}: {r.figure:.3f} vs {r.baseline:.3f} ms = {r.ratio:.2f} ({r.verdict})")
        print(f"    {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
