"""An in-memory :class:`~audits.sources.AuditSource` and a builder of logs the service would refuse.

The service never appends an unbalanced transaction or a spend with one signature;
to test that the audit names such entries (and judges later ones fairly), this
builder writes leaves directly: each payload signed by the given keys, chained,
with a signed checkpoint after every entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.payloads import genesis_body, payload
from audits.findings import Finding
from audits.sources import (
    DerivedRows,
    Leaf,
    LogKey,
    StateTables,
    StoredCheckpoint,
    VoucherLookup,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Entry
from ledger.merkle import CompactRange, NodeIndex
from ledger.note import Signer
from ledger.payload import parse_payload
from ledger.signing import AuthorKey, Signature, sort_signatures

DAY = dt.date(2026, 10, 15)
BANK = "Assets:Bank:CoManaged"


@dataclass
class MemorySource:
    """One estate's leaves, checkpoints and log key, held in memory (tests only)."""

    estate: str
    leaves: list[bytes] = field(default_factory=list)
    notes: list[StoredCheckpoint] = field(default_factory=list)
    keys: list[LogKey] = field(default_factory=list)
    vouchers: dict[str, bytes] = field(default_factory=dict)
    statement_documents: list[bytes] = field(default_factory=list)
    batch: int = 3
    kind: str = "memory"
    location: str = "memory"

    def estates(self) -> list[str]:
        return [self.estate]

    def size_hint(self, estate: str) -> int | None:
        return len(self.leaves)

    def log_keys(self, estate: str) -> list[LogKey]:
        return self.keys

    def leaf_batches(self, estate: str) -> Iterator[list[Leaf]]:
        items = list(enumerate(self.leaves))
        for i in range(0, len(items), self.batch):
            yield items[i : i + self.batch]

    def checkpoints(self, estate: str) -> Iterator[StoredCheckpoint]:
        yield from self.notes

    def tree_hashes(self, estate: str, start: int, end: int) -> Mapping[NodeIndex, bytes] | None:
        return None

    def derived_rows(self, estate: str, start: int, end: int) -> DerivedRows | None:
        return None

    def state_tables(self, estate: str) -> StateTables | None:
        return None

    def consistency_proof(self, estate: str, old_size: int, new_size: int) -> list[bytes] | None:
        return None

    def voucher(self, estate: str, sha256: str) -> VoucherLookup:
        data = self.vouchers.get(sha256)
        return VoucherLookup("missing") if data is None else VoucherLookup("present", data)

    def statements(self, estate: str) -> list[bytes]:
        return list(self.statement_documents)

    def anomalies(self, estate: str) -> list[Finding]:
        return []

    def close(self) -> None:
        pass


class LogBuilder:
    """Writes a log entry by entry, whatever the rules say, into a :class:`MemorySource`."""

    def __init__(self, estate: str = "memory-estate") -> None:
        self.operator, self.committee, self.trustee = (AuthorKey.generate() for _ in range(3))
        self.log_key = Signer.generate(f"trustledger.example/estates/{estate}")
        self.source = MemorySource(estate, keys=[LogKey(0, self.log_key.vkey)])
        self.compact = CompactRange.empty()
        self.prev: bytes | None = None
        founders = [
            (self.operator.public_key, "operator", "平台"),
            (self.committee.public_key, "committee", "业委会"),
            (self.trustee.public_key, "trustee", "物业"),
        ]
        self.add("genesis", genesis_body("内存小区", "内存路 1 号", 10, founders), self.operator)

    def add(self, kind: str, body: dict[str, Any], *keys: AuthorKey, **kw: Any) -> int:
        raw = payload(self.source.estate, kind, body, date=kw.pop("date", DAY), **kw)
        sigs = tuple(Signature(k.key_id, k.sign(raw).sig) for k in keys)
        seq = len(self.source.leaves)
        entry = Entry(
            seq,
            self.prev,
            f"2026-10-15T08:00:{seq:02d}.000Z",
            parse_payload(raw),
            sort_signatures(sigs),
        )
        leaf = entry.leaf_bytes()
        self.source.leaves.append(leaf)
        self.prev = entry.leaf_hash()
        self.compact.append(self.prev)
        size = len(self.source.leaves)
        note = sign_checkpoint(
            Checkpoint(self.log_key.name, size, self.compact.root()), self.log_key
        )
        self.source.notes.append(StoredCheckpoint(size, note))
        return seq

    def account(self, name: str, type_: str, *keys: AuthorKey) -> int:
        body = {"action": "open", "name": name, "type": type_, "display_name": name}
        return self.add("account", body, *(keys or (self.committee,)))

    def transaction(self, postings: list[tuple[str, int]], *keys: AuthorKey) -> int:
        body = {
            "postings": [{"account": a, "amount": n} for a, n in postings],
            "counterparty": "业主",
            "category": "物业费",
        }
        return self.add("transaction", body, *(keys or (self.trustee,)))
