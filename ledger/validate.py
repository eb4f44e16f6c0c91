"""Whether a signed payload may be appended to an estate's log, and what it changes.

``check_append(view, payload, signatures)`` runs every rule of DESIGN.md against the
log as it stands (the :class:`LedgerView`): signatures by registered, unrevoked keys
of this estate; the policy (which roles must sign this kind); double entry (postings
balance, accounts open); reversals (target exists, is a transaction, not yet
reversed); key and account lifecycle; redactions (the voucher was referenced and
is not yet redacted; no entry references a redacted voucher). It raises the first
failure, naming it, and otherwise returns the :class:`Effects` the append has on
derived state. ``missing_roles`` runs the same checks but, instead of refusing an
entry the policy does not yet allow, says which roles still have to sign (for
proposals waiting for co-signatures).

:class:`MemoryState` is a view built by folding entries in memory (used by audits,
``trustledger verify`` and tests); storage implements the same view with queries.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from ledger.errors import (
    AccountState,
    DuplicateSignature,
    InvalidReversal,
    LogStateError,
    MissingSignature,
    RevokedKey,
    UnbalancedPostings,
    UnknownAccount,
    UnknownKey,
    WrongEstate,
)
from ledger.payload import (
    AccountBody,
    BudgetBody,
    GenesisBody,
    KeyBody,
    KeySpec,
    Payload,
    PolicyBody,
    Posting,
    RedactionBody,
    ReversalBody,
    TransactionBody,
)
from ledger.policy import Policy, Rule
from ledger.signing import PAYLOAD_DOMAIN, Signature, verify_payload_signature


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    public_key: bytes
    role: str
    holder: str
    added_seq: int
    revoked_seq: int | None = None

    def revoked_at(self, seq: int) -> KeyRecord:
        return replace(self, revoked_seq=seq)


@dataclass(frozen=True)
class AccountRecord:
    name: str
    type: str
    display_name: str
    opened_seq: int
    closed_seq: int | None = None

    def closed_at(self, seq: int) -> AccountRecord:
        return replace(self, closed_seq=seq)


class LedgerView(Protocol):
    """What validation needs to know about a log of ``size`` entries."""

    @property
    def estate(self) -> str: ...
    @property
    def size(self) -> int: ...
    def policy(self) -> Policy: ...
    def key(self, key_id: str) -> KeyRecord | None: ...
    def account(self, name: str) -> AccountRecord | None: ...
    def transaction_postings(self, seq: int) -> tuple[Posting, ...] | None:
        """Postings of entry ``seq`` if it is a transaction, else None."""
        ...

    def reversed_by(self, seq: int) -> int | None: ...

    def voucher_state(self, sha256: str) -> tuple[bool, int | None]:
        """(an entry references this voucher, seq of the entry that redacted it or None)."""
        ...


@dataclass(frozen=True)
class Effects:
    """What appending an entry changes in the state derived from the log."""

    seq: int
    kind: str
    rule: str
    postings: tuple[Posting, ...] = ()
    keys_added: tuple[KeyRecord, ...] = ()
    key_revoked: str | None = None
    account_opened: AccountRecord | None = None
    account_closed: str | None = None
    reverses: int | None = None
    policy: Policy | None = None
    vouchers: tuple[str, ...] = ()  # sha256 of every voucher the entry references
    redacts: tuple[str, str] | None = None  # (sha256, reason) of a withdrawn voucher


def rule_for(payload: Payload, view: LedgerView) -> str:
    """The policy rule an entry falls under."""
    body = payload.body
    if isinstance(body, TransactionBody):
        return "spend" if body.bank_outflow else "income"
    return payload.kind


def check_signatures(
    estate: str,
    payload: Payload,
    signatures: Iterable[Signature],
    lookup: Callable[[str], KeyRecord | None],
) -> list[KeyRecord]:
    """Verify each signature against the keys valid now (``lookup``); return the signers."""
    sigs = list(signatures)
    if not sigs:
        raise MissingSignature("the payload carries no signature", field="signatures")
    seen: set[str] = set()
    message = PAYLOAD_DOMAIN + payload.canonical()  # payload_signing_bytes(payload.raw)
    signers = []
    for sig in sigs:
        if sig.key in seen:
            raise DuplicateSignature(f"key {sig.key} signed twice", field="signatures", key=sig.key)
        seen.add(sig.key)
        record = lookup(sig.key)
        if record is None:
            raise UnknownKey(
                f"key {sig.key} is not registered in estate {estate}",
                field="signatures",
                key=sig.key,
            )
        if record.revoked_seq is not None:
            raise RevokedKey(
                f"key {sig.key} was revoked at entry {record.revoked_seq}",
                field="signatures",
                key=sig.key,
            )
        verify_payload_signature(record.public_key, message, sig)
        signers.append(record)
    return signers


def _check_postings(view: LedgerView, postings: tuple[Posting, ...], seq: int) -> None:
    for i, p in enumerate(postings):
        acct = view.account(p.account)
        field_ = f"payload.body.postings[{i}].account"
        if acct is None or acct.closed_seq is not None:
            raise UnknownAccount(f"account {p.account} is not open", field=field_)
        if p.amount == 0:
            raise UnbalancedPostings(
                f"posting {i} has amount 0", field=f"payload.body.postings[{i}].amount"
            )
    total = sum(p.amount for p in postings)
    if total != 0:
        raise UnbalancedPostings(
            f"postings sum to {total} fen, not 0", field="payload.body.postings", total=total
        )


def _effects_of_body(
    view: LedgerView, payload: Payload, seq: int, rule: str, vouchers: tuple[str, ...]
) -> Effects:
    body = payload.body
    if isinstance(body, TransactionBody):
        _check_postings(view, body.postings, seq)
        return Effects(seq, payload.kind, rule, postings=body.postings, vouchers=vouchers)
    if isinstance(body, ReversalBody):
        target = body.target
        postings = view.transaction_postings(target) if target < view.size else None
        if postings is None:
            raise InvalidReversal(
                f"entry {target} is not a transaction of this log", field="payload.body.target"
            )
        done = view.reversed_by(target)
        if done is not None:
            raise InvalidReversal(
                f"entry {target} was already reversed by entry {done}", field="payload.body.target"
            )
        negated = tuple(Posting(p.account, -p.amount) for p in postings)
        for p in negated:
            acct = view.account(p.account)
            if acct is None or acct.closed_seq is not None:
                raise InvalidReversal(
                    f"entry {target} posts to {p.account}, which is closed now",
                    field="payload.body.target",
                )
        return Effects(
            seq, payload.kind, rule, postings=negated, reverses=target, vouchers=vouchers
        )
    if isinstance(body, AccountBody):
        existing = view.account(body.name)
        if body.action == "open":
            if existing is not None:
                raise AccountState(f"account {body.name} already exists", field="payload.body.name")
            record = AccountRecord(body.name, body.type, body.display_name, seq)
            return Effects(seq, payload.kind, rule, account_opened=record, vouchers=vouchers)
        if existing is None or existing.closed_seq is not None:
            raise AccountState(f"account {body.name} is not open", field="payload.body.name")
        return Effects(seq, payload.kind, rule, account_closed=body.name, vouchers=vouchers)
    if isinstance(body, KeyBody):
        existing_key = view.key(body.key_id)
        if body.action == "register":
            assert body.key is not None
            if existing_key is not None:
                raise LogStateError(
                    f"key {body.key_id} is already registered", field="payload.body"
                )
            added = (_record(body.key, seq),)
            return Effects(seq, payload.kind, rule, keys_added=added, vouchers=vouchers)
        if existing_key is None or existing_key.revoked_seq is not None:
            raise LogStateError(
                f"key {body.key_id} is not an active key", field="payload.body.key_id"
            )
        return Effects(seq, payload.kind, rule, key_revoked=body.key_id, vouchers=vouchers)
    if isinstance(body, BudgetBody):
        for i, line in enumerate(body.lines):
            if view.account(line.account) is None:
                raise UnknownAccount(
                    f"account {line.account} does not exist",
                    field=f"payload.body.lines[{i}].account",
                )
        return Effects(seq, payload.kind, rule, vouchers=vouchers)
    if isinstance(body, PolicyBody):
        return Effects(seq, payload.kind, rule, policy=body.policy, vouchers=vouchers)
    if isinstance(body, RedactionBody):
        return _redaction(view, payload, body, seq, rule, vouchers)
    if not payload.vouchers:
        raise LogStateError("a document entry needs at least one voucher", field="payload.vouchers")
    return Effects(seq, payload.kind, rule, vouchers=vouchers)


def _redaction(
    view: LedgerView,
    payload: Payload,
    body: RedactionBody,
    seq: int,
    rule: str,
    vouchers: tuple[str, ...],
) -> Effects:
    referenced, redacted = view.voucher_state(body.sha256)
    where = "payload.body.sha256"
    if redacted is not None:
        raise LogStateError(
            f"voucher {body.sha256} was already redacted by entry {redacted}",
            field=where,
            seq=redacted,
        )
    if not referenced:
        raise LogStateError(
            f"voucher {body.sha256} is not referenced by any entry of this log", field=where
        )
    if any(v.sha256 == body.sha256 for v in payload.vouchers):
        raise LogStateError(
            "a redaction cannot reference the voucher it withdraws", field="payload.vouchers"
        )
    redacts = (body.sha256, body.reason)
    return Effects(seq, payload.kind, rule, redacts=redacts, vouchers=vouchers)


def _record(spec: KeySpec, seq: int) -> KeyRecord:
    return KeyRecord(spec.key_id, spec.public_key, spec.role, spec.holder, seq)


def _founding(body: GenesisBody) -> dict[str, KeyRecord]:
    return {k.key_id: _record(k, 0) for k in body.keys}


def _authorise(
    view: LedgerView, payload: Payload, signatures: Iterable[Signature]
) -> tuple[str, Rule, list[KeyRecord]]:
    """The checks before the policy: estate, place in the log, every signature verifies.

    Returns the name of the policy rule the entry falls under, that rule, and the
    signers' key records.
    """
    if payload.estate != view.estate:
        raise WrongEstate(
            f"payload is for estate {payload.estate!r}, this log is {view.estate!r}",
            field="payload.estate",
        )
    body = payload.body
    if isinstance(body, GenesisBody):
        if view.size != 0:
            raise LogStateError("the log already has a genesis entry", field="payload.kind")
        signers = check_signatures(view.estate, payload, signatures, _founding(body).get)
        # The platform operator founds every log, whatever the genesis's own policy says:
        # a genesis could otherwise authorise itself with a rule of its own making.
        own = body.policy.rule("genesis")
        floor = Rule(all_of=tuple(dict.fromkeys(("operator", *own.all_of))), any_of=own.any_of)
        return "genesis", floor, signers
    if view.size == 0:
        raise LogStateError("the first entry of a log must be its genesis", field="payload.kind")
    rule = rule_for(payload, view)
    signers = check_signatures(view.estate, payload, signatures, view.key)
    return rule, view.policy().rule(rule), signers


def _effects(view: LedgerView, payload: Payload, rule: str) -> Effects:
    """The checks after the policy (the body against the log) and the entry's effects."""
    body = payload.body
    vouchers = tuple(v.sha256 for v in payload.vouchers)
    if isinstance(body, GenesisBody):
        keys = tuple(_founding(body).values())
        return Effects(0, "genesis", rule, keys_added=keys, policy=body.policy, vouchers=vouchers)
    for i, sha256 in enumerate(vouchers):
        redacted = view.voucher_state(sha256)[1]
        if redacted is not None:
            raise LogStateError(
                f"voucher {sha256} was redacted by entry {redacted} and cannot be referenced",
                field=f"payload.vouchers[{i}].sha256",
                seq=redacted,
            )
    return _effects_of_body(view, payload, view.size, rule, vouchers)


