"""Cutting a log into chunks and analysing them on every core, results in order.

:func:`chunks` pairs each batch of leaves from a source with the checkpoints whose
size falls in it (so a checkpoint's note is opened by the same worker, and its root
is compared as soon as the fold reaches its size) and with the source's derived rows
for its seqs (compared with the leaves by the same worker). :func:`analysed` runs
:func:`audits.analyse.analyse_chunk` on them — inline, or in a process pool with a
bounded window of chunks in flight, so memory stays flat however long the log —
and yields the results in the order of the log.

What it does not: fold or judge (:mod:`audits.run` does, in the main process).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from audits.analyse import AnalysedChunk, Chunk, NoteTask, analyse_chunk
from audits.logkeys import key_for, origin_of_key
from audits.sources import AuditSource, DerivedRows, Leaf, LogKey, StoredCheckpoint
from audits.speculate import Snapshot
from ledger import collector


@dataclass(frozen=True)
class ChunkMeta:
    """What the main process keeps of a chunk in flight: where it starts, its leaves
    (to judge one again if a worker's guess was wrong), its checkpoints as stored and
    its derived rows (None: the source has none)."""

    start: int
    leaves: Sequence[Leaf]
    checkpoints: Sequence[StoredCheckpoint]
    rows: DerivedRows | None = None


def _notes(cps: Sequence[StoredCheckpoint], keys: Sequence[LogKey]) -> list[NoteTask]:
    tasks = []
    for cp in cps:
        key = key_for(keys, cp.size)
        origin = None if key is None else origin_of_key(key)
        tasks.append(NoteTask(cp.size, cp.note, None if key is None else key.vkey, origin))
    return tasks


def chunks(
    source: AuditSource,
    estate: str,
    keys: Sequence[LogKey],
    snapshot: Callable[[Sequence[int]], Snapshot | None] | None = None,
    wants_entries: Callable[[int], bool] | None = None,
) -> Iterator[tuple[ChunkMeta, Chunk]]:
    """Batches of leaves, each with the stored checkpoints up to its last position and
    the source's derived rows for its seqs.

    With ``snapshot(reversed)``, each chunk carries the fold as it stands when the chunk
    is cut, for its worker to judge the entries ahead (:mod:`audits.speculate`), with
    the entries its derived rows say it reverses;
    ``wants_entries(start)`` says whether the main process needs a clean chunk's
    entries back.
    """
    cps = source.checkpoints(estate)
    waiting: StoredCheckpoint | None = next(cps, None)
    position = 0
    for batch in source.leaf_batches(estate):
        end = position + len(batch)
        mine: list[StoredCheckpoint] = []
        while waiting is not None and waiting.size <= end:
            mine.append(waiting)
            waiting = next(cps, None)
        rows = None
        if batch:
            first, last = batch[0][0], batch[-1][0]
            rows = source.derived_rows(estate, first, max(first, last) + 1)
        reversed_seqs = [] if rows is None else rows.reversal_targets()
        ahead = None if snapshot is None else snapshot(reversed_seqs)
        entries = wants_entries is not None and wants_entries(position)
        notes = _notes(mine, keys)
        yield (
            ChunkMeta(position, batch, mine, rows),
            Chunk(position, batch, notes, ahead, rows, entries),
        )
        position = end
    rest = [] if waiting is None else [waiting, *cps]
    if rest:
        yield ChunkMeta(position, [], rest), Chunk(position, [], _notes(rest, keys))


def default_workers() -> int:
    """Worker processes for a large audit: one per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of fresh interpreters (``forkserver``): a fork of this process would share
    its open database connections with the children."""
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(method)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=collector.tune_process)


def analysed(
    items: Iterator[tuple[ChunkMeta, Chunk]], pool: ProcessPoolExecutor | None, depth: int = 6
) -> Iterator[tuple[ChunkMeta, AnalysedChunk]]:
    """Analyse chunks (inline without a pool), yielding results in order.

    With a pool at most ``depth`` chunks are in flight, so reading runs ahead of
    folding by a bounded amount. The first chunk is analysed inline and folded
    before the next is cut, so that the snapshots workers judge against already
    hold the genesis (its keys, policy) and the chart of accounts. Inline, each
    chunk is cut once the one before is folded: its snapshot is the true fold.
    """
    if pool is None:
        for meta, chunk in items:
            yield meta, analyse_chunk(chunk)
        return
    first = next(items, None)
    if first is None:
        return
    yield first[0], analyse_chunk(first[1])
    window: deque[tuple[ChunkMeta, Future[AnalysedChunk]]] = deque()
    try:
        for meta, chunk in items:
            window.append((meta, pool.submit(analyse_chunk, chunk)))
            if len(window) >= depth:
                done_meta, future = window.popleft()
                yield done_meta, future.result()
        while window:
            done_meta, future = window.popleft()
            yield done_meta, future.result()
    finally:
        for _, future in window:
            future.cancel()
