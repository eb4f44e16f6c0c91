"""append_pg_concurrent: 4 concurrent clients appending to one estate on PostgreSQL.

Ours (the figure): 4 client threads call :meth:`LedgerService.append_one` — the path
``POST /v1/estates/{e}/entries`` takes — of one service, one payload per call, on the
same estate. Each caller verifies its payload's signatures before queueing
(Ed25519 releases the GIL), and concurrent calls are committed together (group
commit, :mod:`ledger.storage.groupcommit`); each call returns after its commit.

Also measured (in the note): 4 worker *processes*, each with its own
:class:`LedgerService`, calling ``append(estate, [item])`` one entry per transaction
— what several API replicas do when the proxy spreads one estate's posts over them
instead of routing them to one replica (``docs/scale.md``): appends serialise on the
estate row (``SELECT … FOR UPDATE``) and nothing can be grouped.

Baseline: 4 processes running only the locking protocol with raw psycopg (autocommit
off by explicit statements): ``BEGIN; SELECT size FROM head … FOR UPDATE; INSERT``
the row (the canonical leaf bytes of the same payloads) ``; UPDATE`` the head ``;
COMMIT``. No signatures, no tree, no ORM.

The payloads are signed in the parent and parsed before the clock starts. The worker
processes are spawned once and reused. Each round is a fresh estate and a fresh
baseline table; within a round the three sides alternate in blocks (400 appends,
100 per client), each block started on a barrier and timed from the first client's
start to the last one's end. Throughput = appends / the sum of the block times.
Target: at least 0.6 × the baseline.
The benchmark database is dropped and re-created at the start.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.common import (
    CHART,
    ORIGIN_HOST,
    OUT,
    BenchEstate,
    Result,
    median,
    pg_url,
    reset_pg,
    spread,
    wire_form,
)
from ledger.canonical import canonical_json
from ledger.storage.service import LedgerService

NAME = "append_pg_concurrent"
WORKERS = 4
TARGET = ">= 0.6"
TIMEOUT = 600.0


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _worker(url: str, data_dir: str, commands: Any, results: Any, barrier: Any) -> None:
    """Run commands until ``stop``: ``("ours", estate, wire items)`` or ``("base", leaves)``."""
    from ledger.storage.appender import SignedPayload

    service: LedgerService | None = None
    conn = psycopg.connect(psycopg_dsn(url), autocommit=True)
    while True:
        cmd = commands.get()
        if cmd[0] == "stop":
            break
        try:
            if cmd[0] == "ours":
                _, estate, wire = cmd
                if service is None:
                    service = LedgerService(url, Path(data_dir), ORIGIN_HOST)
                items = [SignedPayload.parse(p, s) for p, s in wire]
                with service.engine.connect():
                    pass  # a pooled connection, opened before the clock starts
                barrier.wait(TIMEOUT)
                start = time.perf_counter()
                for item in items:
                    service.append(estate, [item])
                end = time.perf_counter()
                n = len(items)
            else:
                _, leaves = cmd
                barrier.wait(TIMEOUT)
                start = time.perf_counter()
                for leaf in leaves:
                    conn.execute("BEGIN")
                    row = conn.execute("SELECT size FROM bench_head WHERE id = 1 FOR UPDATE")
                    (size,) = row.fetchone() or (0,)
                    conn.execute("INSERT INTO bench_rows (seq, leaf) VALUES (%s, %s)", (size, leaf))
                    conn.execute("UPDATE bench_head SET size = %s WHERE id = 1", (size + 1,))
                    conn.execute("COMMIT")
                end = time.perf_counter()
                n = len(leaves)
            results.put(("ok", start, end, n))
        except Exception:
            barrier.abort()
            results.put(("error", traceback.format_exc()))
    conn.close()
    if service is not None:
        service.engine.dispose()


class Pool:
    def __init__(self, url: str, data_dir: Path) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(WORKERS)
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(WORKERS)]
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(url, str(data_dir), q, self.results, self.barrier),
                daemon=True,
            )
            for q in self.commands
        ]
        for p in self.procs:
            p.start()

    def run(self, commands: list[tuple[Any, ...]]) -> float:
        """Send one command to each worker; return the wall time from first start to last end."""
        for q, cmd in zip(self.commands, commands, strict=True):
            q.put(cmd)
        answers = []
        for _ in commands:
            try:
                answers.append(self.results.get(timeout=TIMEOUT))
            except queue.Empty as e:
                raise RuntimeError("a benchmark worker did not answer") from e
        errors = [a[1] for a in answers if a[0] == "error"]
        if errors:
            raise RuntimeError("benchmark worker failed:\n" + errors[0])
        if self.barrier.broken:
            self.barrier.reset()
        return max(a[2] for a in answers) - min(a[1] for a in answers)

    def close(self) -> None:
        for q in self.commands:
            q.put(("stop",))
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()


def _reset_baseline(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_rows, bench_head")
        conn.execute("CREATE TABLE bench_head (id integer PRIMARY KEY, size bigint NOT NULL)")
        conn.execute("CREATE TABLE bench_rows (seq bigint PRIMARY KEY, leaf bytea NOT NULL)")
        conn.execute("INSERT INTO bench_head VALUES (1, 0)")


def _count(dsn: str, sql: str, *args: Any) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, args).fetchone()
        return int(row[0]) if row else -1


def _threads_block(service: LedgerService, estate: str, parts: list[list[Any]]) -> float:
    """4 client threads, each appending its part through ``append_one``; the wall time."""
    barrier = threading.Barrier(len(parts))
    times: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def client(part: list[Any]) -> None:
        try:
            barrier.wait(TIMEOUT)
            start = time.perf_counter()
            for item in part:
                service.append_one(estate, item)
            times.append((start, time.perf_counter()))
        except BaseException as e:  # reported below, in the benchmark's thread
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    if errors:
        raise RuntimeError("a benchmark client failed") from errors[0]
    return max(e for _, e in times) - min(s for s, _ in times)


def run(quick: bool) -> list[Result]:
    n = 200 if quick else 2000
    rounds = 3 if quick else 5
    block = 100 if quick else 400  # appends per block, shared by the workers
    url = pg_url()
    dsn = psycopg_dsn(url)
    reset_pg(url)
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=OUT))
    service = LedgerService(url, data_dir, ORIGIN_HOST)
    pool = Pool(url, data_dir)
    ours: list[float] = []
    procs: list[float] = []
    base: list[float] = []
    sides = ("ours", "procs", "base")
    try:
        for r in range(rounds):
            estate = BenchEstate(f"bench-conc-{r}")
            estate.create(service)
            signed = estate.transactions(2 * n)
            threaded, wire = signed[:n], wire_form(signed[n:])
            leaves = [canonical_json({"payload": p, "signatures": s}) for p, s in wire]
            _reset_baseline(dsn)
            seconds = dict.fromkeys(sides, 0.0)
            for b, at in enumerate(range(0, n, block)):
                k = (r + b) % len(sides)
                for side in sides[k:] + sides[:k]:
                    if side == "ours":
                        items: list[Any] = threaded[at : at + block]
                        parts = [items[w::WORKERS] for w in range(WORKERS)]
                        seconds[side] += _threads_block(service, estate.id, parts)
                        continue
                    if side == "procs":
                        part: list[Any] = wire[at : at + block]
                        cmds = [("ours", estate.id, part[w::WORKERS]) for w in range(WORKERS)]
                    else:
                        part = leaves[at : at + block]
                        cmds = [("base", part[w::WORKERS]) for w in range(WORKERS)]
                    seconds[side] += pool.run(cmds)
            size = _count(dsn, "SELECT size FROM estates WHERE id = %s", estate.id)
            if size != 2 * n + 1 + len(CHART):
                raise RuntimeError(f"estate has {size} entries after the round, not {2 * n + 4}")
            if _count(dsn, "SELECT count(*) FROM bench_rows") != n:
                raise RuntimeError("the baseline lost rows")
            ours.append(n / seconds["ours"])
            procs.append(n / seconds["procs"])
            base.append(n / seconds["base"])
    finally:
        pool.close()
        service.engine.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)
    figure, baseline = median(ours), median(base)
    note = (
        f"{rounds}×{n} appends by {WORKERS} client threads through append_one (blocks of "
        f"{block}, alternating); ours {spread(ours)}/s, base {spread(base)}/s; "
        f"{WORKERS} processes, one append per transaction: {spread(procs)}/s "
        f"(ratio {median(procs) / baseline:.3f})"
    )
    return [Result(NAME, figure, baseline, figure / baseline, TARGET, "appends/s", note)]
