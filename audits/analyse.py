"""The per-leaf work, done in worker processes: parse, hash, open notes, judge ahead.

:func:`analyse_chunk` takes a chunk of leaves and of checkpoints and returns, for
each leaf, its RFC 6962 leaf hash and the entry its bytes encode (or why they
encode none: not canonical, not well formed), and for each checkpoint the tree
head its note states and whether its signature verifies under the log key valid
at that size. Given a snapshot of the fold (in a pool), it also judges each entry
ahead of the main process — signatures, policy, double entry — recording what it
asked of the fold (:mod:`audits.speculate`). Everything here is a pure function of
its input, so chunks are analysed on every core while the main process folds the
results in order.

A chunk whose every leaf parses, whose entries are all accepted and chained, and
whose derived rows say what the leaves say is *clean*: its per-entry checks would
find nothing, so instead of one result per leaf the worker returns a
:class:`ChunkSummary` — the leaf hashes, the answers its verdicts took from the
snapshot, the chunk's effects on the fold as one :class:`~audits.state.FoldedRun`, and
what the main process still checks at the chunk's edges (the first entry's link to
the one before, the trust account's balance carried in). Any other chunk comes
back leaf by leaf, as before, for the main process to run every check.

What it does not: decide a verdict. Only the main process, holding the true fold,
accepts a worker's verdicts (when the fold gives the same answers) or judges again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from audits.checks_derived import fact_columns
from audits.sources import DerivedRows, Leaf
from audits.speculate import ChunkReads, Read, RecordingView, Snapshot
from audits.state import AuditState, FoldedRun, Verdict, has_records, judge
from ledger.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.entry import Entry, parse_leaf
from ledger.errors import LedgerError
from ledger.merkle import hash_leaf
from ledger.note import parse_note
from ledger.payload import BudgetBody, RedactionBody, Voucher
from ledger.storage.aggregates import Accumulator, entry_rows
from ledger.validate import Effects


@dataclass(frozen=True)
class AnalysedLeaf:
    """One leaf: its seq as stored, its leaf hash, and its entry or the parse error.

    When a worker judged it (:mod:`audits.speculate`), ``verdict`` is its verdict,
    ``reads`` the questions it asked of the fold, and the entry's ``payload.raw`` is
    left behind (the main process only needs it to judge again, from the leaf).
    """

    seq: int
    leaf_hash: bytes
    entry: Entry | None
    error: str | None
    verdict: Verdict | None = None
    reads: tuple[Read, ...] = ()


@dataclass(frozen=True)
class NoteTask:
    """A checkpoint to open: its note, the log key valid at its size, and the origin."""

    size: int
    note: str
    vkey: str | None
    origin: str | None


@dataclass(frozen=True)
class OpenedNote:
    """What a checkpoint note states, and whether its signature verified.

    ``checkpoint`` is None when the note text is not a checkpoint at all;
    ``signature_error`` is None when the signature verified under the given key.
    """

    size: int
    checkpoint: Checkpoint | None
    signature_error: str | None


@dataclass(frozen=True)
class Chunk:
    """Leaves from position ``start`` on, the checkpoints among them, the snapshot of the
    fold to judge them against, the source's derived rows for their seqs, and whether
    the chunk's entries are wanted back (the statement checks fold them)."""

    start: int
    leaves: Sequence[Leaf]
    notes: Sequence[NoteTask]
    snapshot: Snapshot | None = None
    rows: DerivedRows | None = None
    entries: bool = False


@dataclass(frozen=True)
class ChunkSummary:
    """A clean chunk, as the main process folds it (see the module docstring).

    ``hashes``: the leaf hashes, 32 bytes each; ``first_prev`` / ``first_time`` /
    ``last_time``: the first entry's ``prev`` and ``recorded_at``, the last one's;
    ``reads``: the answers the verdicts took from the snapshot; ``trust_base``: the
    trust account's balance before the chunk that the ``entry_facts`` rows imply
    (None: no such row); ``vouchers``: (index in the chunk, vouchers) of the entries
    that reference some; ``totals``: the chunk's ``period_totals`` by month
    (:class:`~ledger.storage.aggregates.Accumulator`); ``entries``: when asked for.
    """

    hashes: bytes
    first_prev: bytes | None
    first_time: str
    last_time: str
    reads: tuple[Read, ...]
    trust_base: int | None
    run: FoldedRun
    vouchers: tuple[tuple[int, tuple[Voucher, ...]], ...]
    totals: dict[tuple[str, str, str], list[int]]
    entries: tuple[Entry, ...] | None = None


@dataclass(frozen=True)
class AnalysedChunk:
    """One leaf result per leaf (``leaves``), or the :class:`ChunkSummary` of a clean chunk."""

    leaves: list[AnalysedLeaf] | None
    notes: list[OpenedNote]
    summary: ChunkSummary | None = None


