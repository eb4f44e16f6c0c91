"""A quick local check of one estate in the database (``trustledger verify``).

Replays every leaf (chain, canonical bytes, signatures, policy, double entry),
rebuilds the Merkle tree and compares every stored tree hash with it, checks each
stored checkpoint's root and signature under the log key valid at its size (the
``log_keys`` history: every hand-over note signed by the key before and the key
after over the log's checkpoint; the newest key is the published one), and that
the latest checkpoint covers the whole log. Raises on the first
break; the full audit that lists every finding is a separate package.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.checkpoint import verify_checkpoint
from ledger.errors import LogStateError, RootMismatchError
from ledger.merkle import MemoryHashStore, tree_root
from ledger.replay import Replayed, replay
from ledger.storage.logkeys import LogKey, check_handover, history, key_for_size
from ledger.storage.models import EntryRow, EstateRow, TreeHashRow
from ledger.storage.reader import LogReader

PAGE = 1000


def _leaves(session: Session, estate: str) -> Iterator[tuple[int, bytes]]:
    start = 0
    while True:
        rows = session.execute(
            select(EntryRow.seq, EntryRow.leaf)
            .where(EntryRow.estate_id == estate, EntryRow.seq >= start)
            .order_by(EntryRow.seq)
            .limit(PAGE)
        ).all()
        yield from ((seq, leaf) for seq, leaf in rows)
        if len(rows) < PAGE:
            return
        start = rows[-1][0] + 1


def _log_keys(session: Session, row: EstateRow, tree: MemoryHashStore) -> list[LogKey]:
    """The estate's log keys, oldest first, each hand-over checked against the tree."""
    keys = history(session, row.id) or [LogKey(row.vkey, 0, None)]
    if keys[0].from_size != 0:
        raise LogStateError(f"the first log key starts at size {keys[0].from_size}, not 0")
    for old, new in pairwise(keys):
        if not 0 < new.from_size <= tree.size:
            raise LogStateError(f"a log key takes over at size {new.from_size}, outside the log")
        check_handover(row.origin, old, new, tree_root(new.from_size, tree))
    if keys[-1].vkey != row.vkey:
        raise LogStateError("the estate's published log key is not its newest log key")
    return keys


def verify_estate(session: Session, estate: str) -> Replayed:
    reader = LogReader(session, estate)
    result = replay(estate, _leaves(session, estate))
    row: EstateRow = reader.row
    if result.tree.size != row.size:
        raise LogStateError(
            f"estate head says {row.size} entries, the log holds {result.tree.size}"
        )
    nodes = result.tree.nodes
    # entries.leaf_hash is what the next append chains to (its ``prev``).
    for seq, leaf_hash in session.execute(
        select(EntryRow.seq, EntryRow.leaf_hash).where(EntryRow.estate_id == estate)
    ):
        if nodes.get((0, seq)) != leaf_hash:
            raise LogStateError(f"stored leaf hash of entry {seq} differs from its leaf", seq=seq)
    stored = 0
    for level, idx, h in session.execute(
        select(TreeHashRow.level, TreeHashRow.idx, TreeHashRow.hash).where(
            TreeHashRow.estate_id == estate
        )
    ):
        stored += 1
        if nodes.get((level, idx)) != h:
            raise LogStateError(f"stored tree hash ({level}, {idx}) differs from the leaves")
    if stored != len(nodes):
        raise LogStateError(f"{len(nodes)} tree hashes derive from the leaves, {stored} are stored")
    keys = _log_keys(session, row, result.tree)
    for cp in reader.checkpoints():
        if cp.size > result.tree.size:
            raise LogStateError(f"checkpoint at size {cp.size} is beyond the log")
        root = tree_root(cp.size, result.tree)
        if root != cp.root:
            raise RootMismatchError(root, cp.root)
        parsed = verify_checkpoint(cp.note, key_for_size(keys, cp.size).vkey, row.origin)
        if parsed.size != cp.size or parsed.root != cp.root:
            raise LogStateError(f"checkpoint note at size {cp.size} differs from its row")
    latest = reader.latest_checkpoint()
    if latest.size != result.tree.size:
        raise LogStateError(f"latest checkpoint covers {latest.size} of {result.tree.size} entries")
    return result


def count_entries(session: Session, estate: str) -> int:
    return session.scalar(select(func.count()).where(EntryRow.estate_id == estate)) or 0
