"""Judging entries in worker processes, against a snapshot, and proving the guess right.

The rules (:func:`ledger.validate.check_append`) need the fold of everything before
an entry, which only the main process has, in order. So a worker judges its chunk
against a *snapshot* of the fold taken when the chunk was cut — possibly a few
chunks stale — through a :class:`RecordingView` that records every question
``check_append`` asks of the log (the policy, a key, an account, a reversal
target, a voucher) with the answer it got. Signature verification, the expensive
part, thus runs on every core.

The main process, reaching the entry in order, replays the recorded questions
against the true fold (:func:`agrees`): ``check_append`` is a pure function of
its answers, the payload and the signatures, so if every answer is the same the
verdict is the one the main process would have reached. If any differs (a key
registered in a chunk still in flight), the main process judges the entry itself.

A chunk's verdicts rest on fewer answers than its entries asked for: only those the
snapshot gave (:class:`ChunkReads`). An answer about something an earlier entry of
the same chunk changed (an account it opened, a key it registered, a reversal it
made) follows from that entry's verdict; so if every answer taken from the snapshot
is the true fold's at the chunk's start, every verdict of the chunk stands, by
induction over its entries. The main process then checks a handful of answers per
chunk instead of several per entry.

What it does not: trust the worker. A wrong snapshot can only cost a re-judging,
never change a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from audits.state import AuditState
from ledger.errors import LogStateError
from ledger.payload import Posting
from ledger.policy import Policy
from ledger.validate import AccountRecord, Effects, KeyRecord

T = TypeVar("T")
Read = tuple[str, Any, Any]
"""``(question, argument, answer)``, e.g. ``("key", "ab12…", KeyRecord(…))``."""


@dataclass(frozen=True)
class Snapshot:
    """The small part of a fold a worker needs: the policy, keys, accounts and redactions.

    Transactions' postings and the reversals made are left out (they grow with the
    log and would be copied into every chunk), except for the entries the chunk is
    expected to reverse (``earlier``: seq -> (postings, reversed by), see
    :meth:`DerivedRows.reversal_targets <audits.sources.DerivedRows.reversal_targets>`);
    a reversal of any other entry before its chunk is judged again by the main
    process, which holds them.
    """

    estate: str
    policy: Policy | None
    keys: dict[str, KeyRecord]
    accounts: dict[str, AccountRecord]
    redactions: dict[str, int]
    earlier: dict[int, tuple[tuple[Posting, ...] | None, int | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, state: AuditState, reversed_seqs: Iterable[int] = ()) -> Snapshot:
        """The fold ``state`` with what it says of each entry of ``reversed_seqs`` it holds."""
        earlier = {
            t: (state.transaction_postings(t), state.reversed_by(t))
            for t in reversed_seqs
            if 0 <= t < state.size
        }
        return cls(
            state.estate,
            state.policy_or_none(),
            dict(state.keys),
            dict(state.accounts),
            dict(state.redactions),
            earlier,
        )

    def state_at(self, size: int) -> AuditState:
        """A fold for a worker's chunk starting at ``size`` (the snapshot's content)."""
        state = AuditState(self.estate, size)
        reversals = {t: by for t, (_, by) in self.earlier.items() if by is not None}
        state.restore(self.policy, self.keys, self.accounts, reversals, self.redactions)
        state.earlier_postings = {t: postings for t, (postings, _) in self.earlier.items()}
        return state


class RecordingView:
    """A :class:`~ledger.validate.LedgerView` over a worker's fold that records every read.

    ``redaction``: the entry judged is a redaction. Any other entry's verdict uses only
    whether a voucher was redacted (not whether it was referenced, which a snapshot
    does not know), so that is what is recorded for it (``voucher_redaction``).
    """

    def __init__(self, state: AuditState, *, redaction: bool = True) -> None:
        self.state = state
        self.reads: list[Read] = []
        self.redaction = redaction

    @property
    def estate(self) -> str:
        return self.state.estate

    @property
    def size(self) -> int:
        return self.state.size

    def _note(self, question: str, argument: object, answer: T) -> T:
        self.reads.append((question, argument, answer))
        return answer

    def policy(self) -> Policy:
        answer = self._note("policy", None, self.state.policy_or_none())
        if answer is None:
            raise LogStateError("the log has no genesis yet")
        return answer

    def key(self, key_id: str) -> KeyRecord | None:
        return self._note("key", key_id, self.state.key(key_id))

    def account(self, name: str) -> AccountRecord | None:
        return self._note("account", name, self.state.account(name))

    def transaction_postings(self, seq: int) -> tuple[Posting, ...] | None:
        return self._note("transaction_postings", seq, self.state.transaction_postings(seq))

    def reversed_by(self, seq: int) -> int | None:
        return self._note("reversed_by", seq, self.state.reversed_by(seq))

    def voucher_state(self, sha256: str) -> tuple[bool, int | None]:
        answer = self.state.voucher_state(sha256)
        if not self.redaction:
            self._note("voucher_redaction", sha256, answer[1])
            return answer
        return self._note("voucher_state", sha256, answer)


def agrees(state: AuditState, reads: Iterable[Read]) -> bool:
    """Whether the true fold gives every recorded answer (then the verdict stands)."""
    for question, argument, answer in reads:
        if question == "policy":
            now: Any = state.policy_or_none()
        elif question == "voucher_redaction":
            now = state.voucher_state(argument)[1]
        else:
            now = getattr(state, question)(argument)
        if now != answer:
            return False
    return True


UNKNOWN_TO_SNAPSHOTS = ("transaction_postings", "reversed_by")
"""Questions a snapshot cannot answer about entries before its chunk (it leaves out the
postings of past transactions and the reversals made: they grow with the log)."""


class ChunkReads:
    """The answers a chunk's verdicts took from the snapshot, each question once.

    Fed each entry's reads and then its effects, in order: a question about
    something an entry of the chunk changed is answered by the chunk itself from
    then on and is not recorded. ``unknown`` is set when a verdict rests on an
    answer the snapshot could not know (:data:`UNKNOWN_TO_SNAPSHOTS` about an entry
    before ``start`` that is not among the ``known`` ones, :attr:`Snapshot.earlier`).
    """

    def __init__(self, start: int, known: Iterable[int] = ()) -> None:
        self.start = start
        self.known = frozenset(known)  # earlier entries the snapshot does answer for
        self.answers: dict[tuple[str, Any], Any] = {}
        self.changed: set[tuple[str, Any]] = set()
        self.unknown = False

    def add(self, reads: Iterable[Read], effects: Effects) -> None:
        answers, changed = self.answers, self.changed
        for question, argument, answer in reads:
            asked = (question, argument)
            if asked in changed or asked in answers:
                continue
            answers[asked] = answer
            if question in UNKNOWN_TO_SNAPSHOTS and argument < self.start:
                self.unknown = self.unknown or argument not in self.known
        if effects.kind == "transaction":
            changed.add(("transaction_postings", effects.seq))
        changed.update(("key", k.key_id) for k in effects.keys_added)
        if effects.key_revoked is not None:
            changed.add(("key", effects.key_revoked))
        if effects.account_opened is not None:
            changed.add(("account", effects.account_opened.name))
        if effects.account_closed is not None:
            changed.add(("account", effects.account_closed))
        if effects.reverses is not None:
            changed.add(("reversed_by", effects.reverses))
        if effects.policy is not None:
            changed.add(("policy", None))
        vouchers = [*effects.vouchers, *(() if effects.redacts is None else effects.redacts[:1])]
        for sha256 in vouchers:
            changed.add(("voucher_state", sha256))
            changed.add(("voucher_redaction", sha256))

    def reads(self) -> tuple[Read, ...]:
        return tuple((q, a, answer) for (q, a), answer in self.answers.items())
