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
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from audits.analyse import (
    AnalysedChunk,
    AnalysedLeaf,
    ChunkSummary,
    OpenedNote,
    analyse_leaf,
)
from audits.checks import ENTRY_CHECKS, EntryCase, b64
from audits.checks_aggregates import PeriodTotalsCheck
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
from ledger import collector
from ledger.entry import parse_leaf
from ledger.merkle import HASH_SIZE

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
        self.totals = PeriodTotalsCheck(estate)
        self.since = None if since is None else SinceCheck(estate, since, self.keys)
        self.handovers = handovers(self.keys)
        self.statements = StatementCheck(estate, source.statements(estate), self.keys)
        self.rejudged = 0  # entries a worker judged against a stale snapshot
        self.next_seq = 0
        self.prev_hash: bytes | None = None
        self.prev_time: str | None = None

    def snapshot(self, reversed_seqs: Sequence[int] = ()) -> Snapshot:
        """The fold so far, for workers to judge ahead (before the genesis: empty), with
        what it says of the entries a chunk is expected to reverse."""
        return Snapshot.of(self.state, reversed_seqs)

    def start(self) -> Iterator[Finding]:
        yield from check_log_keys(self.estate, self.keys)
        yield from self.statements.start()
        yield from self._probes()

    def _probes(
        self, size: int | None = None, root: Callable[[], bytes] | None = None
    ) -> Iterator[Finding]:
        """Checks that need the root at one size (default: the fold's and the tree's):
        a saved checkpoint, a key hand-over, the statements computed at that size."""
        size = self.state.size if size is None else size
        root = self.tree.compact.root if root is None else root
        if self.since is not None and self.since.saved is not None:
            self.since.probe(size, root())
        handover = self.handovers.pop(size, None)
        if handover is not None:
            yield from check_handover(self.estate, *handover, root())
        yield from self.statements.probe(size, root)

    def _stops(self, start: int, end: int) -> set[int]:
        """The sizes in ``(start, end]`` at which :meth:`_probes` has something to check."""
        sizes = {*self.handovers, *self.statements.sizes()}
        if self.since is not None and self.since.saved is not None:
            sizes.add(self.since.saved.size)
        return {z for z in sizes if start < z <= end}

    def feed(self, meta: ChunkMeta, result: AnalysedChunk) -> Iterator[Finding]:
        """Fold one analysed chunk; compare its derived rows and stored hashes.

        A clean chunk's summary is folded at once if the true fold gives the answers
        its verdicts rest on and it joins the chunk before; otherwise (or if it comes
        back leaf by leaf) every entry goes through every check here.
        """
        leaves = result.leaves
        if result.summary is not None:
            done = self._fold_clean(meta, result.notes, result.summary)
            if done is not None:
                yield from done
                return
            self.rejudged += len(meta.leaves)  # judged again here, from the leaves
            leaves = [analyse_leaf(seq, data) for seq, data in meta.leaves]
        yield from self._per_entry(meta, leaves or [], result.notes)

    def _per_entry(
        self, meta: ChunkMeta, leaves: list[AnalysedLeaf], notes: list[OpenedNote]
    ) -> Iterator[Finding]:
        """Fold a chunk entry by entry, running every check on each."""
        end = meta.start + len(leaves)
        rows = stored = None
        if leaves:
            rows = meta.rows
            stored = self.source.tree_hashes(self.estate, meta.start, end)
        pending = list(zip(meta.checkpoints, notes, strict=True))
        yield from self._checkpoints(pending)
        for leaf, (_, data) in zip(leaves, meta.leaves, strict=True):
            yield from self._entry(leaf, data, rows)
            yield from self.tree.append(leaf.leaf_hash, stored)
            yield from self._checkpoints(pending)
            yield from self._probes()
        for stored_cp, opened in pending:  # only the last chunk: checkpoints beyond the log
            yield from self.checkpoints.check(stored_cp, opened, None)
        if rows is not None:
            yield from check_orphans(self.estate, rows, (x.seq for x in leaves))

    def _fold_clean(
        self, meta: ChunkMeta, notes: list[OpenedNote], summary: ChunkSummary
    ) -> list[Finding] | None:
        """Fold a clean chunk at once and return what the checks outside its entries
        find (vouchers, checkpoints, probes), in the order :meth:`_per_entry` would; or
        None, having changed nothing, when the chunk must go entry by entry: the fold
        does not give the answers its verdicts rest on, it does not join the entry
        before, the trust balance it carries in is not the fold's, or a stored tree
        hash it completes is missing or differs."""
        start, n = meta.start, len(meta.leaves)
        end, first_seq = start + n, meta.leaves[0][0]
        if first_seq != self.next_seq or summary.first_prev != self.prev_hash:
            return None
        if self.prev_time is not None and summary.first_time < self.prev_time:
            return None
        if not agrees(self.state, summary.reads):
            return None
        if summary.trust_base is not None and summary.trust_base != self.state.trust_balance:
            return None
        pending = list(zip(meta.checkpoints, notes, strict=True))
        vouchers = dict(summary.vouchers)
        stops = sorted(
            {*self._stops(start, end), *(c.size for c, _ in pending if start < c.size <= end)}
            | {start + i + 1 for i in vouchers}
        )
        blob = summary.hashes
        hashes = [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]
        trial, runs, roots, at = self.tree.trial(), [], {}, start
        for size in stops:
            runs += trial.extend(hashes[at - start : size - start])
            roots[size], at = trial.root(), size
        runs += trial.extend(hashes[at - start :])
        if not TreeCheck.all_stored(runs, self.source.tree_hashes(self.estate, start, end)):
            return None
        # Accepted: nothing above changed the audit; from here on it is folded.
        root_at = self.tree.compact.root
        self.tree.keep(trial)
        self.state.apply_run(summary.run)
        _add_months(self.totals.expected.months, summary.totals)
        out = list(self._checkpoints(pending, start, root_at))
        entries, fed = summary.entries or (), 0
        for size in stops:
            i = size - start - 1
            if i in vouchers:
                out += self.vouchers.feed_vouchers(first_seq + i, vouchers[i])
            for entry in entries[fed : i + 1]:
                self.statements.feed(entry)
            fed = max(fed, i + 1)
            root = _given(roots[size])
            out += self._checkpoints(pending, size, root)
            out += self._probes(size, root)
        for entry in entries[fed:]:
            self.statements.feed(entry)
        for stored_cp, opened in pending:  # not assigned beyond the chunk: never, in order
            out += self.checkpoints.check(stored_cp, opened, None)
        self.next_seq, self.prev_hash = first_seq + n, hashes[-1]
        self.prev_time = summary.last_time
        return out

    def _checkpoints(
        self,
        pending: list[tuple[StoredCheckpoint, OpenedNote]],
        size: int | None = None,
        root: Callable[[], bytes] | None = None,
    ) -> Iterator[Finding]:
        """Check the waiting checkpoints the fold has reached (in the source's order), at
        ``size`` with the tree's ``root`` (default: the fold's size, the tree's root)."""
        size = self.state.size if size is None else size
        root = self.tree.compact.root if root is None else root
        while pending and pending[0][0].size <= size:
            stored, opened = pending.pop(0)
            recomputed = root() if stored.size == size else None
            yield from self.checkpoints.check(stored, opened, recomputed)

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
        self.totals.feed(case)
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
            yield from self.totals.finish(tables.period_totals)


def _given(root: bytes) -> Callable[[], bytes]:
    return lambda: root


def _add_months(
    into: dict[tuple[str, str, str], list[int]], months: dict[tuple[str, str, str], list[int]]
) -> None:
    """Add a chunk's ``period_totals`` by month (a worker's
    :class:`~ledger.storage.aggregates.Accumulator`) to the audit's."""
    for key, figures in months.items():
        row = into.get(key)
        if row is None:
            into[key] = list(figures)
        else:
            for i, x in enumerate(figures):
                row[i] += x


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
    items = chunks(source, estate, audit.keys, audit.snapshot, audit.statements.wants)
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
        with collector.tuned():  # allocation-heavy: see ledger.collector
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
