"""Reading an estate's log: entries, checkpoints and Merkle proofs, from the database.

Proofs are computed from stored tree hashes fetched in one batched query each, so
a proof costs O(log n) rows in one round trip whatever the size of the log. An
inclusion proof reads its lowest levels as two tiles of 8 consecutive nodes and the
rest from the process's cache of the upper levels (:mod:`ledger.storage.nodes`), so
its cost barely depends on the size of the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import NotFound, ProofError
from ledger.merkle import prove_consistency, prove_inclusion, tree_root
from ledger.storage.models import CheckpointRow, EntryRow, EstateRow, LogKeyRow
from ledger.storage.nodes import CACHED_LEVEL, TILE_HEIGHT
from ledger.storage.view import DbView

MAX_PAGE = 1000


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    signed_at: str


class LogReader:
    def __init__(self, session: Session, estate: str) -> None:
        row = session.get(EstateRow, estate)
        if row is None:
            raise NotFound(f"estate {estate!r} does not exist", field="estate")
        self.session = session
        self.estate = estate
        self.row = row
        self.view = DbView(session, row)

    @property
    def size(self) -> int:
        return self.row.size

    def leaves(self, start: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` (≤ 1000) leaves from ``start``, in order."""
        limit = max(0, min(limit, MAX_PAGE))
        rows = self.session.execute(
            select(EntryRow.seq, EntryRow.leaf)
            .where(EntryRow.estate_id == self.estate, EntryRow.seq >= start)
            .order_by(EntryRow.seq)
            .limit(limit)
        )
        return [(seq, leaf) for seq, leaf in rows]

    def leaf(self, seq: int) -> bytes:
        leaf = self.session.scalar(
            select(EntryRow.leaf).where(EntryRow.estate_id == self.estate, EntryRow.seq == seq)
        )
        if leaf is None:
            raise NotFound(f"estate {self.estate} has no entry {seq}", field="seq")
        return leaf

    def latest_checkpoint(self) -> StoredCheckpoint:
        """The newest checkpoint. Right after a log key rotation (no entry since) its
        note is the hand-over note, signed by the old and the new key, so that it
        verifies under the key ``/log-key`` publishes now as well as the old one."""
        row = self.session.scalar(
            select(CheckpointRow)
            .where(CheckpointRow.estate_id == self.estate)
            .order_by(CheckpointRow.size.desc())
            .limit(1)
        )
        if row is None:
            raise NotFound(f"estate {self.estate} has no checkpoint yet")
        handover = self.session.scalar(
            select(LogKeyRow.handover_note).where(
                LogKeyRow.estate_id == self.estate, LogKeyRow.from_size == row.size
            )
        )
        return StoredCheckpoint(row.size, row.root, handover or row.note, row.signed_at)

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self.session.scalars(
            select(CheckpointRow)
            .where(CheckpointRow.estate_id == self.estate)
            .order_by(CheckpointRow.size)
        )
        return [StoredCheckpoint(r.size, r.root, r.note, r.signed_at) for r in rows]

    def _check_size(self, tree_size: int) -> None:
        if not 0 < tree_size <= self.size:
            raise ProofError(
                f"tree size {tree_size} is outside 1..{self.size} (the latest checkpoint)",
                field="tree_size",
            )

    def root(self, tree_size: int) -> bytes:
        self._check_size(tree_size)
        return tree_root(tree_size, self.view)

    def inclusion_proof(self, seq: int, tree_size: int) -> list[bytes]:
        self._check_size(tree_size)
        if not 0 <= seq < tree_size:
            raise ProofError(f"entry {seq} is not in a tree of size {tree_size}", field="seq")
        return prove_inclusion(
            seq, tree_size, self.view, tile_height=TILE_HEIGHT, tiled_levels=CACHED_LEVEL
        )

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        if not 0 < old_size <= new_size:
            raise ProofError(f"no consistency proof from {old_size} to {new_size}", field="from")
        return prove_consistency(old_size, new_size, self.view)
