"""The ledger as one object for the edges (CLI, HTTP): engine, key store, blobs, appends.

Each method runs one database transaction and commits it; the core and the
repositories below never commit on their own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.entry import format_recorded_at
from ledger.errors import LedgerError, MissingVoucher
from ledger.note import Signer
from ledger.payload import RedactionBody
from ledger.signing import (
    PAYLOAD_DOMAIN,
    VERIFIED,
    Deferred,
    DeferredSignatureFailed,
    Signature,
    deferred_verification,
    settle_deferred,
    verify_claimed,
)
from ledger.storage import logkeys, proposals, tokens
from ledger.storage.appender import (
    Appended,
    Appender,
    Clock,
    SignedPayload,
    begin_write,
    create_estate,
    lock_estate,
    public_keys_seen,
    utcnow,
)
from ledger.storage.blobs import BlobStore, BlobStores, FilesystemBlobStores
from ledger.storage.db import (
    SQLITE_IMMEDIATE,
    database_name,
    make_engine,
    migrate,
    session_factory,
)
from ledger.storage.groupcommit import GroupCommitter
from ledger.storage.keyfiles import LogKeyStore
from ledger.storage.models import EstateRow, HouseholdSaltRow, RedactionRow
from ledger.storage.rawsql import RawConnection, explicit_transaction
from ledger.storage.reader import LogReader
from ledger.storage.view import DbView, EstateState
from ledger.validate import MemoryState, check_append

log = logging.getLogger("trustledger.ledger")

_VERIFY_AHEAD_MAX = 8
"""Appends of at most this many items verify ahead of the lock (a batch import verifies
ahead on a pool of threads in the API; see :mod:`api.preverify`)."""


class LedgerService:
    def __init__(
        self,
        url: str,
        data_dir: Path,
        origin_host: str,
        *,
        engine: Engine | None = None,
        clock: Clock = utcnow,
        blobs: BlobStores | None = None,
    ) -> None:
        self.url = url
        self.data_dir = Path(data_dir)
        self.origin_host = origin_host
        self.engine = engine or make_engine(url)
        self.sessions = session_factory(self.engine)
        self.log_keys = LogKeyStore(self.data_dir)
        self.voucher_root = self.data_dir / "vouchers"
        self.blobs: BlobStores = blobs or FilesystemBlobStores(self.voucher_root)
        self.clock = clock
        self.grouper = GroupCommitter(functools.partial(self.append, verify_ahead=False))

    def blobs_for(self, estate: str) -> BlobStore:
        """The voucher store of one estate (nothing crosses estates, redaction included)."""
        return self.blobs(estate)

    def _check_vouchers(self, estate: str, items: Sequence[SignedPayload]) -> None:
        if not any(item.payload.vouchers for item in items):
            return
        store = self.blobs_for(estate)
        for i, item in enumerate(items):
            for v in item.payload.vouchers:
                if not store.exists(v.sha256):
                    raise MissingVoucher(
                        f"voucher {v.sha256} ({v.name}) has not been uploaded; "
                        "PUT it to /vouchers/{sha256} first",
                        field="payload.vouchers",
                        index=i,
                    )

    def migrate(self) -> None:
        migrate(self.url)

    def origin(self, estate: str) -> str:
        return f"{self.origin_host}/estates/{estate}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[tuple[Session, RawConnection]]:
        """One write transaction, committed at the end of the block (rolled back on error).

        Begun on a Core connection (on SQLite with ``BEGIN IMMEDIATE``: the write lock
        first, see :func:`~ledger.storage.appender.begin_write`); the session is
        joined to it for the reads that need one. An append costs less this way than
        through a session's own transaction, whose bookkeeping cost ≈ 50 µs an append
        (more than SQLite takes for the append's reads). The session never commits the
        connection's transaction; it only rolls it back with its own on error.
        On PostgreSQL the raw connection runs the transaction
        (:func:`~ledger.storage.rawsql.explicit_transaction`): its first statement must
        go through ``raw``, and the appender queues ``COMMIT`` with its writes when the
        caller has nothing more to write.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{SQLITE_IMMEDIATE: True})
            with (
                conn.begin(),
                explicit_transaction(conn) as raw,
                Session(
                    bind=conn,
                    join_transaction_mode="rollback_only",
                    expire_on_commit=False,
                    autoflush=False,
                ) as session,
            ):
                raw.write_locked = not raw.postgres
                yield session, raw

    def _now(self) -> str:
        return format_recorded_at(self.clock())

    def _signer(self, row: EstateState) -> Signer:
        """The log key the database names for ``row`` (finishing an interrupted rotation)."""
        return self.log_keys.load(row.id, row.origin, row.vkey)

    def _after_commit(self, estate: str, appended: Sequence[Appended | None]) -> None:
        """Delete the bytes of vouchers withdrawn by committed redaction entries.

        After the commit, never before: a rolled-back redaction must not lose bytes.
        A crash in between leaves bytes that are never served (the redactions table
        answers first) and are deleted when the redaction is retried or the voucher
        is asked for again; so does a store that cannot delete now (the append has
        committed: its caller must not be told it failed).
        """
        for item in appended:
            if item is not None and isinstance(item.entry.payload.body, RedactionBody):
                self.delete_withdrawn(estate, item.entry.payload.body.sha256)

    def delete_withdrawn(self, estate: str, sha256: str) -> None:
        """Delete the bytes a redaction withdrew, if any are left; a store that cannot
        delete now is logged (the bytes are never served, and the next request for them
        tries again)."""
        try:
            self.blobs_for(estate).delete(sha256)
        except OSError as e:
            log.error("redacted voucher %s of %s not deleted yet: %s", sha256, estate, e)

    def create_estate(self, genesis: SignedPayload) -> Appended:
        """Create an estate from its signed genesis (the same genesis again: the entry)."""
        estate = genesis.payload.estate
        self._check_vouchers(estate, [genesis])
        with self.session() as s:
            exists = s.get(EstateRow, estate) is not None
        if not exists:  # refuse a bad genesis before a log key file is made for it
            check_append(MemoryState(estate), genesis.payload, genesis.signatures)
        for attempt in range(2):
            try:
                with self.session() as s:
                    begin_write(s)
                    row = s.get(EstateRow, estate)
                    if row is None:
                        signer = self.log_keys.create(estate, self.origin(estate))
                    else:
                        signer = self._signer(row)
                    return create_estate(s, genesis, signer, self.clock)
            except IntegrityError:
                if attempt:  # a concurrent creation of this estate won: repeat against it
                    raise
        raise AssertionError("unreachable")

    def append(
        self,
        estate: str,
        items: Sequence[SignedPayload],
        salts: Sequence[tuple[str, bytes, str]] = (),
        *,
        verify_ahead: bool = True,
        defer_verified_elsewhere: bool = False,
    ) -> list[Appended]:
        """Append atomically; ``salts`` are (commitment, salt, unit) rows stored alongside.
        ``verify_ahead``: verify a few items' signatures before the lock (see
        :meth:`_verify_ahead`; group commit's callers did it already).
        ``defer_verified_elsewhere``: signatures that worker processes are verifying
        (:mod:`api.preverify`) are settled after the writes, just before the commit,
        so that the writes overlap the workers' end; one that does not verify undoes
        the transaction and the batch is appended again without deferral, which
        refuses it exactly as it would have."""
        self._check_vouchers(estate, items)  # bytes on disk; redactions are checked locked
        if verify_ahead and len(items) <= _VERIFY_AHEAD_MAX:
            self._verify_ahead(estate, items)
        if defer_verified_elsewhere:
            # A deferred signature that does not verify: append again without deferral.
            with suppress(DeferredSignatureFailed), deferred_verification() as deferred:
                try:
                    return self._append(estate, items, salts, deferred)
                except LedgerError:
                    settle_deferred(deferred)  # a forgery before the refused item comes first
                    raise
        return self._append(estate, items, salts, None)

    def _append(
        self,
        estate: str,
        items: Sequence[SignedPayload],
        salts: Sequence[tuple[str, bytes, str]],
        deferred: Deferred | None,
    ) -> list[Appended]:
        with self.writing() as (s, raw):
            # The appender locks before any read: on SQLite a transaction that reads
            # first and then writes fails with "database is locked" (no busy wait) once
            # another writer has committed since its read (WAL snapshot).
            appender = Appender(s, estate, self._signer, self.clock, raw=raw)
            out = appender.append(items, commit=not salts and deferred is None)
            if salts:  # a retried post brings its salts again: store each once
                known = set(
                    s.scalars(
                        select(HouseholdSaltRow.commitment).where(
                            HouseholdSaltRow.estate_id == estate,
                            HouseholdSaltRow.commitment.in_([c for c, _, _ in salts]),
                        )
                    )
                )
                salts = [x for x in salts if x[0] not in known]
            if salts:
                s.execute(
                    insert(HouseholdSaltRow),
                    [
                        {"estate_id": estate, "commitment": c, "salt": salt, "unit_id": unit}
                        for c, salt, unit in salts
                    ],
                )
            if appender.pending_proposals:
                proposals.mark_appended(s, estate, [a for a in out if a.created], self._now())
            if deferred is not None:
                settle_deferred(deferred)  # raises before the commit: all is rolled back
        self._after_commit(estate, out)
        return out

    def _verify_ahead(self, estate: str, items: Sequence[SignedPayload]) -> None:
        """Verify the signatures by keys this process has seen for the estate before
        taking its lock, so that concurrent appenders hold it for less time; the
        check under the lock then skips the cryptography for these (see
        :func:`ledger.signing.verify_claimed`) and still decides which keys may sign."""
        keys = public_keys_seen(database_name(self.engine), estate)
        if not keys:
            return
        claims = []
        for item in items:
            message = PAYLOAD_DOMAIN + item.payload.canonical()
            for sig in item.signatures:
                public_key = keys.get(sig.key)
                if public_key is not None:
                    claims.append(VERIFIED.claim(public_key, message, sig.sig))
        verify_claimed(claims)

    def append_one(
        self, estate: str, item: SignedPayload, salts: Sequence[tuple[str, bytes, str]] = ()
    ) -> Appended:
        """Append one payload, committed together with concurrent single appends to
        the same estate (group commit); answered after the commit, with its own error.
        The caller's thread verifies the signatures first, in parallel with the others."""
        return self.grouper.append(
            estate, item, salts, before=lambda: self._verify_ahead(estate, [item])
        )

    @contextmanager
    def reader(self, estate: str) -> Iterator[LogReader]:
        with self.session() as s:
            yield LogReader(s, estate)

    def require_estate(self, estate: str) -> None:
        """Raise :class:`NotFound` unless ``estate`` exists."""
        with self.reader(estate):
            return

    def redaction(self, session: Session, estate: str, sha256: str) -> tuple[int, str] | None:
        """(seq, reason) of the entry that withdrew this voucher's bytes, if any."""
        row = session.get(RedactionRow, (estate, sha256))
        return None if row is None else (row.seq, row.reason)

    # -- log keys ----------------------------------------------------------------------------

    def rotate_log_key(self, estate: str) -> tuple[str, logkeys.LogKey]:
        """Replace the estate's log key at its current size: (origin, the new key).

        See :mod:`.logkeys` for the hand-over and :class:`.LogKeyStore` for why the
        new key file is written before the commit and promoted after it.
        """
        with self.session() as s:
            row = lock_estate(s, estate)
            old = self._signer(row)
            new = self.log_keys.prepare_next(estate, row.origin)
            key = logkeys.rotate(s, row, old, new)
            origin = row.origin
        with suppress(OSError):  # committed: the next load() finishes the promotion
            self.log_keys.promote(estate, origin, key.vkey)
        return origin, key

    def log_key_history(self, estate: str) -> tuple[str, list[logkeys.LogKey]]:
        """(origin, every log key oldest first) for verifiers following rotations."""
        with self.reader(estate) as r:
            return r.row.origin, logkeys.history(r.session, estate)

    # -- operator tokens ---------------------------------------------------------------------

    def create_operator_token(self, name: str) -> tuple[tokens.OperatorToken, str]:
        with self.session() as s:
            return tokens.create(s, name, self._now())

    def revoke_operator_token(self, token_id: str) -> tokens.OperatorToken:
        with self.session() as s:
            return tokens.revoke(s, token_id, self._now())

    def operator_tokens(self) -> list[tokens.OperatorToken]:
        with self.session() as s:
            return tokens.list_all(s)

    def find_operator_token(self, token: str) -> tokens.OperatorToken | None:
        with self.session() as s:
            return tokens.find(s, token)

    # -- proposals (co-signing) --------------------------------------------------------------

    @contextmanager
    def _proposal_tx(self, estate: str) -> Iterator[tuple[Session, DbView, Appender]]:
        with self.session() as s:
            row = lock_estate(s, estate)
            yield s, DbView(s, row), Appender(s, estate, self._signer(row), self.clock)

    def propose(self, estate: str, item: SignedPayload) -> proposals.Outcome:
        self._check_vouchers(estate, [item])
        with self._proposal_tx(estate) as (s, view, appender):
            out = proposals.submit(s, view, item, appender, self._now())
        self._after_commit(estate, [out.appended])
        return out

    def cosign(
        self, estate: str, proposal_id: str, signatures: Sequence[Signature]
    ) -> proposals.Outcome:
        with self.session() as s:
            pending = proposals.get(s, estate, proposal_id)
        self._check_vouchers(estate, [SignedPayload(pending.payload, ())])
        with self._proposal_tx(estate) as (s, view, appender):
            out = proposals.cosign(s, view, proposal_id, signatures, appender, self._now())
        self._after_commit(estate, [out.appended])
        return out

    def withdraw(self, estate: str, proposal_id: str, signature: Signature) -> proposals.Outcome:
        with self._proposal_tx(estate) as (s, view, _):
            return proposals.withdraw(s, view, proposal_id, signature, self._now())

    def list_proposals(
        self,
        estate: str,
        status: str | None = None,
        proposal_id: str | None = None,
        *,
        after: tuple[str, str] | None = None,
        limit: int = proposals.MAX_LIST,
    ) -> list[proposals.ProposalView]:
        """Proposals with who signed and what is missing, oldest first (a page: see
        :func:`~ledger.storage.proposals.list_all`); one if ``proposal_id`` is given."""
        with self.reader(estate) as r:
            if proposal_id is not None:
                found = [proposals.get(r.session, estate, proposal_id)]
            else:
                found = proposals.list_all(r.session, estate, status, after=after, limit=limit)
            return [proposals.describe(r.view, p) for p in found]

    def estates(self) -> list[EstateRow]:
        with self.session() as s:
            return list(s.scalars(select(EstateRow).order_by(EstateRow.id)))
