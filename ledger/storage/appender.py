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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy import false as sql_false
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.canonical import b64encode, canonical_json
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Entry, format_recorded_at, parse_leaf
from ledger.errors import Conflict, LedgerError, LogStateError, NotFound
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
from ledger.storage.models import (
    AccountRow,
    CheckpointRow,
    EntryFactRow,
    EntryRow,
    EstateRow,
    KeyRow,
    LogKeyRow,
    PostingRow,
    ProposalRow,
    RedactionRow,
    ReversalRow,
    TreeHashRow,
    VoucherRefRow,
)
from ledger.storage.view import DbView
from ledger.validate import Effects, check_append

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


# The hot path's statements are built once: constructing SQLAlchemy expressions costs
# more Python time per append than executing them.
_TAKE_WRITE_LOCK = update(EstateRow).where(sql_false()).values(size=EstateRow.size)
_LOCK_ESTATE = (
    select(EstateRow)
    .where(EstateRow.id == bindparam("estate"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_TRUST_BALANCE = (
    select(EntryFactRow.trust_balance)
    .where(EntryFactRow.estate_id == bindparam("estate"))
    .order_by(EntryFactRow.seq.desc())
    .limit(1)
    .scalar_subquery()
)
_PENDING = (
    exists()
    .where(
        ProposalRow.estate_id == bindparam("estate"),
        ProposalRow.status == "pending",
        ProposalRow.id.in_(bindparam("ids", expanding=True)),
    )
    .correlate(None)
)
_HEAD = select(EntryRow.leaf_hash, EntryRow.recorded_at, _TRUST_BALANCE, _PENDING).where(
    EntryRow.estate_id == bindparam("estate"), EntryRow.seq == bindparam("seq")
)
_EXISTING = select(EntryRow.leaf).where(
    EntryRow.estate_id == bindparam("estate"),
    EntryRow.payload_id.in_(bindparam("ids", expanding=True)),
)


def begin_write(session: Session) -> None:
    """On SQLite, take the database's write lock now, before any read.

    A WAL transaction that reads first and writes later fails at once ("database is
    locked") when another writer committed in between; one whose first statement
    is a write waits its turn instead. An UPDATE matching no row still starts the
    write transaction. PostgreSQL needs nothing here (row locks do the work).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(_TAKE_WRITE_LOCK)


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
        signer: Signer,
        clock: Clock = utcnow,
        note_for: Callable[[int, bytes], str] | None = None,
    ) -> None:
        """``note_for(size, root)``: the checkpoint note to store instead of signing one
        (a restore replays the notes of a backup); by default the log key signs."""
        self.session = session
        self.estate = estate
        self.signer = signer
        self.clock = clock
        self.note_for = note_for
        self.pending_proposals = True  # until a read says no proposal of the batch waits

    def append(
        self, items: Sequence[SignedPayload], locked: EstateRow | None = None
    ) -> list[Appended]:
        """Append ``items``; ``locked``: the estate row if the caller holds its lock already."""
        row = locked if locked is not None else lock_estate(self.session, self.estate)
        if row.origin != self.signer.name:
            raise LogStateError(f"log key is for {self.signer.name}, estate origin is {row.origin}")
        if row.vkey != self.signer.vkey:
            # A rotation committed after the caller loaded its key: never sign with a
            # key the estate no longer publishes.
            raise LogStateError(f"the log key of estate {self.estate} changed; try again")
        view = DbView(self.session, row)
        start = row.size
        compact = CompactRange(start, view.read_hashes(CompactRange.indexes_for(start)))
        leaf_hashes: list[bytes] = []  # the tree's new nodes are built once, at the end
        prev, last_time, trust_balance = self._head(start, [i.payload.id for i in items])
        view.prefetch(
            {s.key for item in items for s in item.signatures},
            {
                p.account
                for item in items
                if isinstance(item.payload.body, TransactionBody)
                for p in item.payload.body.postings
            },
        )
        out: list[Appended] = []
        batch_ids = self._existing([item.payload.id for item in items])
        policy_changed = False
        rows: dict[str, list[dict[str, Any]]] = {}
        for i, item in enumerate(items):
            try:
                done = batch_ids.get(item.payload.id)
                if done is not None:
                    _same_payload(done.entry, item.payload)
                    out.append(Appended(done.entry, done.leaf, False))
                    continue
                effects = check_append(view, item.payload, item.signatures)
            except LedgerError as e:
                e.data.setdefault("index", i)
                raise
            recorded_at = max(format_recorded_at(self.clock()), last_time)
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
            batch_ids[item.payload.id] = appended
            out.append(appended)
            prev, last_time = leaf_hash, recorded_at
        if view.size > start:
            rows["hash"] = [
                {"estate_id": self.estate, "level": level, "idx": first + i, "hash": h}
                for level, first, hashes in compact.extend(leaf_hashes)
                for i, h in enumerate(hashes)
            ]
            self._write(rows, view, compact, row, last_time, policy_changed)
        return out

    def _head(self, size: int, ids: list[str]) -> tuple[bytes | None, str, int]:
        """The last entry's leaf hash and time, and the trust account's running balance;
        notes in :attr:`pending_proposals` whether a proposal of these payloads waits."""
        if size == 0:
            return None, "", 0
        r = self.session.execute(
            _HEAD, {"estate": self.estate, "seq": size - 1, "ids": ids or [""]}
        ).one()
        self.pending_proposals = bool(r[3])
        return r[0], r[1], int(r[2] or 0)

    def _existing(self, ids: Sequence[str]) -> dict[str, Appended]:
        """Entries already in the log under any of these payload ids (one query)."""
        if not ids:
            return {}
        leaves = self.session.scalars(_EXISTING, {"estate": self.estate, "ids": list(set(ids))})
        found = (parse_leaf(leaf) for leaf in leaves)
        return {e.payload.id: Appended(e, e.leaf_bytes(), False) for e in found}

    def _write(
        self,
        rows: dict[str, list[dict[str, Any]]],
        view: DbView,
        compact: CompactRange,
        row: EstateRow,
        signed_at: str,
        policy_changed: bool,
    ) -> None:
        """Every row of the batch, its checkpoint and the new head; on PostgreSQL in one
        pipeline (the statements go out together and one round trip settles them)."""
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":
            self._write_rows(rows, view, compact, row, signed_at, policy_changed)
            return
        import psycopg

        driver = connection.connection.driver_connection
        try:
            with driver.pipeline():  # type: ignore[union-attr]
                self._write_rows(rows, view, compact, row, signed_at, policy_changed)
        except psycopg.Error as e:  # raised when the pipeline settles: as SQLAlchemy would
            raise DBAPIError.instance(None, None, e, psycopg.Error) from e

    def _write_rows(
        self,
        rows: dict[str, list[dict[str, Any]]],
        view: DbView,
        compact: CompactRange,
        row: EstateRow,
        signed_at: str,
        policy_changed: bool,
    ) -> None:
        tables = {
            "entry": EntryRow,
            "posting": PostingRow,
            "key": KeyRow,
            "account": AccountRow,
            "reversal": ReversalRow,
            "voucher": VoucherRefRow,
            "redaction": RedactionRow,
            "fact": EntryFactRow,
            "hash": TreeHashRow,
        }
        for name, table in tables.items():
            if rows.get(name):  # Core executemany: no ORM bookkeeping on the hot path
                self.session.connection().execute(insert(table), rows[name])
        for key_id, seq in rows.get("revoke_key", []):
            self.session.execute(
                update(KeyRow)
                .where(KeyRow.estate_id == self.estate, KeyRow.key_id == key_id)
                .values(revoked_seq=seq)
            )
        for name, seq in rows.get("close_account", []):
            self.session.execute(
                update(AccountRow)
                .where(AccountRow.estate_id == self.estate, AccountRow.name == name)
                .values(closed_seq=seq)
            )
        root = compact.root()
        if self.note_for is not None:
            note = self.note_for(view.size, root)
        else:
            note = sign_checkpoint(Checkpoint(row.origin, view.size, root), self.signer)
        self.session.connection().execute(
            insert(CheckpointRow),
            [
                {
                    "estate_id": self.estate,
                    "size": view.size,
                    "root": root,
                    "note": note,
                    "signed_at": signed_at,
                }
            ],
        )
        head: dict[str, Any] = {"size": view.size}
        if policy_changed:
            head["policy"] = json.dumps(view.policy().to_json(), sort_keys=True)
        self.session.execute(update(EstateRow).where(EstateRow.id == self.estate).values(**head))


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
