"""The log's own keys: which key signs which checkpoint, and the hand-overs between keys.

A log key signs the checkpoints of every size greater than its ``from_size`` (the
genesis key's is 0) up to the next key's. A rotation at size N hands the log over
with a note holding the checkpoint of size N signed by the old *and* the new key;
the audit checks that note under both keys and against the root recomputed from
the leaves at N, so a new key is trusted only because the old one vouched for it
at a point of the log that is really there.

What it does not: decide whether the first key itself is the right one — compare
it with one published independently (a printed statement, the notice board).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

from audits.findings import Finding, error
from audits.sources import LogKey
from ledger.checkpoint import verify_checkpoint
from ledger.errors import LedgerError
from ledger.note import parse_vkey


def key_for(keys: Sequence[LogKey], size: int) -> LogKey | None:
    """The key that signs the checkpoint of ``size``: the newest with ``from_size`` below it."""
    valid = [k for k in keys if k.from_size < size or k.from_size == size == 0]
    return max(valid, key=lambda k: k.from_size) if valid else None


def origin_of_key(key: LogKey) -> str:
    return key.vkey.split("+", 1)[0]


def check_log_keys(estate: str, keys: Sequence[LogKey]) -> Iterator[Finding]:
    """The keys parse, are named for this estate, start at 0 and take over at growing sizes."""
    if not keys:
        yield error(estate, None, "log-key", "no log key is known: no checkpoint can be verified")
        return
    if keys[0].from_size != 0:
        yield error(estate, None, "log-key", "the first log key does not start at size 0")
    for before, after in pairwise(keys):
        if after.from_size <= before.from_size:
            yield error(
                estate, None, "log-key", f"log key from size {after.from_size} is out of order"
            )
    for k in keys:
        try:
            name = parse_vkey(k.vkey).name
        except LedgerError as e:
            yield error(estate, None, "log-key", f"log key from size {k.from_size}: {e.message}")
            continue
        if not name.endswith(f"/estates/{estate}"):
            yield error(
                estate,
                None,
                "log-key",
                f"log key {name} is not named for estate {estate}",
                vkey=k.vkey,
            )


def check_handover(estate: str, old: LogKey, new: LogKey, root: bytes) -> Iterator[Finding]:
    """The hand-over note to ``new`` verifies under both keys and is the log at its size."""
    size = new.from_size
    if new.handover is None:
        yield error(
            estate,
            None,
            "log-key",
            f"the log key from size {size} has no hand-over note",
            size=size,
        )
        return
    for role, key in (("old", old), ("new", new)):
        try:
            cp = verify_checkpoint(new.handover, key.vkey, origin_of_key(key))
        except LedgerError as e:
            yield error(
                estate,
                None,
                "log-key",
                f"the hand-over note at size {size} is not signed by the {role} key: {e.message}",
                size=size,
                vkey=key.vkey,
            )
            continue
        if cp.size != size or cp.root != root:
            yield error(
                estate,
                None,
                "log-key",
                f"the hand-over note at size {size} is not the log's checkpoint of that size",
                size=size,
                note_size=cp.size,
            )
            return


def handovers(keys: Sequence[LogKey]) -> dict[int, tuple[LogKey, LogKey]]:
    """``from_size -> (old key, new key)`` for every rotation."""
    return {new.from_size: (old, new) for old, new in pairwise(keys)}
