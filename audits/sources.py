"""Where an audit reads a log from: the :class:`AuditSource` interface and its values.

Three implementations: :class:`audits.db.DatabaseSource` (the database, read
directly), :class:`audits.url.UrlSource` (the public verification API of a live
server) and :class:`audits.bundle.BundleSource` (an exported bundle). A source only
*reads*: it hands over bytes and rows as stored and never judges them; every
judgement is made by the checks, which trust nothing a source says without
recomputing it. Optional parts (stored tree hashes, derived rows, consistency
proofs) return ``None`` when the source has no such thing.

Errors: a source that cannot be read at all (database unreachable, URL down,
bundle unreadable) raises :class:`SourceError`; the CLI turns it into exit 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

from audits.findings import Finding
from ledger.merkle import NodeIndex

Leaf = tuple[int, bytes]
"""``(seq as the source numbers it, leaf bytes as stored)``."""

VoucherStatus = Literal["present", "missing", "redacted"]


class SourceError(Exception):
    """The source could not be read (not a finding: the audit could not run)."""


@dataclass(frozen=True)
class LogKey:
    """A log verifier key (``name+id+key``) and the size from which it signs.

    The key signs checkpoints of sizes greater than ``from_size`` (0 for the first
    key); ``handover`` is the checkpoint of size ``from_size`` signed by the key
    before and this one (None for the first key).
    """

    from_size: int
    vkey: str
    handover: str | None = None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as the source holds it.

    ``size`` is the source's own claim (a database column, or the size the note
    text says); ``root`` and ``signed_at`` are database columns (None elsewhere).
    """

    size: int
    note: str
    root: bytes | None = None
    signed_at: str | None = None


@dataclass(frozen=True)
class VoucherLookup:
    """A voucher as the source serves it: present (with its bytes), missing, or withheld."""

    status: VoucherStatus
    data: bytes | None = None


@dataclass(frozen=True)
class EntryColumns:
    """The derived columns of one ``entries`` row (the leaf itself comes with the leaves)."""

    seq: int
    payload_id: str
    kind: str
    date: str
    recorded_at: str
    leaf_hash: bytes


@dataclass(frozen=True)
class PostingColumns:
    seq: int
    line: int
    account: str
    amount: int
    date: str


@dataclass(frozen=True)
class FactColumns:
    seq: int
    kind: str
    date: str
    category: str
    counterparty: str
    memo: str
    household: str | None
    amount: int
    trust_delta: int
    trust_balance: int


EntryRowTuple = tuple[Any, ...]
"""``(seq, payload_id, kind, date, recorded_at, leaf_hash)`` of an ``entries`` row."""
PostingRowTuple = tuple[Any, ...]
"""``(seq, line, account, amount, date)`` of a ``postings`` row."""
FactRowTuple = tuple[Any, ...]
"""``(seq, kind, date, category, counterparty, memo, household, amount, trust_delta,
trust_balance)`` of an ``entry_facts`` row."""
VoucherRowTuple = tuple[Any, ...]
"""``(seq, sha256)`` of a ``voucher_refs`` row."""
ReversalRowTuple = tuple[Any, ...]
"""``(target_seq, reversal_seq)`` of a ``reversals`` row."""


@dataclass(frozen=True)
class DerivedRows:
    """Rows of the derived tables for entries ``[start, end)``, as the source holds them.

    Each table comes as plain tuples ordered by seq (and line), values exactly as
    read (what a worker compares with the leaves in one go, :mod:`audits.analyse`);
    the per-seq views the entry checks read are built from them on first use.
    """

    entry_rows: Sequence[EntryRowTuple] = ()
    posting_rows: Sequence[PostingRowTuple] = ()
    fact_rows: Sequence[FactRowTuple] = ()
    voucher_rows: Sequence[VoucherRowTuple] = ()
    reversal_rows: Sequence[ReversalRowTuple] = ()
    """The ``reversals`` rows made by these entries: never compared entry by entry (the
    table is compared once the log is folded), only a hint of which earlier entries
    they reverse, so that a worker can be given those entries' postings."""

    def reversal_targets(self) -> list[int]:
        """The earlier entries the ``reversals`` rows say these entries reverse (a hint)."""
        return sorted({t for t, _ in self.reversal_rows if type(t) is int})

    @cached_property
    def entries(self) -> Mapping[int, EntryColumns]:
        return {
            int(r[0]): EntryColumns(int(r[0]), r[1], r[2], r[3], r[4], bytes(r[5]))
            for r in self.entry_rows
        }

    @cached_property
    def postings(self) -> Mapping[int, tuple[PostingColumns, ...]]:
        out: defaultdict[int, list[PostingColumns]] = defaultdict(list)
        for s, line, account, amount, date in self.posting_rows:
            out[int(s)].append(PostingColumns(int(s), int(line), account, int(amount), date))
        return {s: tuple(v) for s, v in out.items()}

    @cached_property
    def facts(self) -> Mapping[int, FactColumns]:
        out = {}
        for (
            seq,
            kind,
            date,
            category,
            party,
            memo,
            household,
            amount,
            delta,
            balance,
        ) in self.fact_rows:
            out[int(seq)] = FactColumns(
                int(seq),
                kind,
                date,
                category,
                party,
                memo,
                household,
                int(amount),
                int(delta),
                int(balance),
            )
        return out

    @cached_property
    def voucher_refs(self) -> Mapping[int, frozenset[str]]:
        by_seq: defaultdict[int, set[str]] = defaultdict(set)
        for seq, sha in self.voucher_rows:
            by_seq[int(seq)].add(sha)
        return {s: frozenset(v) for s, v in by_seq.items()}

    def seqs(self) -> set[int]:
        """Every seq some derived row speaks of."""
        return {*self.entries, *self.postings, *self.facts, *self.voucher_refs}


