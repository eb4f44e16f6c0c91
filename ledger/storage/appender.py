"""Appending signed payloads to an estate's log, in the caller's transaction.

One call appends one or more entries atomically: each entry, its derived rows, its
stored tree hashes, and one new signed checkpoint covering them. Appends to one
estate are serialised by locking the estate's row (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite the first statement is a write, which takes the database's
write lock); appends to different estates do not wait for each other on PostgreSQL.
The caller commits; nothing is visible until then, so a failure leaves nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.canonical import b64encode, canonical_json
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Entry, format_recorded_at, parse_leaf
from ledger.errors import Conflict, LedgerError, LogStateError, NotFound, StorageError
from ledger.merkle import CompactRange, hash_leaf
from ledger.note import Signer
from ledger.payload import (
    TRUST_ACCOUNT,
    GenesisBody,
    Payload,
    ReversalBody,
    TransactionBody,
    parse_payload,
)
from ledger.signing import Signature, parse_signatures, sort_signatures
from ledger.storage import aggregates
from ledger.storage.db import database_name
from ledger.storage.models import (
    EstateRow,
    LogKeyRow,
)
from ledger.storage.rawsql import Insert, RawConnection
from ledger.storage.view import DbView, EstateState
from ledger.validate import AccountRecord, Effects, KeyRecord, check_append

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Appended:
    entry: Entry
    leaf: bytes
    created: bool  # False: the payload id was already in the log (an idempotent retry)


@dataclass(frozen=True)
class SignedPayload:
    payload: Payload
    signatures: tuple[Signature, ...]

    @classmethod
    def parse(cls, payload: Any, signatures: Any) -> SignedPayload:
        return cls(parse_payload(payload), parse_signatures(signatures))


# The append's statements, sent as plain SQL on the session's DBAPI connection
# (:mod:`.rawsql`): through SQLAlchemy each costs more Python time than it takes to run.
_TAKE_WRITE_LOCK_SQL = "UPDATE estates SET size = size WHERE 0 = 1"
_LOCK_SQLITE = "SELECT id, origin, vkey, policy, size, created_at FROM estates WHERE estates.id = ?"
_LOCK_PG = _LOCK_SQLITE + " FOR UPDATE"
_LAST = (
    "SELECT e.seq, e.leaf_hash, e.recorded_at, (SELECT t.amount FROM period_totals t"
    " WHERE t.estate_id = ? AND t.dim = 'account' AND t.name = ? AND t.span = 'all'"
    " AND t.period = '') FROM entries e"
    " WHERE e.estate_id = ? ORDER BY e.seq DESC LIMIT 1"
)
"""The log's last entry and the trust account's balance (its all-time total in
``period_totals``); the caller checks the entry is at ``size - 1`` of the locked row.

