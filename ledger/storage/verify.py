"""A quick local check of one estate in the database (``trustledger verify``).

Replays every leaf (chain, canonical bytes, signatures, policy, double entry),
rebuilds the Merkle tree and compares every stored tree hash with it, checks each
stored checkpoint's root and the latest one's signature under the estate's log
key, and that the latest checkpoint covers the whole log. Raises on the first
break; the full audit that lists every finding is a separate package.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.checkpoint import verify_checkpoint
from ledger.errors import LogStateError, RootMismatchError
from ledger.merkle import tree_root
from ledger.replay import Replayed, replay
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


def verify_estate(session: Session, estate: str) -> Replayed:
    reader = LogReader(session, estate)
    result = replay(estate, _leaves(session, estate))
    row: EstateRow = reader.row
    if result.tree.size != row.size:
        raise LogStateError(
            f"estate head says {row.size} entries, the log holds {result.tree.size}"
        )
    nodes = result.tree.nodes
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
    for cp in reader.checkpoints():
        if cp.size > result.tree.size:
            raise LogStateError(f"checkpoint at size {cp.size} is beyond the log")
        root = tree_root(cp.size, result.tree)
        if root != cp.root:
            raise RootMismatchError(root, cp.root)
        parsed = verify_checkpoint(cp.note, row.vkey, row.origin)
        if parsed.size != cp.size or parsed.root != cp.root:
            raise LogStateError(f"checkpoint note at size {cp.size} differs from its row")
    latest = reader.latest_checkpoint()
    if latest.size != result.tree.size:
        raise LogStateError(f"latest checkpoint covers {latest.size} of {result.tree.size} entries")
    return result


def count_entries(session: Session, estate: str) -> int:
    return session.scalar(select(func.count()).where(EntryRow.estate_id == estate)) or 0