def check_append(view: LedgerView, payload: Payload, signatures: Iterable[Signature]) -> Effects:
    """Decide whether ``payload`` signed by ``signatures`` may become entry ``view.size``."""
    rule, requirement, signers = _authorise(view, payload, signatures)
    requirement.check(rule, [s.role for s in signers])
    return _effects(view, payload, rule)


def missing_roles(view: LedgerView, payload: Payload, signatures: Iterable[Signature]) -> list[str]:
    """What the policy still asks for before ``payload`` may become entry ``view.size``.

    Runs every check of :func:`check_append` except the policy's verdict, raising as
    it would (a bad signature, a body that does not fit the log); then returns the
    unmet requirements — a role, or ``"a|b"`` for one of several — or ``[]`` when
    :func:`check_append` would accept the entry now.
    """
    rule, requirement, signers = _authorise(view, payload, signatures)
    _effects(view, payload, rule)
    return requirement.missing(s.role for s in signers)


@dataclass
class MemoryState:
    """A :class:`LedgerView` folded from entries in memory (mutable: it is a builder)."""

    estate: str
    size: int = 0
    _policy: Policy | None = None
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    transactions: dict[int, tuple[Posting, ...]] = field(default_factory=dict)
    reversals: dict[int, int] = field(default_factory=dict)
    vouchers: dict[str, int] = field(default_factory=dict)  # sha256 -> first referencing seq
    redactions: dict[str, int] = field(default_factory=dict)  # sha256 -> redaction seq

    def policy(self) -> Policy:
        if self._policy is None:
            raise LogStateError("the log has no genesis yet")
        return self._policy

    def key(self, key_id: str) -> KeyRecord | None:
        return self.keys.get(key_id)

    def account(self, name: str) -> AccountRecord | None:
        return self.accounts.get(name)

    def transaction_postings(self, seq: int) -> tuple[Posting, ...] | None:
        return self.transactions.get(seq)

    def reversed_by(self, seq: int) -> int | None:
        return self.reversals.get(seq)

    def voucher_state(self, sha256: str) -> tuple[bool, int | None]:
        return sha256 in self.vouchers, self.redactions.get(sha256)

    def apply(self, effects: Effects) -> None:
        """Record an accepted entry (the result of :func:`check_append`)."""
        for k in effects.keys_added:
            self.keys[k.key_id] = k
        if effects.key_revoked is not None:
            old = self.keys[effects.key_revoked]
            self.keys[old.key_id] = old.revoked_at(effects.seq)
        if effects.account_opened is not None:
            self.accounts[effects.account_opened.name] = effects.account_opened
        if effects.account_closed is not None:
            a = self.accounts[effects.account_closed]
            self.accounts[a.name] = a.closed_at(effects.seq)
        if effects.kind == "transaction":
            self.transactions[effects.seq] = effects.postings
        if effects.reverses is not None:
            self.reversals[effects.reverses] = effects.seq
        if effects.policy is not None:
            self._policy = effects.policy
        for sha256 in effects.vouchers:
            self.vouchers.setdefault(sha256, effects.seq)
        if effects.redacts is not None:
            self.redactions[effects.redacts[0]] = effects.seq
        self.size = effects.seq + 1
