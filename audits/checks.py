"""Checks of one entry against its leaf, the entry before it and the rules of the log.

Each check is a function ``EntryCase -> Iterable[Finding]``; :data:`ENTRY_CHECKS`
(with the derived-data checks of :mod:`audits.checks_derived`) is the list the
audit runs on every entry, and a check never stops the others. The case carries
the verdict of :func:`audits.state.judge` (the library's own ``check_append``), so
these functions only turn what was found into findings a person can read.

What they do not: read anything. Trees, checkpoints and vouchers, which need state
across entries or a source, are in :mod:`audits.checks_tree` and
:mod:`audits.vouchers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audits.findings import Finding, error, warning
from audits.sources import DerivedRows
from audits.state import AuditState, Verdict
from ledger.canonical import b64encode
from ledger.payload import BudgetBody

if TYPE_CHECKING:  # audits.analyse imports the derived checks, which import this
    from audits.analyse import AnalysedLeaf

BUDGET_TYPES = ("income", "expense")
"""Account types a budget line may name."""


@dataclass(frozen=True)
class EntryCase:
    """One entry as the audit saw it, after folding it into ``state``.

    Attributes:
        estate: the estate's id.
        position: the leaf's index in the stream (its place in the Merkle tree).
        expected_seq: the seq the source should give this leaf (previous seq + 1).
        leaf: the leaf hash and parsed entry (or the parse error).
        prev_hash: leaf hash of the leaf before it as stored (None for the first).
        prev_recorded_at: ``recorded_at`` of the entry before it, if that parsed.
        verdict: the result of judging it (None when the leaf does not parse).
        state: the fold after this entry (read only here).
        rows: the source's derived rows for its batch (None: the source has none).
    """

    estate: str
    position: int
    expected_seq: int
    leaf: AnalysedLeaf
    prev_hash: bytes | None
    prev_recorded_at: str | None
    verdict: Verdict | None
    state: AuditState
    rows: DerivedRows | None

    @property
    def seq(self) -> int:
        return self.leaf.seq


EntryCheck = Callable[[EntryCase], Iterable[Finding]]


def b64(data: bytes | None) -> str | None:
    return None if data is None else b64encode(data)


def check_leaf(case: EntryCase) -> Iterator[Finding]:
    """The leaf is the RFC 8785 encoding of a well-formed entry."""
    if case.leaf.error is not None:
        yield error(
            case.estate,
            case.seq,
            "leaf",
            f"the stored leaf is not a well-formed entry: {case.leaf.error}",
            leaf_hash=b64(case.leaf.leaf_hash),
        )


def check_chain(case: EntryCase) -> Iterator[Finding]:
    """Seqs run without gaps, the leaf sits at its own seq, ``prev`` is the hash before it."""
    e, seq = case.estate, case.seq
    if seq != case.expected_seq:
        yield error(
            e,
            case.expected_seq,
            "chain",
            f"entry {case.expected_seq} is missing: the next stored entry is {seq}",
            expected_seq=case.expected_seq,
            found_seq=seq,
        )
    entry = case.leaf.entry
    if entry is None:
        return
    if entry.seq != seq:
        yield error(
            e, seq, "chain", f"entry {seq} holds the leaf of entry {entry.seq}", leaf_seq=entry.seq
        )
    if entry.prev != case.prev_hash:
        what = (
            "the first entry must have no prev"
            if case.prev_hash is None
            else (f"prev is not the leaf hash of entry {seq - 1}")
        )
        yield error(e, seq, "chain", what, expected=b64(case.prev_hash), found=b64(entry.prev))
    if case.prev_recorded_at is not None and entry.recorded_at < case.prev_recorded_at:
        yield error(
            e,
            seq,
            "chain",
            "recorded_at goes back in time",
            previous=case.prev_recorded_at,
            found=entry.recorded_at,
        )


def check_rules(case: EntryCase) -> Iterator[Finding]:
    """Signatures by keys valid at that seq, the policy, double entry, reversals, lifecycle."""
    if case.verdict is None or case.verdict.failure is None:
        return
    failure = case.verdict.failure
    evidence = {**failure.data, "code": failure.code, "field": failure.field}
    message = f"{case.verdict.effects.kind} entry would be refused: {failure.message}"
    yield error(case.estate, case.seq, failure.check, message, **evidence)


def check_budget(case: EntryCase) -> Iterator[Finding]:
    """A budget carries the assembly's minutes and budgets open income or expense accounts."""
    entry = case.leaf.entry
    if entry is None or not isinstance(entry.payload.body, BudgetBody):
        return
    body = entry.payload.body
    if not entry.payload.vouchers:
        yield warning(
            case.estate,
            case.seq,
            "budgets",
            f"the {body.year} budget carries no voucher of the owners' assembly minutes",
            year=body.year,
        )
    for line in body.lines:
        account = case.state.account(line.account)
        if account is None:
            continue  # check_append already refuses it (reported under "double-entry")
        if account.type not in BUDGET_TYPES or account.closed_seq is not None:
            state = "closed" if account.closed_seq is not None else f"of type {account.type}"
            yield warning(
                case.estate,
                case.seq,
                "budgets",
                f"the {body.year} budget names {line.account}, which is {state}",
                account=line.account,
                amount=line.amount,
            )


ENTRY_CHECKS: tuple[EntryCheck, ...] = (check_leaf, check_chain, check_rules, check_budget)
"""The checks every entry goes through (the derived-data ones are added by the runner)."""
