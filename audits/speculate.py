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

What it does not: trust the worker. A wrong snapshot can only cost a re-judging,
never change a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from audits.state import AuditState
from ledger.errors import LogStateError
from ledger.payload import Posting
from ledger.policy import Policy
from ledger.validate import AccountRecord, KeyRecord

T = TypeVar("T")
Read = tuple[str, Any, Any]
"""``(question, argument, answer)``, e.g. ``("key", "ab12…", KeyRecord(…))``."""


@dataclass(frozen=True)
class Snapshot:
    """The small part of a fold a worker needs: the policy, keys, accounts and redactions.

    Transactions' postings and the reversals made are left out (they grow with the
    log and would be copied into every chunk): a reversal of an entry before its
    chunk is judged again by the main process, which holds them.
    """

    estate: str
    policy: Policy | None
    keys: dict[str, KeyRecord]
    accounts: dict[str, AccountRecord]
    redactions: dict[str, int]

    @classmethod
    def of(cls, state: AuditState) -> Snapshot:
        return cls(
            state.estate,
            state.policy_or_none(),
            dict(state.keys),
            dict(state.accounts),
            dict(state.redactions),
        )

    def state_at(self, size: int) -> AuditState:
        """A fold for a worker's chunk starting at ``size`` (the snapshot's content)."""
        state = AuditState(self.estate, size)
        state.restore(self.policy, self.keys, self.accounts, {}, self.redactions)
        return state


class RecordingView:
    """A :class:`~ledger.validate.LedgerView` over a worker's fold that records every read."""

    def __init__(self, state: AuditState) -> None:
        self.state = state
        self.reads: list[Read] = []

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
        return self._note("voucher_state", sha256, self.state.voucher_state(sha256))


def agrees(state: AuditState, reads: Iterable[Read]) -> bool:
    """Whether the true fold gives every recorded answer (then the verdict stands)."""
    for question, argument, answer in reads:
        if question == "policy":
            now: Any = state.policy_or_none()
        else:
            now = getattr(state, question)(argument)
        if now != answer:
            return False
    return True
