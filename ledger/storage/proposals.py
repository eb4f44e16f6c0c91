"""Proposals: signed payloads waiting for co-signatures (the co-managed account's 双密码).

An author posts a payload with the signatures it has; if the policy is not yet
satisfied it waits here, ``pending``, and the other side adds its signatures. The
moment the gathered signatures satisfy the policy the entry is appended in the
same transaction and the proposal is marked ``appended`` with its seq. One of the
keys that made the proposal may withdraw it while it is pending.

Every signature is verified when it arrives (against the keys valid now), and the
body is checked against the log as it stands, with the rules of
:func:`ledger.validate.missing_roles` — the same ones :func:`~ledger.validate.check_append`
applies, so a proposal can never be appended under rules it did not meet.

Repository functions: the caller owns the transaction and holds the estate's
append lock (``lock_estate``) across a call, so two co-signers racing are
serialised and the second finds the proposal already appended (the unique payload
id of ``entries`` backs this up).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.canonical import canonical_json, parse_json
from ledger.entry import Entry, parse_leaf
from ledger.errors import Conflict, InvalidInput, LogStateError, NotFound, UnknownKey
from ledger.payload import Payload, parse_payload
from ledger.signing import (
    MAX_SIGNATURES,
    Signature,
    parse_signatures,
    sort_signatures,
    verify_payload_signature,
)
from ledger.storage.appender import Appended, Appender, SignedPayload
from ledger.storage.models import EntryRow, ProposalRow
from ledger.storage.view import DbView
from ledger.validate import missing_roles, rule_for

PENDING, APPENDED, WITHDRAWN = "pending", "appended", "withdrawn"
STATUSES = (PENDING, APPENDED, WITHDRAWN)
WITHDRAW_DOMAIN = b"trustledger/withdraw/v1\n"
MAX_LIST = 500


def withdraw_signing_bytes(proposal_id: str) -> bytes:
    """What a signer signs to withdraw a proposal: the domain and the proposal id."""
    return WITHDRAW_DOMAIN + proposal_id.encode("utf-8")


@dataclass(frozen=True)
class Proposal:
    id: str  # the payload id
    status: str  # pending | appended | withdrawn
    seq: int | None  # the entry, once appended
    payload: Payload
    signatures: tuple[Signature, ...]
    proposed_by: tuple[str, ...]  # key ids that signed when it was made
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class SignerInfo:
    key: str
    sig: bytes
    role: str | None  # None: the key is not (or no longer) registered
    holder: str | None
    active: bool


@dataclass(frozen=True)
class ProposalView:
    """A proposal as co-signers see it: who signed, which rule, what is still missing."""

    proposal: Proposal
    signers: tuple[SignerInfo, ...]
    rule: str
    missing: tuple[str, ...]  # roles still to sign ("a|b": one of them); () unless pending


@dataclass(frozen=True)
class Outcome:
    described: ProposalView  # the proposal after the call
    changed: bool  # the call stored something (a proposal, signatures, an entry, a status)
    appended: Appended | None = None  # the entry this call appended

    @property
    def proposal(self) -> Proposal:
        return self.described.proposal


def _from_row(row: ProposalRow) -> Proposal:
    return Proposal(
        id=row.id,
        status=row.status,
        seq=row.seq,
        payload=parse_payload(parse_json(row.payload.encode("utf-8"))),
        signatures=parse_signatures(json.loads(row.signatures)),
        proposed_by=tuple(json.loads(row.proposed_by)),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _row(session: Session, estate: str, proposal_id: str) -> ProposalRow | None:
    return session.scalar(
        select(ProposalRow)
        .where(ProposalRow.estate_id == estate, ProposalRow.id == proposal_id)
        .execution_options(populate_existing=True)
    )


def get(session: Session, estate: str, proposal_id: str) -> Proposal:
    row = _row(session, estate, proposal_id)
    if row is None:
        raise NotFound(f"estate {estate} has no proposal {proposal_id}", field="id")
    return _from_row(row)


def list_all(
    session: Session,
    estate: str,
    status: str | None = None,
    *,
    after: tuple[str, str] | None = None,
    limit: int = MAX_LIST,
) -> list[Proposal]:
    """Up to ``limit`` proposals, oldest first, optionally of
    one status; ``after`` is the ``(created_at, id)`` of the last one of the page before
    (keyset pages: a proposal made meanwhile never shifts them)."""
    query = select(ProposalRow).where(ProposalRow.estate_id == estate)
    if status is not None:
        query = query.where(ProposalRow.status == status)
    if after is not None:
        created_at, proposal_id = after
        query = query.where(
            (ProposalRow.created_at > created_at)
            | ((ProposalRow.created_at == created_at) & (ProposalRow.id > proposal_id))
        )
    order = query.order_by(ProposalRow.created_at, ProposalRow.id)
    rows = session.scalars(order.limit(limit))
    return [_from_row(r) for r in rows]


def describe(view: DbView, proposal: Proposal) -> ProposalView:
    """Who has signed (by the keys as registered now) and which roles are missing."""
    signers = []
    for s in proposal.signatures:
        k = view.key(s.key)
        if k is None:
            signers.append(SignerInfo(s.key, s.sig, None, None, False))
        else:
            signers.append(SignerInfo(s.key, s.sig, k.role, k.holder, k.revoked_seq is None))
    rule = rule_for(proposal.payload, view)
    missing: list[str] = []
    if proposal.status == PENDING:
        roles = [s.role for s in signers if s.active and s.role]
        missing = view.policy().rule(rule).missing(roles)
    return ProposalView(proposal, tuple(signers), rule, tuple(missing))


def _sigs_json(sigs: Sequence[Signature]) -> str:
    return json.dumps([s.to_json() for s in sort_signatures(tuple(sigs))])


def _in_log(session: Session, estate: str, payload: Payload) -> Entry | None:
    """The entry with this payload id, if any (with other content: a conflict)."""
    row = session.execute(
        select(EntryRow.seq, EntryRow.leaf).where(
            EntryRow.estate_id == estate, EntryRow.payload_id == payload.id
        )
    ).first()
    if row is None:
        return None
    entry = parse_leaf(row.leaf)
    if canonical_json(entry.payload.raw) != payload.canonical():
        raise Conflict(
            f"payload id {payload.id} is already entry {entry.seq} with other content",
            field="payload.id",
            seq=entry.seq,
        )
    return entry


def _mark(row: ProposalRow, now: str, status: str, seq: int | None = None) -> None:
    row.status, row.seq, row.updated_at = status, seq, now


def submit(
    session: Session, view: DbView, item: SignedPayload, appender: Appender, now: str
) -> Outcome:
    """Propose ``item``; append it at once if its signatures already satisfy the policy.

    A payload id that is already proposed with the same payload adds the signatures
    (as :func:`cosign`); with another payload it is a conflict, and so is an id the
    log holds with other content.
    """
    payload = item.payload
    if payload.kind == "genesis":
        raise LogStateError("a genesis is not proposed: the operator creates the estate")
    row = _row(session, view.estate, payload.id)
    if row is not None:
        if row.payload.encode("utf-8") != payload.canonical():
            raise Conflict(f"proposal {payload.id} exists with another payload", field="payload.id")
        return _add(session, view, row, item.signatures, appender, now)
    entry = _in_log(session, view.estate, payload)
    if entry is not None:  # posted through /entries before: nothing to propose
        keys = tuple(s.key for s in entry.signatures)
        done = Proposal(payload.id, APPENDED, entry.seq, payload, entry.signatures, keys, now, now)
        return Outcome(describe(view, done), False)
    status, seq, appended = PENDING, None, None
    if not missing_roles(view, payload, item.signatures):
        appended = appender.append([item])[0]
        status, seq = APPENDED, appended.entry.seq
    row = ProposalRow(
        estate_id=view.estate,
        id=payload.id,
        payload=payload.canonical().decode("utf-8"),
        signatures=_sigs_json(item.signatures),
        proposed_by=json.dumps(sorted({s.key for s in item.signatures})),
        status=status,
        seq=seq,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    return Outcome(describe(view, _from_row(row)), True, appended)


def cosign(
    session: Session,
    view: DbView,
    proposal_id: str,
    signatures: Sequence[Signature],
    appender: Appender,
    now: str,
) -> Outcome:
    """Add ``signatures`` (keys that signed already are ignored); append when satisfied.

    Every new signature must verify under a registered, unrevoked key, or nothing is
    stored.
    """
    row = _row(session, view.estate, proposal_id)
    if row is None:
        raise NotFound(f"estate {view.estate} has no proposal {proposal_id}", field="id")
    return _add(session, view, row, signatures, appender, now)


def _add(
    session: Session,
    view: DbView,
    row: ProposalRow,
    signatures: Sequence[Signature],
    appender: Appender,
    now: str,
) -> Outcome:
    proposal = _from_row(row)
    if proposal.status == WITHDRAWN:
        raise LogStateError(
            f"proposal {proposal.id} was withdrawn; propose again with a new payload id",
            field="id",
        )
    if proposal.status == APPENDED:
        return Outcome(describe(view, proposal), False)
    entry = _in_log(session, view.estate, proposal.payload)
    if entry is not None:  # appended directly through /entries meanwhile
        _mark(row, now, APPENDED, entry.seq)
        return Outcome(describe(view, _from_row(row)), True)
    have = {s.key for s in proposal.signatures}
    added = []
    for s in signatures:
        if s.key not in have:
            have.add(s.key)
            added.append(s)
    if not added:
        return Outcome(describe(view, proposal), False)
    merged = proposal.signatures + tuple(added)
    if len(merged) > MAX_SIGNATURES:
        raise InvalidInput(f"an entry carries at most {MAX_SIGNATURES} signatures")
    missing = missing_roles(view, proposal.payload, merged)  # verifies every signature
    row.signatures, row.updated_at = _sigs_json(merged), now
    appended = None
    if not missing:
        appended = appender.append([SignedPayload(proposal.payload, merged)])[0]
        _mark(row, now, APPENDED, appended.entry.seq)
    return Outcome(describe(view, _from_row(row)), True, appended)


def withdraw(
    session: Session, view: DbView, proposal_id: str, signature: Signature, now: str
) -> Outcome:
    """Withdraw a pending proposal, by a signature of one of the keys that made it
    over :func:`withdraw_signing_bytes`. Withdrawing it again changes nothing."""
    row = _row(session, view.estate, proposal_id)
    if row is None:
        raise NotFound(f"estate {view.estate} has no proposal {proposal_id}", field="id")
    proposal = _from_row(row)
    if proposal.status == APPENDED:
        raise LogStateError(
            f"proposal {proposal_id} is already entry {proposal.seq}", field="id", seq=proposal.seq
        )
    if signature.key not in proposal.proposed_by:
        raise UnknownKey(
            f"key {signature.key} did not make proposal {proposal_id}",
            field="signature.key",
            key=signature.key,
        )
    record = view.key(signature.key)
    if record is None or record.revoked_seq is not None:
        raise UnknownKey(
            f"key {signature.key} is not an active key of estate {view.estate}",
            field="signature.key",
            key=signature.key,
        )
    verify_payload_signature(record.public_key, withdraw_signing_bytes(proposal_id), signature)
    if proposal.status == WITHDRAWN:
        return Outcome(describe(view, proposal), False)
    _mark(row, now, WITHDRAWN)
    return Outcome(describe(view, _from_row(row)), True)


def mark_appended(session: Session, estate: str, appended: Sequence[Appended], now: str) -> None:
    """Mark pending proposals of exactly these payloads appended (posted via ``/entries``).

    One indexed query for the whole batch; an UPDATE only for proposals it finds.
    """
    by_id = {a.entry.payload.id: a.entry for a in appended}
    if not by_id:
        return
    pending = session.execute(
        select(ProposalRow.id, ProposalRow.payload).where(
            ProposalRow.estate_id == estate,
            ProposalRow.status == PENDING,
            ProposalRow.id.in_(list(by_id)),
        )
    ).all()
    for proposal_id, text in pending:
        entry = by_id[proposal_id]
        if text.encode("utf-8") != entry.payload.canonical():
            continue  # another payload under the same id: co-signing it will conflict
        session.execute(
            update(ProposalRow)
            .where(ProposalRow.estate_id == estate, ProposalRow.id == proposal_id)
            .values(status=APPENDED, seq=entry.seq, updated_at=now)
        )