@dataclass(frozen=True)
class KeyColumns:
    key_id: str
    public_key: bytes
    role: str
    holder: str
    added_seq: int
    revoked_seq: int | None


@dataclass(frozen=True)
class AccountColumns:
    name: str
    type: str
    display_name: str
    opened_seq: int
    closed_seq: int | None


@dataclass(frozen=True)
class EstateColumns:
    """The ``estates`` row: the head the service trusts for appends."""

    size: int
    origin: str
    vkey: str
    policy: str | None  # the policy as JSON text; None when the source does not say


@dataclass(frozen=True)
class StateTables:
    """The small derived tables the audit compares once the whole log is folded.

    ``None`` marks what a source does not say (a live server publishes balances
    but no reversal table; a database has no balances column).
    """

    estate: EstateColumns
    keys: tuple[KeyColumns, ...]
    accounts: tuple[AccountColumns, ...]
    reversals: Mapping[int, int] | None  # target seq -> reversal seq
    redactions: Mapping[str, int] | None  # voucher sha256 -> redaction seq
    balances: Mapping[str, int] | None = None  # account -> balance in fen
    period_totals: Mapping[tuple[str, str, str, str], tuple[int, ...]] | None = None
    """``period_totals`` rows: (dim, name, span, period) -> (entries, trust_delta,
    income, spending, amount); see :mod:`ledger.storage.aggregates`."""


@runtime_checkable
class AuditSource(Protocol):
    """A read-only view of one or more estates' logs (see the module docstring)."""

    @property
    def kind(self) -> str:
        """``database``, ``url`` or ``bundle`` (for reports)."""
        ...

    @property
    def location(self) -> str:
        """Where the source is, for reports (no passwords)."""
        ...

    def estates(self) -> list[str]:
        """Ids of the estates the source holds."""
        ...

    def size_hint(self, estate: str) -> int | None:
        """How many entries to expect (for a progress bar); not trusted."""
        ...

    def log_keys(self, estate: str) -> list[LogKey]:
        """The estate's log keys, oldest first."""
        ...

    def leaf_batches(self, estate: str) -> Iterator[list[Leaf]]:
        """Every leaf in order, in batches (streamed: never the whole log at once)."""
        ...

    def checkpoints(self, estate: str) -> Iterator[StoredCheckpoint]:
        """Every stored checkpoint, in the source's order (a database: by size)."""
        ...

    def tree_hashes(self, estate: str, start: int, end: int) -> Mapping[NodeIndex, bytes] | None:
        """Stored tree nodes completed by leaves ``[start, end)``; None if none are stored.

        Node ``(level, index)`` is completed by leaf ``((index + 1) << level) - 1``.
        """
        ...

    def derived_rows(self, estate: str, start: int, end: int) -> DerivedRows | None:
        """Derived rows for entries ``[start, end)``; None when the source has none."""
        ...

    def state_tables(self, estate: str) -> StateTables | None:
        """Keys, accounts, reversals, redactions and the estate row; None if none."""
        ...

    def consistency_proof(self, estate: str, old_size: int, new_size: int) -> list[bytes] | None:
        """The source's RFC 9162 consistency proof, or None if it cannot give one."""
        ...

    def voucher(self, estate: str, sha256: str) -> VoucherLookup:
        """A voucher's bytes, or why the source does not serve them."""
        ...

    def statements(self, estate: str) -> list[bytes]:
        """Every published statement document (signed JSON bytes), as the source holds them."""
        ...

    def anomalies(self, estate: str) -> list[Finding]:
        """What the source noticed about itself while being read (e.g. a server whose
        JSON contradicts its own leaf bytes); asked once the log has been read."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class OrderedNodes(Mapping[NodeIndex, bytes]):
    """Stored tree hashes as read, ``(level, index, hash)`` rows in ``(level, index)``
    order; the mapping is built on first use (:meth:`in_order` needs none)."""

    def __init__(self, rows: Sequence[tuple[Any, Any, Any]]) -> None:
        self.rows = rows
        self._by_node: dict[NodeIndex, bytes] | None = None

    def _nodes(self) -> dict[NodeIndex, bytes]:
        if self._by_node is None:
            self._by_node = {(int(lv), int(ix)): bytes(h) for lv, ix, h in self.rows}
        return self._by_node

    def __getitem__(self, node: NodeIndex) -> bytes:
        return self._nodes()[node]

    def __iter__(self) -> Iterator[NodeIndex]:
        return iter(self._nodes())

    def __len__(self) -> int:
        return len(self._nodes())

    def in_order(self) -> list[Any]:
        """The hashes as read, in ``(level, index)`` order."""
        return [h for _, _, h in self.rows]


def completing_leaf(node: NodeIndex) -> int:
    """The leaf whose append completes stored node ``(level, index)``."""
    level, index = node
    return ((index + 1) << level) - 1


def node_ranges(start: int, end: int, max_level: int = 63) -> list[tuple[int, int, int]]:
    """``(level, first, last)`` index ranges of the nodes completed by leaves ``[start, end)``."""
    out = []
    for level in range(max_level):
        first = ((start + (1 << level)) >> level) - 1
        last = (end >> level) - 1
        if first > last:
            if end >> level == 0:
                break
            continue
        out.append((level, first, last))
    return out
