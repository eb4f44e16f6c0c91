"""Log key history and rotation: which key signs an estate's checkpoints from which size.

Every key an estate's log has used is a ``log_keys`` row: its verifier key and
``from_size``, the tree size at which it took over. The genesis key has
``from_size`` 0. A rotation at tree size N hands the log over: the checkpoint of
size N — already signed by the old key — is signed again by the old *and* the new
key into one note (the hand-over note), so a verifier that trusts the old key
learns the new one from a statement the old key vouches for. Checkpoints of any
size greater than N are signed by the new key alone; so the key for a checkpoint
of size ``s`` is the one with the greatest ``from_size`` below ``s``.

Repository functions in the caller's transaction; the key files are
:class:`~ledger.storage.keyfiles.LogKeyStore`'s business, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.checkpoint import parse_checkpoint, verify_checkpoint
from ledger.errors import LogStateError
from ledger.note import Signer, parse_note, sign_note_multi
from ledger.storage.models import CheckpointRow, EstateRow, LogKeyRow


@dataclass(frozen=True)
class LogKey:
    vkey: str
    from_size: int  # the key signs checkpoints of sizes greater than this
    handover: str | None  # the checkpoint of size from_size signed by old and new key


def history(session: Session, estate: str) -> list[LogKey]:
    """Every log key of ``estate``, oldest first."""
    rows = session.scalars(
        select(LogKeyRow).where(LogKeyRow.estate_id == estate).order_by(LogKeyRow.from_size)
    )
    return [LogKey(r.vkey, r.from_size, r.handover_note) for r in rows]


def key_for_size(keys: Sequence[LogKey], size: int) -> LogKey:
    """The key that signs the checkpoint of tree size ``size`` (``keys`` oldest first)."""
    chosen = None
    for key in keys:
        if key.from_size < size:
            chosen = key
    if chosen is None:
        raise LogStateError(f"no log key covers a checkpoint of size {size}")
    return chosen


def check_handover(origin: str, old: LogKey, new: LogKey, root: bytes) -> None:
    """The hand-over note verifies under both keys and is the checkpoint of its size."""
    if new.handover is None:
        raise LogStateError(f"the log key from size {new.from_size} has no hand-over note")
    for key in (old, new):
        cp = verify_checkpoint(new.handover, key.vkey, origin)
        if cp.size != new.from_size or cp.root != root:
            raise LogStateError(
                f"the hand-over note at size {new.from_size} is not the log's checkpoint"
            )


def rotate(session: Session, row: EstateRow, old: Signer, new: Signer) -> LogKey:
    """Hand the log of ``row`` over from ``old`` to ``new`` at its current size.

    The caller holds the estate's append lock (``lock_estate``) and commits. Fails
    if ``old`` is not the estate's current key, or a rotation already happened at
    this size (``log_keys`` is keyed by size: append an entry first).
    """
    if old.vkey != row.vkey:
        raise LogStateError(f"the log key of estate {row.id} changed; try again")
    if new.name != row.origin or new.vkey == old.vkey:
        raise LogStateError("the new log key must be another key of the same origin")
    if session.get(LogKeyRow, (row.id, row.size)) is not None:
        raise LogStateError(
            f"the log key of estate {row.id} was already replaced at size {row.size}; "
            "append an entry before rotating again",
            field="estate",
        )
    note = session.scalar(
        select(CheckpointRow.note).where(
            CheckpointRow.estate_id == row.id, CheckpointRow.size == row.size
        )
    )
    if note is None:
        raise LogStateError(f"estate {row.id} has no checkpoint at its size {row.size}")
    text = parse_note(note).text
    parse_checkpoint(text)  # the stored note is a checkpoint, or nothing is signed
    handover = sign_note_multi(text, [old, new])
    session.add(
        LogKeyRow(estate_id=row.id, from_size=row.size, vkey=new.vkey, handover_note=handover)
    )
    session.execute(update(EstateRow).where(EstateRow.id == row.id).values(vkey=new.vkey))
    return LogKey(new.vkey, row.size, handover)
