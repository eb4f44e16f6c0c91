"""Running an audit: every check over every estate of a source, streamed, all findings kept.

:func:`run_audit` audits each estate in turn. For one estate the leaves are read
in batches and analysed on every core by :mod:`audits.pipeline` (parsed, hashed,
checkpoint notes opened, and each entry judged ahead against a snapshot of the
fold, signatures included: :mod:`audits.speculate`); the main process folds the
results in order — keeping a worker's verdict only when the true fold gives the
answers it was reached with, judging again otherwise — runs the entry checks, the
tree, the checkpoints, the vouchers, and compares the source's derived rows batch
by batch. What it holds is the fold (:class:`~audits.state.AuditState`), the
right edge of the tree and a few chunks in flight: never the log. Findings go to
a capped :class:`~audits.findings.FindingSink`. Small logs (below
``parallel_from`` entries) are audited inline, without starting a pool.

What it does not: render (:mod:`audits.report`) or decide the exit code (the CLI).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from audits.analyse import AnalysedChunk, AnalysedLeaf, OpenedNote
from audits.checks import ENTRY_CHECKS, EntryCase, b64
from audits.checks_derived import (
    DERIVED_CHECKS,
    TABLE_CHECKS,
    check_estate_row,
    check_orphans,
)
from audits.checks_statements import StatementCheck
from audits.checks_tree import CheckpointCheck, TreeCheck
from audits.findings import Finding, FindingSink, error
from audits.logkeys import check_handover, check_log_keys, handovers
from audits.pipeline import ChunkMeta, analysed, chunks, default_workers, make_pool
from audits.since import SinceCheck
from audits.sources import AuditSource, DerivedRows, SourceError, StoredCheckpoint
from audits.speculate import Snapshot, agrees
from audits.state import AuditState, Verdict, judge
from audits.vouchers import VoucherCheck
from ledger.entry import parse_leaf

END = 2**62
"""An end past any log, for reading what lies beyond it."""

Progress = Callable[[str, int, int | None], None]
"""``progress(estate, entries done, entries expected or None)``."""


@dataclass(frozen=True)
class AuditOptions:
    """What to audit and how.

    ``workers``: processes analysing leaves (0: one per core; 1: none, inline).
    ``parallel_from``: smallest expected log for which a pool is worth starting.
    ``since``: a checkpoint note saved earlier that the log must extend.
    """

    estates: tuple[str, ...] = ()
    workers: int = 0
    parallel_from: int = 20_000
    since: str | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class EstateResult:
    estate: str
    size: int
    checkpoint_size: int | None
    root: str | None  # base64 root recomputed from the leaves
    findings: int
    seconds: float
    rejudged: int = 0  # entries a worker judged against a stale snapshot, judged again


@dataclass(frozen=True)
class AuditReport:
    source: str
    location: str
    started_at: str
    seconds: float
    workers: int
    estates: tuple[EstateResult, ...]
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return not self.findings


class EstateAudit:
    """The audit of one estate: fed analysed chunks in order, then finished."""

    def __init__(self, source: AuditSource, estate: str, since: str | None) -> None:
        self.source, self.estate = source, estate
        self.keys = source.log_keys(estate)
        self.state = AuditState(estate)
        self.tree = TreeCheck(estate)
        self.checkpoints = CheckpointCheck(estate, source)
        self.vouchers = VoucherCheck(estate, source)
        self.since = None if since is None else SinceCheck(estate, since, self.keys)
        self.handovers = handovers(self.keys)
        self.statements = StatementCheck(estate, source.statements(estate), self.keys)
        self.rejudged = 0  # entries a worker judged against a stale snapshot
        self.next_seq = 0
        self.prev_hash: bytes | None = None
        self.prev_time: str | None = None

    def snapshot(self) -> Snapshot | None:
        """The fold so far, for workers to judge ahead; None before the genesis is folded."""
        return None if self.state.policy_or_none() is None else Snapshot.of(self.state)

    def start(self) -> Iterator[Finding]:
        yield from check_log_keys(self.estate, self.keys)
        yield from self.statements.start()
        yield from self._probes()

    def _probes(self) -> Iterator[Finding]:
        """Checks that need the root at one size: a saved checkpoint, a key hand-over."""
        size = self.state.size
        if self.since is not None:
            self.since.probe(size, self.tree.compact.root())
        handover = self.handovers.pop(size, None)
        if handover is not None:
            yield from check_handover(self.estate, *handover, self.tree.compact.root())
        yield from self.statements.probe(size, self.tree.compact.root)

    def feed(self, meta: ChunkMeta, result: AnalysedChunk) -> Iterator[Finding]:
        """Fold one analysed chunk; compare its derived rows and stored hashes."""
        end = meta.start + len(result.leaves)
        rows = stored = None
        if result.leaves:
            first, last = result.leaves[0].seq, result.leaves[-1].seq
            rows = self.source.derived_rows(self.estate, first, max(first, last) + 1)
            stored = self.source.tree_hashes(self.estate, meta.start, end)
        pending = list(zip(meta.checkpoints, result.notes, strict=True))
        yield from self._checkpoints(pending)
        for leaf, (_, data) in zip(result.leaves, meta.leaves, strict=True):
            yield from self._entry(leaf, data, rows)
            yield from self.tree.append(leaf.leaf_hash, stored)
            yield from self._checkpoints(pending)
            yield from self._probes()
        for stored_cp, opened in pending:  # only the last chunk: checkpoints beyond the log
            yield from self.checkpoints.check(stored_cp, opened, None)
        if rows is not None:
            yield from check_orphans(self.estate, rows, (x.seq for x in result.leaves))

    def _checkpoints(self, pending: list[tuple[StoredCheckpoint, OpenedNote]]) -> Iterator[Finding]:
        """Check the waiting checkpoints the fold has reached (in the source's order)."""
        size = self.state.size
        while pending and pending[0][0].size <= size:
            stored, opened = pending.pop(0)
            root = self.tree.compact.root() if stored.size == size else None
            yield from self.checkpoints.check(stored, opened, root)

    def _verdict(self, leaf: AnalysedLeaf, data: bytes) -> Verdict:
        """The worker's verdict if the fold gives the answers it judged with; else judge here."""
        if leaf.verdict is None:  # analysed inline: judge here
            assert leaf.entry is not None
            return judge(self.state, leaf.entry)
        if agrees(self.state, leaf.reads):
            return leaf.verdict
        self.rejudged += 1
        return judge(self.state, parse_leaf(data))  # the worker left payload.raw behind

    def _entry(
        self, leaf: AnalysedLeaf, data: bytes, rows: DerivedRows | None
    ) -> Iterator[Finding]:
        """Judge and fold one entry, then run every entry check on it."""
        position = self.state.size
        verdict = None
        self.statements.feed(leaf.entry)
        if leaf.entry is None:
            self.state.skip()
        else:
            verdict = self._verdict(leaf, data)
            self.state.apply(verdict.effects)
        case = EntryCase(
            self.estate,
            position,
            self.next_seq,
            leaf,
            self.prev_hash,
            self.prev_time,
            verdict,
            self.state,
            rows,
        )
        for check in (*ENTRY_CHECKS, *DERIVED_CHECKS):
            yield from check(case)
        if leaf.entry is not None:
            yield from self.vouchers.feed(leaf.seq, leaf.entry)
            self.prev_time = leaf.entry.recorded_at
        self.next_seq = leaf.seq + 1
        self.prev_hash = leaf.leaf_hash

    def finish(self) -> Iterator[Finding]:
        """Everything that needs the whole log: coverage, vouchers, tables, what lies beyond."""
        size = self.state.size
        if size == 0:
            yield error(self.estate, 0, "rules", "the log is empty: it has no genesis entry")
        yield from self.checkpoints.finish(size)
        for beyond in self.handovers:
            yield error(
                self.estate, None, "log-key", f"a key takes over at {beyond}, beyond the log"
            )
        yield from self.vouchers.finish(self.state)
        yield from self.statements.finish(size)
        if self.since is not None:
            yield from self.since.finish(self.source, size, self.checkpoints.prev)
        rows = self.source.derived_rows(self.estate, self.next_seq, END)
        if rows is not None:
            yield from check_orphans(self.estate, rows, ())
        stored = self.source.tree_hashes(self.estate, size, END)
        if stored:
            yield from self.tree.beyond(stored)
        yield from self.source.anomalies(self.estate)
        tables = self.source.state_tables(self.estate)
        if tables is not None:
            for check in TABLE_CHECKS:
                yield from check(self.estate, self.state, tables)
            yield from check_estate_row(self.estate, self.state, tables, self.keys)


class Pools:
    """One process pool for the whole audit, started when a large log first needs it."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = make_pool(self.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def audit_estate(
    source: AuditSource, estate: str, options: AuditOptions, sink: FindingSink, pools: Pools
) -> EstateResult:
    """Audit one estate, adding its findings to ``sink``."""
    began, before = time.perf_counter(), len(sink)
    audit = EstateAudit(source, estate, options.since)
    sink.add(audit.start())
    hint = source.size_hint(estate)
    large = pools.workers > 1 and (hint is None or hint >= options.parallel_from)
    pool = pools.get() if large else None
    items = chunks(source, estate, audit.keys, audit.snapshot if pool is not None else None)
    for meta, result in analysed(items, pool, depth=3 * pools.workers):
        sink.add(audit.feed(meta, result))
        if options.progress is not None:
            options.progress(estate, audit.state.size, hint)
    sink.add(audit.finish())
    return EstateResult(
        estate,
        audit.state.size,
        audit.checkpoints.latest,
        b64(audit.tree.compact.root()),
        len(sink) - before,
        time.perf_counter() - began,
        audit.rejudged,
    )


def run_audit(source: AuditSource, options: AuditOptions = AuditOptions()) -> AuditReport:
    """Audit every estate asked for (default: all the source holds) and report all findings."""
    began, started = time.perf_counter(), dt.datetime.now(dt.UTC)
    available = source.estates()
    wanted = list(options.estates) or available
    missing = [e for e in wanted if e not in available]
    if missing:
        raise SourceError(f"estate {missing[0]!r} is not in this {source.kind}")
    if not wanted:
        raise SourceError(f"this {source.kind} holds no estate to audit")
    pools, sink = Pools(options.workers or default_workers()), FindingSink()
    try:
        results = [audit_estate(source, e, options, sink, pools) for e in wanted]
    finally:
        pools.close()
    return AuditReport(
        source.kind,
        source.location,
        started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        time.perf_counter() - began,
        pools.workers,
        tuple(results),
        tuple(sink.findings()),
    )


def findings_of(report: AuditReport, checks: Iterable[str]) -> list[tuple[str, int | None]]:
    """``(check, seq)`` of the report's findings among ``checks`` (used by tests and tools)."""
    wanted = set(checks)
    return sorted(
        ((f.check, f.seq) for f in report.findings if f.check in wanted),
        key=lambda x: (x[0], -1 if x[1] is None else x[1]),
    )
