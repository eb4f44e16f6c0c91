"""Re-deriving an estate's log from its leaves alone, stopping at the first break.

``replay`` reads leaves in order and checks, for each: the leaf is the canonical
encoding of a well-formed entry, its ``seq`` is the next one, ``prev`` is the leaf
hash of the entry before, and the entry was acceptable under the rules (signatures,
policy, double entry) at that point of the log. It returns the folded state and an
in-memory Merkle tree. This is library verification: it raises on the first
failure. (The audit reports every finding instead.) Pure: leaves come in as bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger.entry import Entry, parse_leaf
from ledger.errors import LedgerError, LogStateError
from ledger.merkle import MemoryHashStore
from ledger.validate import MemoryState, check_append


@dataclass
class Replayed:
    state: MemoryState
    tree: MemoryHashStore
    last: Entry | None


def replay(estate: str, leaves: Iterable[tuple[int, bytes]]) -> Replayed:
    state = MemoryState(estate)
    tree = MemoryHashStore()
    last: Entry | None = None
    for seq, leaf in leaves:
        try:
            entry = parse_leaf(leaf)
        except LedgerError as e:
            raise LogStateError(f"entry {seq}: leaf is malformed: {e}", seq=seq) from e
        if entry.seq != seq or seq != tree.size:
            raise LogStateError(
                f"entry {seq}: expected seq {tree.size}, leaf says {entry.seq}", seq=seq
            )
        expected_prev = None if last is None else last.leaf_hash()
        if entry.prev != expected_prev:
            raise LogStateError(
                f"entry {seq}: prev does not match the hash of entry {seq - 1}", seq=seq
            )
        if last is not None and entry.recorded_at < last.recorded_at:
            raise LogStateError(f"entry {seq}: recorded_at goes backwards", seq=seq)
        try:
            effects = check_append(state, entry.payload, entry.signatures)
        except LedgerError as e:
            raise LogStateError(f"entry {seq}: not acceptable under the rules: {e}", seq=seq) from e
        state.apply(effects)
        tree.append(leaf)
        last = entry
    return Replayed(state, tree, last)