The order makes the primary key (estate, seq) the only cheap plan, whatever the
statistics: with ``e.seq = (SELECT size - 1 …)`` instead, a generic plan cached while
the table was nearly empty (psycopg prepares a statement on its 5th run) scanned the
estate's rows by the payload-id index and filtered on seq: O(n) per append until
the next ANALYZE (600 µs at 3,000 entries)."""
_KEYS_AND_ACCOUNTS_SQL = (
    "SELECT 'k', key_id, public_key, role, holder, added_seq, revoked_seq FROM author_keys"
    " WHERE estate_id = ? AND key_id IN (?*)"
    " UNION ALL SELECT 'a', name, NULL, type, display_name, opened_seq, closed_seq"
    " FROM accounts WHERE estate_id = ? AND name IN (?*)"
)
_KNOWN = (
    "SELECT 'e', leaf FROM entries WHERE estate_id = ? AND payload_id IN (?*)"
    " UNION ALL SELECT 'p', NULL FROM proposals"
    " WHERE estate_id = ? AND status = 'pending' AND id IN (?*)"
)
_INSERTS: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (table, columns)
    for name, table, columns in (
        (
            "entry",
            "entries",
            ("estate_id", "seq", "payload_id", "kind", "date", "recorded_at", "leaf", "leaf_hash"),
        ),
        ("posting", "postings", ("estate_id", "seq", "line", "account", "amount", "date")),
        (
            "key",
            "author_keys",
            ("estate_id", "key_id", "public_key", "role", "holder", "added_seq", "revoked_seq"),
        ),
        (
            "account",
            "accounts",
            ("estate_id", "name", "type", "display_name", "opened_seq", "closed_seq"),
        ),
        ("reversal", "reversals", ("estate_id", "target_seq", "reversal_seq")),
        ("voucher", "voucher_refs", ("estate_id", "sha256", "seq")),
        ("redaction", "redactions", ("estate_id", "sha256", "seq", "reason")),
        (
            "fact",
            "entry_facts",
            (
                "estate_id",
                "seq",
                "kind",
                "date",
                "category",
                "counterparty",
                "memo",
                "household",
                "amount",
                "trust_delta",
                "trust_balance",
            ),
        ),
        ("hash", "tree_hashes", ("estate_id", "level", "idx", "hash")),
        ("checkpoint", "checkpoints", ("estate_id", "size", "root", "note", "signed_at")),
    )
}
_INSERT_ROWS = {name: (table, cols, itemgetter(*cols)) for name, (table, cols) in _INSERTS.items()}
_ON_HEAD = (
    "s.size = ? AND s.vkey = ? AND s.policy = ? AND (SELECT e.leaf_hash FROM entries e"
    " WHERE e.estate_id = s.id ORDER BY e.seq DESC LIMIT 1) = ?"
    " AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.estate_id = s.id AND e.payload_id IN (?*))"
    " AND NOT EXISTS (SELECT 1 FROM proposals p WHERE p.estate_id = s.id"
    " AND p.status = 'pending' AND p.id IN (?*))"
    " AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.estate_id = s.id AND r.sha256 IN (?*))"
)
"""Whether the log is still at the head an append was built on
(:meth:`Appender._append_on_head`), asked once the estate's lock is held."""
_ON_HEAD_PG = (
    f"SELECT CASE WHEN {_ON_HEAD} THEN 1 ELSE CAST('the log moved from the head of this"  # noqa: S608 (constant)
    " append: ' || s.id AS integer) END FROM estates s WHERE s.id = ?"
)
"""PostgreSQL: fails (the cast of a text that is not a number; a constant would fail at
planning) unless the log is at the head, so that the writes queued behind it in the
same pipeline are not run."""
_ON_HEAD_SQLITE = f"SELECT {_ON_HEAD} FROM estates s WHERE s.id = ?"  # noqa: S608 (constant)
_REVOKE_KEY = "UPDATE author_keys SET revoked_seq = ? WHERE estate_id = ? AND key_id = ?"
_CLOSE_ACCOUNT = "UPDATE accounts SET closed_seq = ? WHERE estate_id = ? AND name = ?"
_SET_SIZE = "UPDATE estates SET size = ? WHERE estates.id = ?"
_SET_SIZE_POLICY = "UPDATE estates SET size = ?, policy = ? WHERE estates.id = ?"


@dataclass
class LockedEstate:
    """The estate row as the append's lock statement read it."""

    id: str
    origin: str
    vkey: str
    policy: str
    size: int
    created_at: str


@dataclass(frozen=True)
class _Head:
    """What the next append needs of a log at ``size``: the last leaf hash and time, the
    trust account's balance, and the compact range's hashes (the tree's right edge).
    Kept by this process after its appends (:data:`_heads`) with the estate row and the
    keys and accounts it knew at that head (a key or account absent: ``None``)."""

    size: int
    leaf_hash: bytes | None
    recorded_at: str
    trust_balance: int
    frontier: tuple[bytes, ...]
    row: LockedEstate | None = None
    keys: Mapping[str, KeyRecord | None] = field(default_factory=dict)
    accounts: Mapping[str, AccountRecord | None] = field(default_factory=dict)


@dataclass(frozen=True)
class _Batch:
    """A validated batch: what to answer, the rows to write (none if nothing is new)
    and the head after it."""

    out: list[Appended]
    rows: dict[str, list[dict[str, Any]]]
    policy_changed: bool
    head: _Head