def analyse_leaf(seq: int, leaf: bytes) -> AnalysedLeaf:
    """Hash a leaf and parse it strictly (canonical RFC 8785 bytes of a well-formed entry)."""
    try:
        return AnalysedLeaf(seq, hash_leaf(leaf), parse_leaf(leaf), None)
    except LedgerError as e:
        return AnalysedLeaf(seq, hash_leaf(leaf), None, e.message)
    except (ValueError, TypeError, RecursionError) as e:  # never let odd bytes stop the audit
        return AnalysedLeaf(seq, hash_leaf(leaf), None, f"unreadable leaf: {e}")


def open_note(task: NoteTask) -> OpenedNote:
    """Verify a checkpoint note under its key; if it does not verify, still read its text."""
    if task.vkey is None:
        return OpenedNote(task.size, _unverified(task.note), "no log key is known for this size")
    try:
        return OpenedNote(task.size, verify_checkpoint(task.note, task.vkey, task.origin), None)
    except LedgerError as e:
        return OpenedNote(task.size, _unverified(task.note), e.message)


def _unverified(note: str) -> Checkpoint | None:
    try:
        return parse_checkpoint(parse_note(note).text)
    except LedgerError:
        return None


def analyse_chunk(chunk: Chunk) -> AnalysedChunk:
    """Analyse every leaf and note of a chunk (the unit of work of a worker process)."""
    leaves = [analyse_leaf(seq, leaf) for seq, leaf in chunk.leaves]
    notes = [open_note(task) for task in chunk.notes]
    if chunk.snapshot is None or not leaves:
        return AnalysedChunk(leaves, notes)
    return _judged(chunk, chunk.snapshot.state_at(chunk.start), leaves, notes)


def _judged(
    chunk: Chunk, state: AuditState, leaves: list[AnalysedLeaf], notes: list[OpenedNote]
) -> AnalysedChunk:
    """Judge each parsed entry against ``state``, recording what it asked (see speculate),
    and sum the chunk up if it is clean; else return every leaf, judged."""
    chunk_reads = ChunkReads(chunk.start, state.earlier_postings)
    verdicts: list[Verdict | None] = []
    reads: list[list[Read]] = []
    balances: list[int] = []  # the trust account's balance change after each entry
    records: list[Effects] = []
    clean = True
    for leaf in leaves:
        entry = leaf.entry
        if entry is None:
            state.skip()
            verdicts.append(None)
            reads.append([])
            balances.append(state.trust_balance)
            clean = False
            continue
        view = RecordingView(state, redaction=isinstance(entry.payload.body, RedactionBody))
        verdict = judge(view, entry)
        state.apply(verdict.effects)
        chunk_reads.add(view.reads, verdict.effects)
        verdicts.append(verdict)
        reads.append(view.reads)
        balances.append(state.trust_balance)
        if has_records(verdict.effects):
            records.append(verdict.effects)
        if verdict.failure is not None or isinstance(entry.payload.body, BudgetBody):
            clean = False  # a finding (the budget checks read the fold after the entry)
    if clean and not chunk_reads.unknown:
        summary = _summary(chunk, state, leaves, verdicts, balances, chunk_reads, records)
        if summary is not None:
            return AnalysedChunk(None, notes, summary)
    out = []
    for leaf, judged, asked in zip(leaves, verdicts, reads, strict=True):
        if leaf.entry is None or judged is None:
            out.append(leaf)
            continue
        light = _light(leaf.entry)
        out.append(replace(leaf, entry=light, verdict=judged, reads=tuple(asked)))
    return AnalysedChunk(out, notes)


def _summary(
    chunk: Chunk,
    state: AuditState,
    leaves: list[AnalysedLeaf],
    verdicts: list[Verdict | None],
    balances: list[int],
    reads: ChunkReads,
    records: list[Effects],
) -> ChunkSummary | None:
    """The summary of a chunk of parsed, accepted entries; None if a check would find
    something within it (the chain, the derived rows)."""
    entries = [leaf.entry for leaf in leaves]
    first = leaves[0].seq
    for i, (leaf, entry) in enumerate(zip(leaves, entries, strict=True)):
        assert entry is not None
        if leaf.seq != first + i or entry.seq != leaf.seq:
            return None
        if i and entry.prev != leaves[i - 1].leaf_hash:
            return None
        before = entries[i - 1]
        if i and before is not None and entry.recorded_at < before.recorded_at:
            return None
    done = [
        (e, v.effects)
        for e, v in zip(entries, verdicts, strict=True)
        if e is not None and v is not None
    ]
    facts = [fact_columns(e.payload, fx.postings) for e, fx in done]
    trust_base: int | None = None
    if chunk.rows is not None:
        agree, trust_base = _rows_agree(chunk.rows, leaves, done, facts, balances)
        if not agree:
            return None
    head, tail = done[0][0], done[-1][0]
    return ChunkSummary(
        hashes=b"".join(leaf.leaf_hash for leaf in leaves),
        first_prev=head.prev,
        first_time=head.recorded_at,
        last_time=tail.recorded_at,
        reads=reads.reads(),
        trust_base=trust_base,
        run=state.run_since_start(chunk.start, tuple(records)),
        vouchers=tuple(
            (i, e.payload.vouchers) for i, (e, _) in enumerate(done) if e.payload.vouchers
        ),
        totals=_totals(done, facts),
        entries=tuple(_light(e) for e, _ in done) if chunk.entries else None,
    )


