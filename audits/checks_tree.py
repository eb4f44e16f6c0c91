"""Checks of the Merkle tree and the signed checkpoints, streamed as the leaves arrive.

:class:`TreeCheck` rebuilds the tree with a :class:`~ledger.merkle.CompactRange`
(O(log n) memory) and compares every node each append creates with the stored
tree hash of that node, as it is created — never holding the whole tree. When a
leaf is altered, every ancestor differs too; only the lowest differing nodes are
reported, since the ones above follow from them.

:class:`CheckpointCheck` takes each stored checkpoint with the root recomputed at
its size: the signature under the log key valid at that size, the stored columns
against the note, sizes never decreasing, the root, consistency with the
checkpoint before, and at the end that the latest one covers the whole log. A run
of checkpoints that all disagree with the leaves (everything signed after an
altered leaf) is reported once, with a count.

What they do not: read the log (the runner feeds them); a consistency proof is
asked of the source only where the recomputed roots cannot settle it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from audits.analyse import OpenedNote
from audits.checks import b64
from audits.findings import Finding, error
from audits.sources import AuditSource, OrderedNodes, StoredCheckpoint, completing_leaf
from ledger.errors import LedgerError
from ledger.merkle import CompactRange, NodeIndex, NodeRun, verify_consistency

MAX_PROOFS = 1000
"""Consistency proofs asked of a source per estate before the rest are only counted."""


class TreeCheck:
    """Every stored tree hash equals the recomputation (fed leaf hash by leaf hash)."""

    def __init__(self, estate: str) -> None:
        self.estate = estate
        self.compact = CompactRange.empty()
        self._dirty: list[bool] = []  # per edge subtree: does it hold a reported node?

    def append(
        self, leaf_hash: bytes, stored: Mapping[NodeIndex, bytes] | None
    ) -> Iterator[Finding]:
        """Append a leaf; compare each node it completes with the stored one (if any)."""
        created = self.compact.append(leaf_hash)
        dirty = False
        for i, (node, h) in enumerate(created):
            # The left sibling this node completes leaves the edge: its flag goes too
            # (popped whatever ``dirty`` is, or the flags drift from the edge).
            sibling = self._dirty.pop() if i > 0 else False
            below = dirty or sibling
            found = None if stored is None else stored.get(node)
            if stored is not None and found is None:
                yield self._finding(node, h, None, "is missing")
            elif found is not None and found != h and not below:
                yield self._finding(
                    node, h, found, "differs from the hash recomputed from the leaves"
                )
            dirty = below or (found is not None and found != h)
        self._dirty.append(dirty)

    def trial(self) -> CompactRange:
        """A copy of the right edge, to extend by a run of leaves before deciding to keep it."""
        return CompactRange(self.compact.size, self.compact.hashes)

    @staticmethod
    def all_stored(runs: Iterable[NodeRun], stored: Mapping[NodeIndex, bytes] | None) -> bool:
        """Whether every node of ``runs`` (:meth:`CompactRange.extend`) is stored as
        computed, so that :meth:`append` of their leaves would find nothing."""
        if stored is None:
            return True
        if isinstance(stored, OrderedNodes):
            # Exactly the nodes the runs create were asked for, in (level, index)
            # order: as many rows, equal one by one, is every node stored as computed.
            ordered = sorted(runs, key=lambda run: run[:2])  # runs of several extends
            return stored.in_order() == [h for _, _, hashes in ordered for h in hashes]
        get = stored.get
        return all(
            [get((level, first + i)) for i in range(len(hashes))] == hashes
            for level, first, hashes in runs
        )

    def keep(self, extended: CompactRange) -> None:
        """Take a :meth:`trial` extended by leaves whose nodes are all stored as computed:
        an edge subtree now holds a reported node if it contains an old one that did."""
        old = zip(CompactRange.indexes_for(self.compact.size), self._dirty, strict=True)
        dirty = [(level, index) for (level, index), flag in old if flag]
        self._dirty = [
            any(level >= lv and index == ix >> (level - lv) for lv, ix in dirty)
            for level, index in CompactRange.indexes_for(extended.size)
        ]
        self.compact = extended

    def beyond(self, stored: Mapping[NodeIndex, bytes]) -> Iterator[Finding]:
        """Stored nodes beyond the log (their leaves are not there)."""
        for node in sorted(stored, key=completing_leaf):
            yield self._finding(
                node, None, stored[node], "is stored for leaves the log does not hold"
            )

    def _finding(
        self, node: NodeIndex, expected: bytes | None, found: bytes | None, what: str
    ) -> Finding:
        level, index = node
        return error(
            self.estate,
            completing_leaf(node),
            "tree-hash",
            f"stored tree hash ({level}, {index}) {what}",
            level=level,
            index=index,
            expected=b64(expected),
            found=b64(found),
        )


@dataclass
class _Seen:
    size: int
    root: bytes
    matches: bool  # the root equals the recomputation from the leaves


@dataclass
class CheckpointCheck:
    """Checks the checkpoints of one estate in the order the source gives them."""

    estate: str
    source: AuditSource
    prev: _Seen | None = None
    latest: int | None = None
    run: list[int] = field(default_factory=list)  # a run of differing roots: [second, last]
    run_length: int = 0
    proofs: int = 0
    unproven: int = 0
    signed_at: str | None = None  # the latest signing time seen

    def check(
        self, stored: StoredCheckpoint, opened: OpenedNote, recomputed: bytes | None
    ) -> Iterator[Finding]:
        """One checkpoint; ``recomputed`` is the root of the leaves at its size (None: unknown)."""
        e, cp = self.estate, opened.checkpoint
        if opened.signature_error is not None:
            yield error(
                e,
                None,
                "checkpoint-signature",
                f"checkpoint at size {stored.size} does not verify: {opened.signature_error}",
                size=stored.size,
            )
        if cp is None:
            return
        yield from self._row(stored, cp.size, cp.root)
        yield from self._order(stored, cp.size, cp.root, recomputed)
        self.latest = cp.size if self.latest is None else max(self.latest, cp.size)

    def _row(self, stored: StoredCheckpoint, size: int, root: bytes) -> Iterator[Finding]:
        if stored.size != size or (stored.root is not None and stored.root != root):
            yield error(
                self.estate,
                None,
                "checkpoint-row",
                f"checkpoint row at size {stored.size} differs from its signed note",
                size=stored.size,
                note_size=size,
                row_root=b64(stored.root),
                note_root=b64(root),
            )

    def _order(
        self, stored: StoredCheckpoint, size: int, root: bytes, recomputed: bytes | None
    ) -> Iterator[Finding]:
        """Sizes never decrease, in the source's order and in the order they were signed."""
        prev = self.prev
        if prev is not None and size < prev.size:
            yield error(
                self.estate,
                None,
                "checkpoint-order",
                f"checkpoint at size {size} comes after one at size {prev.size}: the log shrank",
                size=size,
                previous_size=prev.size,
            )
            return
        when, before = stored.signed_at, self.signed_at
        if when is not None and before is not None and when < before:
            yield error(
                self.estate,
                None,
                "checkpoint-order",
                f"checkpoint at size {size} was signed at {when}, before a smaller one ({before})",
                size=size,
                signed_at=when,
                previous_signed_at=before,
            )
        self.signed_at = when if before is None or (when is not None and when > before) else before
        yield from self._root(size, root, recomputed)

    def _root(self, size: int, root: bytes, recomputed: bytes | None) -> Iterator[Finding]:
        """The root against the leaves, and consistency with the checkpoint before."""
        matches = recomputed is not None and recomputed == root
        if recomputed is not None and not matches:
            yield from self._differs(size, root, recomputed)
        else:
            yield from self.end_run()
        if self.prev is not None:
            yield from self._consistency(self.prev, _Seen(size, root, matches))
        self.prev = _Seen(size, root, matches)

    def _differs(self, size: int, root: bytes, recomputed: bytes) -> Iterator[Finding]:
        self.run_length += 1
        if self.run_length == 2:
            self.run = [size, size]
        elif self.run_length > 2:
            self.run[1] = size
        if self.run_length == 1:
            yield error(
                self.estate,
                None,
                "checkpoint-root",
                f"checkpoint at size {size} signs a root the stored leaves do not give",
                size=size,
                signed=b64(root),
                recomputed=b64(recomputed),
            )

    def end_run(self) -> Iterator[Finding]:
        """Close a run of differing roots with one finding counting the rest."""
        if self.run_length > 1:
            yield error(
                self.estate,
                None,
                "checkpoint-root",
                f"{self.run_length - 1} more checkpoints (sizes {self.run[0]}–{self.run[1]}) "
                "also sign roots the stored leaves do not give",
                first_size=self.run[0],
                last_size=self.run[1],
                count=self.run_length - 1,
            )
        self.run, self.run_length = [], 0

    def _consistency(self, a: _Seen, b: _Seen) -> Iterator[Finding]:
        if a.size == b.size:
            if a.root != b.root:
                yield error(
                    self.estate,
                    None,
                    "checkpoint-consistency",
                    f"two checkpoints at size {a.size} sign different roots",
                    size=a.size,
                    first=b64(a.root),
                    second=b64(b.root),
                )
            return
        if a.matches == b.matches or a.size == 0:
            # Both roots are prefixes of the same leaves, or both already differ from
            # them (one run, reported once): a proof is asked only where a run
            # starts or ends, which is where a fork or a rewrite shows.
            return
        if self.proofs >= MAX_PROOFS:
            self.unproven += 1
            return
        self.proofs += 1
        yield from prove_extension(self.estate, self.source, a.size, a.root, b.size, b.root)

    def finish(self, log_size: int) -> Iterator[Finding]:
        """The latest checkpoint covers exactly the log; close any open run."""
        yield from self.end_run()
        e, latest = self.estate, self.latest
        if self.unproven:
            yield error(
                e,
                None,
                "checkpoint-consistency",
                f"{self.unproven} checkpoint pairs were not shown consistent (proof budget spent)",
                count=self.unproven,
            )
        if latest is None:
            if log_size:
                yield error(e, 0, "checkpoint-coverage", "the log has no signed checkpoint")
        elif latest > log_size:
            yield error(
                e,
                log_size,
                "checkpoint-coverage",
                f"the latest checkpoint signs {latest} entries but the log holds {log_size}: "
                f"entries {log_size}–{latest - 1} are missing",
                checkpoint_size=latest,
                log_size=log_size,
            )
        elif latest < log_size:
            yield error(
                e,
                latest,
                "checkpoint-coverage",
                f"entries {latest}–{log_size - 1} were appended without a signed checkpoint",
                checkpoint_size=latest,
                log_size=log_size,
            )


def prove_extension(
    estate: str, source: AuditSource, old_size: int, old_root: bytes, new_size: int, new_root: bytes
) -> Iterator[Finding]:
    """Ask the source for a consistency proof old → new and verify it against both roots."""
    try:
        proof = source.consistency_proof(estate, old_size, new_size)
    except LedgerError as e:
        proof, why = None, e.message
    else:
        why = "the source gives no consistency proof"
    if proof is not None:
        try:
            verify_consistency(old_size, new_size, old_root, new_root, proof)
            return
        except LedgerError as e:
            why = f"the consistency proof fails: {e.message}"
    yield error(
        estate,
        None,
        "checkpoint-consistency",
        f"checkpoint at size {old_size} is not shown to be a prefix of size {new_size}: {why}",
        old_size=old_size,
        old_root=b64(old_root),
        new_size=new_size,
        new_root=b64(new_root),
        method="proof",
    )
