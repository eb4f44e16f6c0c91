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

What it does not: decide a verdict. Only the main process, holding the true fold,
accepts a worker's verdict (when the fold gives the same answers) or judges again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from audits.sources import Leaf
from audits.speculate import Read, RecordingView, Snapshot
from audits.state import AuditState, Verdict, judge
from ledger.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.entry import Entry, parse_leaf
from ledger.errors import LedgerError
from ledger.merkle import hash_leaf
from ledger.note import parse_note


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
    """Leaves from position ``start`` on, the checkpoints among them, and (in a pool) the
    snapshot of the fold to judge them against."""

    start: int
    leaves: Sequence[Leaf]
    notes: Sequence[NoteTask]
    snapshot: Snapshot | None = None


@dataclass(frozen=True)
class AnalysedChunk:
    leaves: list[AnalysedLeaf]
    notes: list[OpenedNote]


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
    if chunk.snapshot is not None:
        leaves = judge_ahead(chunk.snapshot.state_at(chunk.start), leaves)
    return AnalysedChunk(leaves, [open_note(task) for task in chunk.notes])


def judge_ahead(state: AuditState, leaves: list[AnalysedLeaf]) -> list[AnalysedLeaf]:
    """Judge each parsed entry against ``state``, recording what it asked (see speculate)."""
    out = []
    for leaf in leaves:
        if leaf.entry is None:
            state.skip()
            out.append(leaf)
            continue
        view = RecordingView(state)
        verdict = judge(view, leaf.entry)
        state.apply(verdict.effects)
        light = replace(leaf.entry, payload=replace(leaf.entry.payload, raw={}))
        out.append(replace(leaf, entry=light, verdict=verdict, reads=tuple(view.reads)))
    return out