def _totals(
    done: list[tuple[Entry, Effects]], facts: list[tuple[Any, ...] | None]
) -> dict[tuple[str, str, str], list[int]]:
    """The chunk's ``period_totals`` by month, as
    :class:`~ledger.storage.aggregates.Accumulator` adds them entry by entry.

    Entries of one month and category posting to the same accounts in the same
    order add to the same rows, and each figure of
    :func:`~ledger.storage.aggregates.entry_rows` is a sum over the entry's postings
    (or 1 for ``entries``): such entries are added as one, their amounts summed line
    by line, and ``entries`` set to how many they were.
    """
    groups: dict[tuple[str, str, tuple[str, ...]], tuple[int, int, list[int]]] = {}
    for (_, fx), fact in zip(done, facts, strict=True):
        if fact is None:
            continue
        _, date, category, *_, delta = fact
        shape = (date[:7], category, tuple(p.account for p in fx.postings))
        group = groups.get(shape)
        amounts = [p.amount for p in fx.postings]
        if group is None:
            groups[shape] = (1, delta, amounts)
        else:
            count, trust, sums = group
            groups[shape] = (count + 1, trust + delta, sums)
            for i, amount in enumerate(amounts):
                sums[i] += amount
    acc = Accumulator()
    for (month, category, accounts), (count, trust, sums) in groups.items():
        lines = zip(accounts, sums, strict=True)
        for (dim, name), figures in entry_rows(category, trust, lines).items():
            figures[0] = count
            row = acc.months.get((dim, name, month))
            if row is None:
                acc.months[dim, name, month] = figures
            else:
                for i, x in enumerate(figures):
                    row[i] += x
    return acc.months


def _light(entry: Entry) -> Entry:
    """The entry without ``payload.raw`` (the main process does not need it)."""
    return replace(entry, payload=replace(entry.payload, raw={}))


def _rows_agree(
    rows: DerivedRows,
    leaves: list[AnalysedLeaf],
    done: list[tuple[Entry, Effects]],
    facts: list[tuple[Any, ...] | None],
    balances: list[int],
) -> tuple[bool, int | None]:
    """Whether the derived rows of a chunk of accepted, chained entries say what the
    leaves say (:data:`audits.checks_derived.DERIVED_CHECKS` would find nothing), the
    trust balances compared as an offset; and the trust account's balance before the
    chunk that the ``entry_facts`` rows imply (None: no such row), which the main
    process compares with its fold. Rows are compared as read, one comparison a table.
    """
    no = (False, None)
    entries: list[tuple[Any, ...]] = []
    postings: list[tuple[Any, ...]] = []
    fact_rows: list[tuple[Any, ...]] = []
    fact_balances: list[int] = []
    refs: list[tuple[Any, ...]] = []
    for leaf, (entry, fx), fact, balance in zip(leaves, done, facts, balances, strict=True):
        seq, p = leaf.seq, entry.payload
        date = p.date.isoformat()
        entries.append((seq, p.id, p.kind, date, entry.recorded_at, leaf.leaf_hash))
        postings += [(seq, i, x.account, x.amount, date) for i, x in enumerate(fx.postings)]
        if fact is not None:
            fact_rows.append((seq, *fact))
            fact_balances.append(balance)
        if p.vouchers:
            refs += [(seq, sha) for sha in sorted(v.sha256 for v in p.vouchers)]
    found = rows.entry_rows
    if len(found) == len(entries):
        if list(found) != entries:
            return no
    else:  # a missing entries row is not a finding of the entry checks
        first = leaves[0].seq
        try:
            if not all(r == entries[r[0] - first] for r in found):
                return no
        except (IndexError, TypeError):
            return no
    if list(rows.posting_rows) != postings or list(rows.voucher_rows) != refs:
        return no
    if [r[:-1] for r in rows.fact_rows] != fact_rows:
        return no
    try:
        bases = {r[-1] - b for r, b in zip(rows.fact_rows, fact_balances, strict=True)}
    except TypeError:  # not a number: the entry checks say what it is
        return no
    if len(bases) > 1 or not all(type(b) is int for b in bases):
        return no
    return True, (bases.pop() if bases else None)
