"""group_commit_pg: 16 clients posting single entries to one estate on PostgreSQL.

Ours: 16 threads call ``append_one(estate, item)`` — group commit: the posts
queued while a transaction runs are appended together in the next one, each
answered after its commit.

Baseline: the same 16 threads, the same pre-signed payloads, calling
``append(estate, [item])`` — one transaction per post (what every post cost
before group commit), side by side in the same run.

Each round is a fresh estate for each side; the sides alternate, each started on
a barrier and timed from the first thread's start to the last one's end.
Throughput = posts / time. Target: at least 3 × the baseline. The benchmark
database is dropped and re-created at the start.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from bench.common import ORIGIN_HOST, OUT, BenchEstate, Result, median, pg_url, reset_pg, spread
from ledger.storage.db import make_engine
from ledger.storage.service import LedgerService

NAME = "group_commit_pg"
CLIENTS = 16
TARGET = ">= 3"


def _side(service: LedgerService, estate: BenchEstate, per_client: int, grouped: bool) -> float:
    """Posts per second of ``CLIENTS`` threads posting ``per_client`` each."""
    items = estate.transactions(CLIENTS * per_client)
    chunks = [items[i::CLIENTS] for i in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)
    errors: list[BaseException] = []

    def client(mine: list) -> None:  # type: ignore[type-arg]
        barrier.wait()
        try:
            for item in mine:
                if grouped:
                    service.append_one(estate.id, item)
                else:
                    service.append(estate.id, [item])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(items) / elapsed


def run(quick: bool) -> list[Result]:
    url = pg_url()
    reset_pg(url)
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=OUT))
    engine = make_engine(url, pool_size=CLIENTS + 2)  # a connection for every client
    service = LedgerService(url, data_dir, ORIGIN_HOST, engine=engine)
    rounds, per_client = (2, 10) if quick else (5, 40)
    ours, base, sizes = [], [], []
    try:
        for r in range(rounds):
            for grouped in (r % 2 == 0, r % 2 != 0):
                estate = BenchEstate(f"bench-gc-{r}-{int(grouped)}")
                estate.create(service)
                before = (service.grouper.groups, service.grouper.grouped)
                rate = _side(service, estate, per_client, grouped)
                if grouped:
                    ours.append(rate)
                    groups = service.grouper.groups - before[0]
                    sizes.append((service.grouper.grouped - before[1]) / max(1, groups))
                else:
                    base.append(rate)
    finally:
        service.engine.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)
    ratio = median(ours) / median(base)
    return [
        Result(
            NAME,
            median(ours),
            median(base),
            ratio,
            TARGET,
            "posts/s",
            f"{CLIENTS} threads, {rounds} rounds × {CLIENTS * per_client} posts; "
            f"ours {spread(ours)}, one-tx-per-post {spread(base)}; "
            f"mean group {median(sizes):.1f} posts",
        )
    ]
