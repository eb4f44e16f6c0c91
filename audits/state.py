"""The audit's fold: a compact :class:`~ledger.validate.LedgerView` and the verdict per entry.

:class:`AuditState` is what :class:`ledger.validate.MemoryState` is — the log's
keys, accounts, policy, transactions and reversals folded from the entries — but
it keeps each transaction's postings packed in two integer arrays (about 40 bytes
an entry instead of several hundred) so that an audit of millions of entries
stays small. :func:`judge` runs the library's own
:func:`ledger.validate.check_append` against it, so the audit applies exactly
the rules the service applies.

A failed entry (bad signature, unbalanced postings, …) is still folded *as
written* (:func:`written_effects`): the transaction it records, the key or account
it registers, the reversal it makes. The choice: the log is what it is, and later
entries were signed and appended against it; judging them against a state that
pretends the failed entry never happened would report breaks that are not theirs
(an account "not open" because the entry opening it had a bad signature). What
cannot apply (closing an account that does not exist) is skipped.

Pure: no I/O.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ledger.entry import Entry
from ledger.errors import (
    AccountingError,
    InvalidReversal,
    LedgerError,
    LogStateError,
    MissingSignature,
    SignatureError,
)
from ledger.payload import (
    TRUST_ACCOUNT,
    AccountBody,
    GenesisBody,
    KeyBody,
    Payload,
    PolicyBody,
    Posting,
    RedactionBody,
    ReversalBody,
    TransactionBody,
)
from ledger.policy import Policy
from ledger.validate import (
    AccountRecord,
    Effects,
    KeyRecord,
    LedgerView,
    check_append,
    rule_for,
)


class AuditState:
    """A :class:`~ledger.validate.LedgerView` folded entry by entry, with packed postings.

    Mutable: a builder the audit grows with :meth:`apply`. Besides the view it
    keeps what the derived-data checks compare at the end: every account's
    balance and the trust account's running balance.
    """

    def __init__(self, estate: str, size: int = 0) -> None:
        self.estate = estate
        self.size = size
        self._base = size  # postings are known for transactions from this seq on
        self._policy: Policy | None = None
        self.keys: dict[str, KeyRecord] = {}
        self.accounts: dict[str, AccountRecord] = {}
        self.reversals: dict[int, int] = {}
        self.vouchers: dict[str, int] = {}  # sha256 -> first referencing seq
        self.redactions: dict[str, int] = {}  # sha256 -> redaction seq
        self.balances: dict[str, int] = {}
        self.trust_balance = 0
        self._names: list[str] = []
        self._ids: dict[str, int] = {}
        self._offsets = array("q", [0])  # postings of seq s: _data[2*o[s] : 2*o[s+1]]
        self._data = array("q")  # (account id, amount) pairs
        # a worker's fold: the postings of a few entries before ``size`` it was given
        self.earlier_postings: dict[int, tuple[Posting, ...] | None] = {}

    # -- LedgerView ---------------------------------------------------------------------------

    def policy(self) -> Policy:
        if self._policy is None:
            raise LogStateError("the log has no genesis yet")
        return self._policy

    def key(self, key_id: str) -> KeyRecord | None:
        return self.keys.get(key_id)

    def account(self, name: str) -> AccountRecord | None:
        return self.accounts.get(name)

    def policy_or_none(self) -> Policy | None:
        return self._policy

    def transaction_postings(self, seq: int) -> tuple[Posting, ...] | None:
        i = seq - self._base
        if not 0 <= i < len(self._offsets) - 1:
            return self.earlier_postings.get(seq) if i < 0 else None
        lo, hi = self._offsets[i], self._offsets[i + 1]
        if lo == hi:
            return None
        pairs = self._data[2 * lo : 2 * hi]
        return tuple(Posting(self._names[pairs[i]], pairs[i + 1]) for i in range(0, len(pairs), 2))

    def reversed_by(self, seq: int) -> int | None:
        return self.reversals.get(seq)

    def voucher_state(self, sha256: str) -> tuple[bool, int | None]:
        return sha256 in self.vouchers, self.redactions.get(sha256)

    # -- folding ------------------------------------------------------------------------------

    def restore(
        self,
        policy: Policy | None,
        keys: Mapping[str, KeyRecord],
        accounts: Mapping[str, AccountRecord],
        reversals: Mapping[int, int],
        redactions: Mapping[str, int],
    ) -> None:
        """Start from a snapshot of another fold (see :mod:`audits.speculate`)."""
        self._policy = policy
        self.keys, self.accounts = dict(keys), dict(accounts)
        self.reversals, self.redactions = dict(reversals), dict(redactions)

    def _account_id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self._names)
            self._names.append(name)
        return found

    def apply(self, fx: Effects) -> None:
        """Record entry ``fx.seq`` (accepted, or folded as written)."""
        if has_records(fx):
            self._records(fx)
        if fx.kind == "transaction":
            for p in fx.postings:
                self._data.extend((self._account_id(p.account), p.amount))
        self._offsets.append(len(self._data) // 2)
        for p in fx.postings:
            self.balances[p.account] = self.balances.get(p.account, 0) + p.amount
            if p.account == TRUST_ACCOUNT:
                self.trust_balance += p.amount
        self.size = fx.seq + 1

    def _records(self, fx: Effects) -> None:
        """Everything an entry changes but its postings: keys, accounts, reversals, ..."""
        for k in fx.keys_added:
            self.keys[k.key_id] = k
        if fx.key_revoked is not None:
            old = self.keys[fx.key_revoked]
            self.keys[old.key_id] = old.revoked_at(fx.seq)
        if fx.account_opened is not None:
            self.accounts[fx.account_opened.name] = fx.account_opened
        if fx.account_closed is not None:
            a = self.accounts[fx.account_closed]
            self.accounts[a.name] = a.closed_at(fx.seq)
        if fx.reverses is not None:
            self.reversals[fx.reverses] = fx.seq
        if fx.policy is not None:
            self._policy = fx.policy
        for sha256 in fx.vouchers:
            self.vouchers.setdefault(sha256, fx.seq)
        if fx.redacts is not None:
            self.redactions[fx.redacts[0]] = fx.seq

    def run_since_start(self, start: int, records: tuple[Effects, ...]) -> FoldedRun:
        """What the entries folded into this state did, for a state made by
        :meth:`audits.speculate.Snapshot.state_at` at ``start`` (its postings, balances and
        trust balance start empty); ``records``: their effects that :func:`has_records`."""
        return FoldedRun(
            self.size - start,
            tuple(self._names),
            self._data,
            self._offsets,
            self.balances,
            self.trust_balance,
            records,
        )

    def apply_run(self, run: FoldedRun) -> None:
        """Fold a run of entries at once: the same state as :meth:`apply` of each."""
        for fx in run.records:
            self._records(fx)
        ids = [self._account_id(name) for name in run.names]
        pairs = array("q", run.pairs)
        pairs[0::2] = array("q", [ids[i] for i in pairs[0::2]])
        base = len(self._data) // 2
        self._data.extend(pairs)
        self._offsets.extend(array("q", [base + o for o in run.offsets[1:]]))
        for account, change in run.balances.items():
            self.balances[account] = self.balances.get(account, 0) + change
        self.trust_balance += run.trust_change
        self.size += run.entries

    def skip(self) -> None:
        """Count an entry whose leaf does not parse: it takes its place but changes nothing."""
        self._offsets.append(len(self._data) // 2)
        self.size += 1


def has_records(fx: Effects) -> bool:
    """Whether an entry changes more than postings: keys, accounts, the policy,
    reversals, vouchers referenced or redacted."""
    return bool(
        fx.keys_added
        or fx.vouchers
        or fx.key_revoked is not None
        or fx.account_opened is not None
        or fx.account_closed is not None
        or fx.reverses is not None
        or fx.policy is not None
        or fx.redacts is not None
    )


@dataclass(frozen=True)
class FoldedRun:
    """A run of consecutive entries folded by a worker, relative to where it started.

    ``pairs`` holds ``(index into names, amount)`` for each transaction's postings and
    ``offsets`` the run's postings per entry as in :class:`AuditState` (starting at 0);
    ``balances`` and ``trust_change`` are changes; ``records`` are the effects of the
    entries that change more than postings, in order.
    """

    entries: int
    names: tuple[str, ...]
    pairs: array[int]
    offsets: array[int]
    balances: dict[str, int]
    trust_change: int
    records: tuple[Effects, ...]


@dataclass(frozen=True)
class Failure:
    """The rule an entry broke, as plain values (it crosses process boundaries)."""

    check: str  # the finding's check: signatures, policy, double-entry, reversals, rules
    code: str  # the ledger error's code
    message: str
    field: str | None
    data: Mapping[str, str | int | None]

    @classmethod
    def of(cls, e: LedgerError) -> Failure:
        return cls(rule_check(e), e.code, e.message, e.field, _plain(e.data))


@dataclass(frozen=True)
class Verdict:
    """How an entry fared: its effects (accepted or as written) and the rule it broke."""

    effects: Effects
    failure: Failure | None


def rule_check(failure: LedgerError) -> str:
    """The check name under which a refused entry is reported."""
    if isinstance(failure, MissingSignature):
        return "policy"
    if isinstance(failure, SignatureError):
        return "signatures"
    if isinstance(failure, InvalidReversal):
        return "reversals"
    if isinstance(failure, AccountingError):
        return "double-entry"
    return "rules"


def _plain(data: Mapping[str, object]) -> dict[str, str | int | None]:
    out: dict[str, str | int | None] = {}
    for k, v in data.items():
        if isinstance(v, bytes):
            out[k] = v.hex()
        elif v is None or isinstance(v, str | int):
            out[k] = v
        else:
            out[k] = str(v)
    return out


def judge(view: LedgerView, entry: Entry) -> Verdict:
    """Run :func:`ledger.validate.check_append`; on failure fold the entry as written.

    ``view`` is the fold before the entry: the :class:`AuditState` itself, or a
    worker's recording view of a snapshot of it (:mod:`audits.speculate`).
    """
    try:
        return Verdict(check_append(view, entry.payload, entry.signatures), None)
    except LedgerError as e:
        return Verdict(written_effects(view, entry.payload), Failure.of(e))


def written_effects(state: LedgerView, payload: Payload) -> Effects:
    """What an entry says happens, applied as far as the state allows (see module doc)."""
    seq, body = state.size, payload.body
    try:
        rule = rule_for(payload, state)
    except LedgerError:
        rule = payload.kind
    base = Effects(seq, payload.kind, rule, vouchers=tuple(v.sha256 for v in payload.vouchers))
    if isinstance(body, GenesisBody):
        if seq != 0:
            return base
        keys = tuple(KeyRecord(k.key_id, k.public_key, k.role, k.holder, 0) for k in body.keys)
        return replace(base, keys_added=keys, policy=body.policy)
    if isinstance(body, TransactionBody):
        return replace(base, postings=body.postings)
    if isinstance(body, ReversalBody):
        return _reversal(state, base, body)
    if isinstance(body, KeyBody):
        return _key(state, base, body)
    if isinstance(body, AccountBody):
        return _account(state, base, body)
    if isinstance(body, PolicyBody):
        return replace(base, policy=body.policy)
    if isinstance(body, RedactionBody) and state.voucher_state(body.sha256)[1] is None:
        return replace(base, redacts=(body.sha256, body.reason))
    return base


def _reversal(state: LedgerView, fx: Effects, body: ReversalBody) -> Effects:
    target = state.transaction_postings(body.target) if body.target < state.size else None
    if target is None or state.reversed_by(body.target) is not None:
        return fx
    negated = tuple(Posting(p.account, -p.amount) for p in target)
    return replace(fx, postings=negated, reverses=body.target)


def _key(state: LedgerView, fx: Effects, body: KeyBody) -> Effects:
    existing = state.key(body.key_id)
    if body.action == "register" and body.key is not None and existing is None:
        k = body.key
        return replace(
            fx, keys_added=(KeyRecord(k.key_id, k.public_key, k.role, k.holder, fx.seq),)
        )
    if body.action == "revoke" and existing is not None and existing.revoked_seq is None:
        return replace(fx, key_revoked=body.key_id)
    return fx


def _account(state: LedgerView, fx: Effects, body: AccountBody) -> Effects:
    existing = state.account(body.name)
    if body.action == "open" and existing is None:
        record = AccountRecord(body.name, body.type, body.display_name, fx.seq)
        return replace(fx, account_opened=record)
    if body.action == "close" and existing is not None and existing.closed_seq is None:
        return replace(fx, account_closed=body.name)
    return fx
