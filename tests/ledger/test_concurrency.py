"""Concurrent appends from separate OS processes: one chain, no lost or doubled entries.

Each worker runs in a spawned process with its own LedgerService and engine, appends
signed income entries one per call and reports the (payload id, seq) it was
acknowledged. Afterwards every acknowledgement must hold: the log is contiguous,
each acknowledged id sits exactly once at its acknowledged seq, and verify_estate
passes (chain, tree hashes, checkpoints). Keys cross the process boundary as seeds.

The processes are started once per module (spawning and importing is most of the
cost) and a barrier makes each run's workers start appending together; it also
forces every task of a run onto its own process, which the test checks by pid.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger.storage.models import CheckpointRow, EntryRow
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate
from tests.factories import BANK, EstateFactory

ORIGIN_HOST = "trustledger.example"
PROCESSES = 8
PER_WORKER = 25
TIMEOUT = 180

Ack = tuple[str, str, int]  # (estate, payload id, seq)


def _worker(
    url: str, data_dir: str, seeds: dict[str, bytes], count: int, worker: int, start: Any
) -> tuple[int, list[Ack]]:
    """Append ``count`` income entries one per call, rotating over the estates in ``seeds``."""
    from api.payloads import payload, sign
    from ledger.signing import AuthorKey
    from tests.factories import DAY

    svc = LedgerService(url, Path(data_dir), ORIGIN_HOST)
    try:
        keys = {estate: AuthorKey(seed) for estate, seed in seeds.items()}
        estates = sorted(keys)
        acks: list[Ack] = []
        start.wait(timeout=60)
        for i in range(count):
            estate = estates[(worker + i) % len(estates)]
            fen = 1000 * worker + i + 1
            body = {
                "postings": [
                    {"account": BANK, "amount": fen},
                    {"account": "Income:PropertyFee", "amount": -fen},
                ],
                "counterparty": f"worker {worker}",
                "category": "物业费",
            }
            item = sign(payload(estate, "transaction", body, date=DAY), [keys[estate]])
            appended = svc.append(estate, [item])[0]
            if not appended.created:
                raise AssertionError(f"fresh payload {item.payload.id} acknowledged as a retry")
            acks.append((estate, item.payload.id, appended.entry.seq))
        return os.getpid(), acks
    finally:
        svc.engine.dispose()


def _ready() -> None:
    """Pool initializer: unpickling it imports this module (and the ledger) up front."""


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[Any, Any]]:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(PROCESSES, initializer=_ready) as workers:
        yield workers, manager
        workers.terminate()


def run_workers(
    pool: tuple[Any, Any], url: str, data_dir: Path, seeds: dict[str, bytes], n: int, count: int
) -> list[Ack]:
    workers, manager = pool
    start = manager.Barrier(n)
    args = [(url, str(data_dir), seeds, count, w, start) for w in range(n)]
    results = workers.starmap_async(_worker, args, chunksize=1).get(timeout=TIMEOUT)
    pids = {pid for pid, _ in results}
    assert len(pids) == n, f"{n} workers ran in only {len(pids)} processes"
    assert os.getpid() not in pids
    acks = [ack for _, worker_acks in results for ack in worker_acks]
    assert len(acks) == n * count
    return acks


def check_log(svc: LedgerService, estate: str, acks: list[Ack]) -> None:
    """The acknowledgements for ``estate`` all hold, and its log verifies."""
    mine = [(pid, seq) for e, pid, seq in acks if e == estate]
    assert mine, "no appends reached this estate"
    with svc.session() as s:
        stored = s.execute(
            select(EntryRow.seq, EntryRow.payload_id)
            .where(EntryRow.estate_id == estate)
            .order_by(EntryRow.seq)
        ).all()
        checkpoints = list(
            s.scalars(
                select(CheckpointRow.size)
                .where(CheckpointRow.estate_id == estate)
                .order_by(CheckpointRow.size)
            )
        )
        replayed = verify_estate(s, estate)
    size = len(stored)
    assert [seq for seq, _ in stored] == list(range(size))
    assert replayed.tree.size == size
    by_id = Counter(pid for _, pid in stored)
    at_seq = dict(stored)
    for pid, seq in mine:
        assert by_id[pid] == 1, f"{pid} is stored {by_id[pid]} times"
        assert at_seq[seq] == pid, f"acknowledged seq {seq} holds {at_seq[seq]}, not {pid}"
    # The concurrent appends are the tail of the log, one checkpoint per call, each at
    # its own size: no two appends saw the same head.
    assert sorted(seq for _, seq in mine) == list(range(size - len(mine), size))
    assert checkpoints[-len(mine) :] == list(range(size - len(mine) + 1, size + 1))


def _estates(svc: LedgerService, n: int) -> list[EstateFactory]:
    return [EstateFactory.create(svc, f"c-{uuid.uuid4().hex[:12]}") for _ in range(n)]


@pytest.fixture
def pg_service(pg_url: str, tmp_path: Path) -> Iterator[LedgerService]:
    svc = LedgerService(pg_url, tmp_path / "data", ORIGIN_HOST)
    yield svc
    svc.engine.dispose()


def test_eight_processes_one_estate_postgresql(
    pg_service: LedgerService, pool: tuple[Any, Any]
) -> None:
    (f,) = _estates(pg_service, 1)
    seeds = {f.id: f.trustee.seed}
    acks = run_workers(pool, pg_service.url, pg_service.data_dir, seeds, PROCESSES, PER_WORKER)
    check_log(pg_service, f.id, acks)


def test_eight_processes_three_estates_postgresql(
    pg_service: LedgerService, pool: tuple[Any, Any]
) -> None:
    estates = _estates(pg_service, 3)
    seeds = {f.id: f.trustee.seed for f in estates}
    acks = run_workers(pool, pg_service.url, pg_service.data_dir, seeds, PROCESSES, PER_WORKER)
    for f in estates:
        check_log(pg_service, f.id, acks)
    per_estate = Counter(e for e, _, _ in acks)
    assert sorted(per_estate.values()) == [66, 67, 67]


def test_four_processes_one_sqlite_file(
    sqlite_template: Path, tmp_path: Path, pool: tuple[Any, Any]
) -> None:
    path = tmp_path / "shared.db"
    shutil.copy(sqlite_template, path)
    svc = LedgerService(f"sqlite:///{path}", tmp_path / "data", ORIGIN_HOST)
    try:
        (f,) = _estates(svc, 1)
        acks = run_workers(pool, svc.url, svc.data_dir, {f.id: f.trustee.seed}, 4, PER_WORKER)
        check_log(svc, f.id, acks)
    finally:
        svc.engine.dispose()
