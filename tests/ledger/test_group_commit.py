"""Group commit: concurrent single appends share transactions, each answered on its own.

Sixteen threads post to one estate through ``append_one``: good payloads, repeats
of a payload (answered with the same entry), refused ones (a spend with one
signature) and a conflicting reuse of an id. Afterwards every acknowledged entry
sits exactly once at its acknowledged seq, each refusal carries its own error, the
log verifies, and some transactions carried more than one payload.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from ledger.errors import Conflict, LedgerError, MissingSignature
from ledger.storage.models import EntryRow
from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory

THREADS = 16
PER_THREAD = 12


def test_concurrent_single_posts_are_grouped_and_answered_each(estate: EstateFactory) -> None:
    f = estate
    shared = f.income(777)  # every thread posts this one too: one entry, many answers
    conflicting = f.income(1, id=shared.payload.id)  # the same id with other content
    acks: list[tuple[str, int, bool]] = []
    refusals: list[LedgerError] = []
    crashes: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()

    def worker(n: int) -> None:
        items = [f.income(1000 * n + i + 1) for i in range(PER_THREAD)]
        items.insert(PER_THREAD // 2, shared)
        items.append(f.spend(500, f.trustee))  # money out with one signature: refused
        if n == 0:
            items.append(conflicting)
        barrier.wait()
        for item in items:
            try:
                done = f.service.append_one(f.id, item)
                with lock:
                    acks.append((item.payload.id, done.entry.seq, done.created))
            except LedgerError as e:
                with lock:
                    refusals.append(e)
            except BaseException as e:  # pragma: no cover - reported below
                crashes.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert crashes == []

    missing = [e for e in refusals if isinstance(e, MissingSignature)]
    conflicts = [e for e in refusals if isinstance(e, Conflict)]
    assert len(missing) == THREADS and len(conflicts) == 1 and len(refusals) == THREADS + 1
    assert all(e.data.get("index") == 0 for e in refusals)

    created = [(i, s) for i, s, c in acks if c]
    assert len(created) == THREADS * PER_THREAD + 1  # each good payload once, shared once
    shared_seqs = {s for i, s, _ in acks if i == shared.payload.id}
    assert len(shared_seqs) == 1 and len([a for a in acks if a[0] == shared.payload.id]) == 16

    with f.service.session() as s:
        query = select(EntryRow.payload_id, EntryRow.seq).where(EntryRow.estate_id == f.id)
        rows = s.execute(query).all()
        stored = dict(rows)
        size = verify_estate(s, f.id).tree.size
    assert size == len(stored) == max(stored.values()) + 1  # contiguous, one chain
    assert len(rows) == len(stored)  # no payload id twice
    for payload_id, seq, _ in acks:
        assert stored[payload_id] == seq
    grouper = f.service.grouper
    assert grouper.grouped == len(acks)  # every answer came out of a committed group
    assert grouper.groups < grouper.grouped  # some transactions carried several posts


def test_an_error_for_the_whole_group_reaches_every_caller(estate: EstateFactory) -> None:
    with pytest.raises(LedgerError) as e:
        estate.service.append_one("no-such-estate", estate.income(5))
    assert e.value.code == "not-found"


# -- the leader waits (boundedly) for callers still doing their own work ---------------------


def _recording_grouper(delay: float) -> tuple[Any, list[list[str]]]:
    from ledger.storage.groupcommit import GroupCommitter

    groups: list[list[str]] = []

    def append(estate: str, items: Any, salts: Any) -> list[Any]:
        groups.append([i for i in items])
        return [f"entry of {i}" for i in items]

    return GroupCommitter(append, delay=delay), groups


def _a_then_b(delay: float, b_works: float) -> tuple[list[list[str]], float]:
    """B announces itself and works ``b_works`` seconds; meanwhile A appends and leads.
    The groups appended, and how long A's append took."""
    grouper, groups = _recording_grouper(delay)
    started = threading.Event()

    def before() -> None:
        started.set()
        time.sleep(b_works)

    late = threading.Thread(target=grouper.append, args=("e", "B", (), before))
    late.start()
    started.wait()
    t = time.monotonic()
    assert grouper.append("e", "A") == "entry of A"
    took = time.monotonic() - t
    late.join()
    return groups, took


def test_a_leader_waits_for_an_announced_caller_to_join_its_group() -> None:
    groups, took = _a_then_b(delay=10.0, b_works=0.3)
    assert groups == [["A", "B"]]
    assert 0.2 < took < 5


def test_the_wait_is_bounded_and_a_lone_caller_never_waits() -> None:
    groups, took = _a_then_b(delay=0.05, b_works=1.0)
    assert groups == [["A"], ["B"]]
    assert took < 0.5  # gave up on B after the delay
    lone, lone_groups = _recording_grouper(delay=10.0)
    t = time.monotonic()
    lone.append("e", "C", (), lambda: None)  # announced itself, then queued: no one to wait for
    assert time.monotonic() - t < 1 and lone_groups == [["C"]]