_HEADS_LIMIT = 10_000
_heads: dict[tuple[str, str], _Head] = {}
"""The head each estate's last append in this process left, by (database, estate).
Used only when the locked log's size and last leaf hash equal the cached ones: the
last leaf commits to every entry before it (``prev``), so the rest follows."""


def begin_write(session: Session) -> None:
    """On SQLite, take the database's write lock now, before any read.

    A WAL transaction that reads first and writes later fails at once ("database is
    locked") when another writer committed in between; one whose first statement
    is a write waits its turn instead. An UPDATE matching no row still starts the
    write transaction. PostgreSQL needs nothing here (row locks do the work).
    """
    if session.get_bind().dialect.name == "sqlite":
        RawConnection(session).rows(_TAKE_WRITE_LOCK_SQL, ())


_LOCK_ESTATE = (
    select(EstateRow)
    .where(EstateRow.id == bindparam("estate"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def lock_estate(session: Session, estate: str) -> EstateRow:
    """Take the estate's append lock and return its row (fresh, not cached)."""
    begin_write(session)
    row = session.scalar(_LOCK_ESTATE, {"estate": estate})
    if row is None:
        raise NotFound(f"estate {estate!r} does not exist", field="estate")
    return row


def create_estate(
    session: Session, genesis: SignedPayload, signer: Signer, clock: Clock = utcnow
) -> Appended:
    """Create an estate from its signed genesis payload and append the genesis entry."""
    body = genesis.payload.body
    if not isinstance(body, GenesisBody):
        raise LogStateError("an estate is created by a genesis payload", field="payload.kind")
    estate = genesis.payload.estate
    if session.get(EstateRow, estate) is not None:
        existing = Appender(session, estate, signer, clock).append([genesis])
        return existing[0]
    session.add(
        EstateRow(
            id=estate,
            name=body.name,
            origin=signer.name,
            vkey=signer.vkey,
            policy="",
            size=0,
            created_at=format_recorded_at(clock()),
        )
    )
    session.add(LogKeyRow(estate_id=estate, from_size=0, vkey=signer.vkey, handover_note=None))
    session.flush()
    return Appender(session, estate, signer, clock).append([genesis])[0]


class Appender:
    """Appends to one estate inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        estate: str,
        signer: Signer | Callable[[EstateState], Signer],
        clock: Clock = utcnow,
        note_for: Callable[[int, bytes], str] | None = None,
        *,
        raw: RawConnection | None = None,
    ) -> None:
        """``signer``: the log key, or a function giving it for the locked estate row.
        ``note_for(size, root)``: the checkpoint note to store instead of signing one
        (a restore replays the notes of a backup); by default the log key signs."""
        self.session = session
        self.estate = estate
        self._signer = signer
        self.clock = clock
        self.note_for = note_for
        self.raw = raw  # the statements' connection, if not the session's
        self.pending_proposals = True  # until a read says no proposal of the batch waits

    def append(
        self,
        items: Sequence[SignedPayload],
        locked: EstateState | None = None,
        *,
        commit: bool = False,
    ) -> list[Appended]:
        """Append ``items``; ``locked``: the estate row if the caller holds its lock already.
        ``commit``: the caller writes nothing after this but the marking of pending
        proposals (:attr:`pending_proposals`), so the transaction's ``COMMIT`` may go out
        with the writes when none is pending (:meth:`.RawConnection.commit`).

        Without ``locked``, the lock and every read the batch needs (the log's last
        entry, payload ids already in the log or waiting as proposals, the signers'
        keys and the accounts posted to) go out together: on PostgreSQL in one
        pipeline, one round trip. When this process appended the last entry of the
        log, the batch is first tried on that head with no read at all
        (:meth:`_append_on_head`; on PostgreSQL lock, check, writes and commit in one
        round trip), in the transactions that allow it: :func:`.explicit_transaction`'s
        on PostgreSQL, one begun with the write lock on SQLite.
        """
        raw = self.raw or RawConnection(self.session)
        if locked is None and (raw.explicit or raw.write_locked):
            head = _heads.get((_database(self.session), self.estate))
            if head is not None and head.row is not None:
                fast = self._append_on_head(raw, items, head, commit)
                if fast is not None:
                    return fast
        ids = list(dict.fromkeys(item.payload.id for item in items))
        key_ids = sorted({s.key for item in items for s in item.signatures})
        names = _accounts_of(items)
        with raw.pipeline():
            if locked is None:
                if not raw.postgres and not raw.write_locked:
                    raw.send(_TAKE_WRITE_LOCK_SQL, ())
                lock = raw.send(_LOCK_PG if raw.postgres else _LOCK_SQLITE, (self.estate,))
            last = raw.send(_LAST, (self.estate, TRUST_ACCOUNT, self.estate))
            known = raw.send(
                _KNOWN,
                (self.estate, *(ids or [""]), self.estate, *(ids or [""])),
                (len(ids), len(ids)),
            )
            fetched = raw.send(
                _KEYS_AND_ACCOUNTS_SQL,
                (self.estate, *(key_ids or [""]), self.estate, *(names or [""])),
                (len(key_ids), len(names)),
            )
        # Read once the pipeline is settled: a fetch inside it costs psycopg a sync of
        # its own before the one that ends the block (one more round trip, ≈ 0.1 ms).
        row = locked if locked is not None else self._locked(raw.fetch(lock))
        last_rows = raw.fetch(last)
        known_rows = raw.fetch(known)
        fetched_rows = raw.fetch(fetched)
        signer = self._signer_for(row)
        view = DbView(self.session, row)
        view.prefetched(key_ids, names, fetched_rows)
        _remember_keys(self.session, self.estate, fetched_rows)
        head, cached = self._head(raw, row, last_rows)
        if cached:  # what this process knew of the registry at this head holds too
            view.known(head.keys, head.accounts)
        self.pending_proposals = any(kind == "p" for kind, _ in known_rows)
        done: dict[str, Appended] = {}
        for kind, leaf in known_rows:
            if kind == "e":
                e = parse_leaf(leaf)
                done[e.payload.id] = Appended(e, e.leaf_bytes(), False)
        batch = self._build(items, view, head, done, signer)
        if batch.rows:
            with raw.pipeline():
                self._write_rows(raw, batch.rows, view, batch.policy_changed)
                if commit and not self.pending_proposals:
                    raw.commit()
            self._remember(row, view, batch)
        return batch.out

    def _append_on_head(
        self, raw: RawConnection, items: Sequence[SignedPayload], head: _Head, commit: bool
    ) -> list[Appended] | None:
        """Append on the head this process left, or ``None`` if the log may have moved:
        then nothing was written and the caller appends as usual.

        The batch is validated against the head's registry (:meth:`DbView.offline`:
        any question it cannot answer, and any refusal, are left to the usual path,
        which asks the database under the lock) and its rows built. A check
        (:data:`_ON_HEAD`), asked under the lock, says whether the estate row (size,
        log key, policy) and the last leaf hash are still the head's, none of the
        payload ids is in the log or waiting as a proposal, and none of the vouchers
        assumed unredacted was redacted. The last leaf commits to the whole log, so the
        registry, the accounts and the tree's edge are then the head's.

        PostgreSQL: the lock, the check and the writes (and ``COMMIT`` if ``commit``) go
        out in one pipeline, one round trip; a failed check fails the transaction,
        which is rolled back. SQLite (the write lock held since ``BEGIN IMMEDIATE``):
        the check's answer is read before writing; four reads fewer than the usual path.
        """
        row = head.row
        assert row is not None
        view = DbView.offline(row, head.keys, head.accounts)
        try:
            signer = self._signer_for(row)
            batch = self._build(items, view, head, {}, signer)
        except Exception:
            # A refusal, a question for the database, a log key rotated since: the
            # usual path decides, under the lock, and raises if need be.
            return None
        if not batch.rows:
            return None
        ids = list(dict.fromkeys(item.payload.id for item in items))
        shas = sorted(view.assumed_unredacted) or [""]
        check = (
            row.size,
            row.vkey,
            row.policy,
            head.leaf_hash,
            *ids,
            *ids,
            *shas,
            self.estate,
        )
        counts = (len(ids), len(ids), len(shas))
        if not raw.postgres:
            if raw.rows(_ON_HEAD_SQLITE, check, counts) != [(1,)]:
                return None
            self._write_rows(raw, batch.rows, view, batch.policy_changed)
        else:
            try:
                with raw.pipeline():
                    raw.write(_LOCK_PG, (self.estate,))
                    raw.write(_ON_HEAD_PG, check, counts)
                    self._write_rows(raw, batch.rows, view, batch.policy_changed)
                    if commit:
                        raw.commit()
            except DBAPIError:
                raw.rollback()
                return None
        self.pending_proposals = False
        self._remember(row, view, batch)
        return batch.out

    def _signer_for(self, row: EstateState) -> Signer:
        signer = self._signer if isinstance(self._signer, Signer) else self._signer(row)
        if row.origin != signer.name:
            raise LogStateError(f"log key is for {signer.name}, estate origin is {row.origin}")
        if row.vkey != signer.vkey:
            # A rotation committed after the caller loaded its key: never sign with a
            # key the estate no longer publishes.
            raise LogStateError(f"the log key of estate {self.estate} changed; try again")
        return signer

    def _build(
        self,
        items: Sequence[SignedPayload],
        view: DbView,
        head: _Head,
        done: dict[str, Appended],
        signer: Signer,
    ) -> _Batch:
        """Validate ``items`` in turn against ``view`` (updated as each is accepted) and
        build the rows of the new entries, tree hashes and checkpoint. ``done``: payload
        ids already in the log, by id (a repeated id in the batch is added to it)."""
        start = view.size
        compact = CompactRange(start, list(head.frontier))
        prev, last_time, trust_balance = head.leaf_hash, head.recorded_at, head.trust_balance
        leaf_hashes: list[bytes] = []  # the tree's new nodes are built once, at the end
        # One clock reading for the batch: its entries are committed at one instant.
        now = format_recorded_at(self.clock())
        out: list[Appended] = []
        policy_changed = False
        rows: dict[str, list[dict[str, Any]]] = {}
        for i, item in enumerate(items):
            try:
                known = done.get(item.payload.id)
                if known is not None:
                    _same_payload(known.entry, item.payload)
                    out.append(Appended(known.entry, known.leaf, False))
                    continue
                effects = check_append(view, item.payload, item.signatures)
            except LedgerError as e:
                e.data.setdefault("index", i)
                raise
            recorded_at = max(now, last_time)
            entry = Entry(
                view.size, prev, recorded_at, item.payload, sort_signatures(item.signatures)
            )
            leaf = entry.leaf_bytes()
            leaf_hash = hash_leaf(leaf)
            _collect(rows, self.estate, entry, leaf, leaf_hash, effects)
            if effects.postings:
                trust_balance = _collect_facts(rows, self.estate, entry, effects, trust_balance)
            leaf_hashes.append(leaf_hash)
            view.apply(effects)
            policy_changed = policy_changed or effects.policy is not None
            appended = Appended(entry, leaf, True)
            done[item.payload.id] = appended
            out.append(appended)
            prev, last_time = leaf_hash, recorded_at
        if view.size > start:
            rows["hash"] = [
                {"estate_id": self.estate, "level": level, "idx": first + i, "hash": h}
                for level, first, hashes in compact.extend(leaf_hashes)
                for i, h in enumerate(hashes)
            ]
            root = compact.root()
            if self.note_for is not None:
                note = self.note_for(view.size, root)
            else:
                note = sign_checkpoint(Checkpoint(signer.name, view.size, root), signer)
            rows["checkpoint"] = [
                {
                    "estate_id": self.estate,
                    "size": view.size,
                    "root": root,
                    "note": note,
                    "signed_at": last_time,
                }
            ]
        head = _Head(view.size, prev, last_time, trust_balance, compact.hashes)
        return _Batch(out, rows if view.size > start else {}, policy_changed, head)

    def _remember(self, row: EstateState, view: DbView, batch: _Batch) -> None:
        """Keep the batch's head, with the estate row and registry at it, for the next
        append (before the commit: it is only used once the database shows the same
        row and last leaf hash, so a rollback leaves it unused)."""
        policy = row.policy
        if batch.policy_changed:
            policy = _policy_text(view)
        locked = LockedEstate(row.id, row.origin, row.vkey, policy, view.size, row.created_at)
        keys, accounts = view.registry()
        head = replace(batch.head, row=locked, keys=keys, accounts=accounts)
        if len(_heads) >= _HEADS_LIMIT:
            _heads.clear()
        _heads[_database(self.session), self.estate] = head

    def _locked(self, rows: list[tuple[Any, ...]]) -> LockedEstate:
        if not rows:
            raise NotFound(f"estate {self.estate!r} does not exist", field="estate")
        return LockedEstate(*rows[0])

    def _head(
        self, raw: RawConnection, row: EstateState, last: list[tuple[Any, ...]]
    ) -> tuple[_Head, bool]:
        """The head of the locked log, and whether it is the one this process left:
        from this process's last append when the last leaf hash confirms it, else read
        (the compact range's hashes by primary key)."""
        size = row.size
        if not last:
            if size:
                raise StorageError(f"estate {self.estate} has size {size} but no entries")
            return _Head(0, None, "", 0, ()), False
        seq, leaf_hash, recorded_at, trust_balance = last[0]
        if seq != size - 1:
            raise StorageError(f"estate {self.estate} has size {size} but its last entry is {seq}")
        cached = _heads.get((_database(self.session), self.estate))
        if cached is not None and cached.size == size and cached.leaf_hash == bytes(leaf_hash):
            return cached, True
        frontier = DbView(self.session, row).read_hashes(CompactRange.indexes_for(size))
        head = _Head(size, bytes(leaf_hash), recorded_at, int(trust_balance or 0), tuple(frontier))
        return head, False

    def _write_rows(
        self,
        raw: RawConnection,
        rows: dict[str, list[dict[str, Any]]],
        view: DbView,
        policy_changed: bool,
    ) -> None:
        """Every row of the batch, its checkpoint, the new head and the period totals (one
        insert per table; on PostgreSQL one statement: :meth:`.RawConnection.write_all`)."""
        inserts: list[Insert] = [
            (table, columns, [values(r) for r in rows[name]], "")
            for name, (table, columns, values) in _INSERT_ROWS.items()
            if rows.get(name)
        ]
        inserts.append(aggregates.upsert(rows))
        if policy_changed:
            head: tuple[str, tuple[Any, ...]] = (
                _SET_SIZE_POLICY,
                (view.size, _policy_text(view), self.estate),
            )
        else:
            head = (_SET_SIZE, (view.size, self.estate))
        raw.write_all(inserts, [head])
        # Updates of rows the batch may have inserted: statements of their own.
        raw.many(_REVOKE_KEY, [(seq, self.estate, k) for k, seq in rows.get("revoke_key", [])])
        raw.many(
            _CLOSE_ACCOUNT, [(seq, self.estate, n) for n, seq in rows.get("close_account", [])]
        )


def _policy_text(view: DbView) -> str:
    """The estate row's ``policy`` column for the view's policy."""
    return json.dumps(view.policy().to_json(), sort_keys=True)


def _accounts_of(items: Sequence[SignedPayload]) -> list[str]:
    return sorted(
        {
            p.account
            for item in items
            if isinstance(item.payload.body, TransactionBody)
            for p in item.payload.body.postings
        }
    )


def _database(session: Session) -> str:
    return database_name(session.get_bind().engine)


_KEYS_LIMIT = 10_000
_public_keys: dict[tuple[str, str], dict[str, bytes]] = {}


def _remember_keys(session: Session, estate: str, rows: Sequence[tuple[Any, ...]]) -> None:
    keys = {r[1]: bytes(r[2]) for r in rows if r[0] == "k"}
    if keys:
        if len(_public_keys) >= _KEYS_LIMIT:
            _public_keys.clear()
        _public_keys.setdefault((_database(session), estate), {}).update(keys)


def public_keys_seen(engine_url: str, estate: str) -> Mapping[str, bytes]:
    """Public keys this process has read for ``estate``'s key ids (key id -> bytes), to
    verify signatures before taking the lock; whether a key may sign is decided under
    the lock, against the registry as it is then."""
    return _public_keys.get((engine_url, estate), {})


def _same_payload(entry: Entry, payload: Payload) -> None:
    if canonical_json(entry.payload.raw) != payload.canonical():
        raise Conflict(
            f"payload id {payload.id} is already entry {entry.seq} with other content",
            field="payload.id",
            seq=entry.seq,
        )


def _collect(
    rows: dict[str, list[Any]],
    estate: str,
    entry: Entry,
    leaf: bytes,
    leaf_hash: bytes,
    fx: Effects,
) -> None:
    """Turn one accepted entry into the rows to insert (derived from the entry alone)."""
    p = entry.payload
    date = p.date.isoformat()
    rows.setdefault("entry", []).append(
        {
            "estate_id": estate,
            "seq": entry.seq,
            "payload_id": p.id,
            "kind": p.kind,
            "date": date,
            "recorded_at": entry.recorded_at,
            "leaf": leaf,
            "leaf_hash": leaf_hash,
        }
    )
    for line, posting in enumerate(fx.postings):
        rows.setdefault("posting", []).append(
            {
                "estate_id": estate,
                "seq": entry.seq,
                "line": line,
                "account": posting.account,
                "amount": posting.amount,
                "date": date,
            }
        )
    for k in fx.keys_added:
        rows.setdefault("key", []).append(
            {
                "estate_id": estate,
                "key_id": k.key_id,
                "public_key": k.public_key,
                "role": k.role,
                "holder": k.holder,
                "added_seq": k.added_seq,
                "revoked_seq": None,
            }
        )
    if fx.key_revoked is not None:
        rows.setdefault("revoke_key", []).append((fx.key_revoked, entry.seq))
    if fx.account_opened is not None:
        a = fx.account_opened
        rows.setdefault("account", []).append(
            {
                "estate_id": estate,
                "name": a.name,
                "type": a.type,
                "display_name": a.display_name,
                "opened_seq": a.opened_seq,
                "closed_seq": None,
            }
        )
    if fx.account_closed is not None:
        rows.setdefault("close_account", []).append((fx.account_closed, entry.seq))
    if fx.reverses is not None:
        rows.setdefault("reversal", []).append(
            {"estate_id": estate, "target_seq": fx.reverses, "reversal_seq": entry.seq}
        )
    for v in p.vouchers:
        rows.setdefault("voucher", []).append(
            {"estate_id": estate, "sha256": v.sha256, "seq": entry.seq}
        )
    if fx.redacts is not None:
        sha256, reason = fx.redacts
        rows.setdefault("redaction", []).append(
            {"estate_id": estate, "sha256": sha256, "seq": entry.seq, "reason": reason}
        )


def _collect_facts(
    rows: dict[str, list[Any]], estate: str, entry: Entry, fx: Effects, trust_balance: int
) -> int:
    """The query facts of a transaction or reversal; returns the new trust balance."""
    p = entry.payload
    body = p.body
    delta = sum(x.amount for x in fx.postings if x.account == TRUST_ACCOUNT)
    if isinstance(body, TransactionBody):
        category, counterparty = body.category, body.counterparty
        household = None if body.household is None else b64encode(body.household)
    else:
        assert isinstance(body, ReversalBody)
        category, counterparty, household = "reversal", "", None
    rows.setdefault("fact", []).append(
        {
            "estate_id": estate,
            "seq": entry.seq,
            "kind": p.kind,
            "date": p.date.isoformat(),
            "category": category,
            "counterparty": counterparty,
            "memo": p.memo,
            "household": household,
            "amount": sum(x.amount for x in fx.postings if x.amount > 0),
            "trust_delta": delta,
            "trust_balance": trust_balance + delta,
        }
    )
    return trust_balance + delta
