"""Bank reconciliation: the co-managed account's bank statement against the ledger.

The ledger side is re-derived from the leaves (the same fold as the audit, so a
reversal counts as the negated postings of its target), keeping every posting to
an ``Assets:Bank`` account (or the one account asked for). Matching pairs a bank
line with a ledger line of the same amount, on the same day first, then up to
:data:`WINDOW` days apart (banks book on value dates, authors on business dates),
nearest first. What is left over is reported line by line, and each day of the
statement's period where the money in and out differs, or where the bank's own
closing balance differs from the ledger's, is reported with the difference.

Only the statement's period (first to last bank line) is compared; ledger lines
outside it are ignored, but count towards the ledger's opening balance.
What it does not: read the bank file (:mod:`audits.bankcsv`) or render.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from audits.analyse import analyse_leaf
from audits.bankcsv import BankLine, describe
from audits.findings import Finding, error
from audits.sources import AuditSource
from audits.state import AuditState, judge
from ledger.payload import BANK_PREFIX, Payload, Posting, ReversalBody, TransactionBody

WINDOW = 3
"""Days a bank line may lie from its ledger line (value date against business date)."""


@dataclass(frozen=True)
class LedgerLine:
    seq: int
    date: dt.date
    account: str
    amount: int  # fen, debit positive: money into the account positive
    counterparty: str
    memo: str


@dataclass(frozen=True)
class Reconciliation:
    bank: tuple[BankLine, ...]
    ledger: tuple[LedgerLine, ...]  # within the statement's period
    matched: tuple[tuple[BankLine, LedgerLine], ...]
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return not self.findings


def ledger_lines(source: AuditSource, estate: str, account: str | None) -> list[LedgerLine]:
    """Every posting to the bank account(s), re-derived from the leaves in order.

    A transaction and the reversal that cancels it are left out: in the books they
    net to nothing, and a booking error corrected that way never reached the bank.
    """
    state, out = AuditState(estate), []
    for batch in source.leaf_batches(estate):
        for seq, leaf in batch:
            entry = analyse_leaf(seq, leaf).entry
            if entry is None:
                state.skip()
                continue
            effects = judge(state, entry).effects
            state.apply(effects)
            out += _lines(seq, entry.payload, effects.postings, account)
    cancelled = set(state.reversals) | set(state.reversals.values())
    return [x for x in out if x.seq not in cancelled]


def _lines(
    seq: int, p: Payload, postings: Sequence[Posting], account: str | None
) -> list[LedgerLine]:
    party = p.body.counterparty if isinstance(p.body, TransactionBody) else ""
    if isinstance(p.body, ReversalBody):
        party = f"冲销 #{p.body.target}"
    return [
        LedgerLine(seq, p.date, x.account, x.amount, party, p.memo)
        for x in postings
        if (x.account == account if account else x.account.startswith(BANK_PREFIX))
    ]


def _match(
    bank: Sequence[BankLine], ledger: Sequence[LedgerLine]
) -> list[tuple[BankLine, LedgerLine]]:
    """Same amount, same day first, then the nearest day within :data:`WINDOW`."""
    free: defaultdict[int, list[LedgerLine]] = defaultdict(list)
    for line in ledger:
        free[line.amount].append(line)
    pairs: list[tuple[BankLine, LedgerLine]] = []
    done: set[int] = set()
    for window in (0, WINDOW):
        for b in bank:
            if id(b) in done:
                continue
            near = [x for x in free[b.amount] if abs((x.date - b.date).days) <= window]
            if near:
                best = min(near, key=lambda x: (abs((x.date - b.date).days), x.seq))
                free[b.amount].remove(best)
                pairs.append((b, best))
                done.add(id(b))
    return pairs


def _days(
    estate: str, bank: Sequence[BankLine], ledger: Sequence[LedgerLine], used: set[int]
) -> Iterator[Finding]:
    """By day: how far apart bank and ledger are once the matched lines are set aside.

    A line booked on different days by the bank and the authors is a matched pair
    and differs only in timing; what remains is the unmatched lines, summed up to
    each day, reported for every day at whose end the two balances disagree.
    """
    moved: defaultdict[dt.date, int] = defaultdict(int)
    for b in bank:
        if id(b) not in used:
            moved[b.date] += b.amount
    for x in ledger:
        if id(x) not in used:
            moved[x.date] -= x.amount
    apart = 0
    for day in sorted(moved):
        apart += moved[day]
        if apart:
            more = "more" if apart > 0 else "less"
            yield error(
                estate,
                None,
                "bank-balance",
                f"at the end of {day} the bank holds {abs(apart)} fen {more} than the ledger",
                date=day.isoformat(),
                difference=apart,
            )


def _closing(
    estate: str, bank: Sequence[BankLine], ledger_all: Sequence[LedgerLine], first: dt.date
) -> Iterator[Finding]:
    """The bank's own running balance: its lines on top of the ledger's opening balance."""
    expected = sum(x.amount for x in ledger_all if x.date < first)
    wrong: list[tuple[BankLine, int]] = []
    for b in bank:
        expected += b.amount
        if b.balance is not None and b.balance != expected:
            wrong.append((b, expected))
    if wrong:
        b, want = wrong[0]
        yield error(
            estate,
            None,
            "bank-balance",
            f"bank line {b.line}: the bank's balance is {b.balance} fen, the ledger's opening "
            f"balance and the statement's lines give {want} fen"
            + (f" ({len(wrong) - 1} more lines differ)" if len(wrong) > 1 else ""),
            line=b.line,
            bank_balance=b.balance,
            expected=want,
            lines=len(wrong),
        )


def reconcile(
    source: AuditSource, estate: str, bank: Sequence[BankLine], account: str | None = None
) -> Reconciliation:
    """Match the statement against the ledger and name every difference."""
    if not bank:
        return Reconciliation((), (), (), ())
    first, last = min(b.date for b in bank), max(b.date for b in bank)
    everything = ledger_lines(source, estate, account)
    ledger = [x for x in everything if first <= x.date <= last]
    pairs = _match(bank, ledger)
    used_bank = {id(b) for b, _ in pairs}
    used_ledger = {id(x) for _, x in pairs}
    findings = [
        error(
            estate,
            None,
            "bank-unmatched",
            f"bank line {b.line} ({b.date}, {b.amount} fen, {b.counterparty}) is not in the ledger",
            **describe(b),
        )
        for b in bank
        if id(b) not in used_bank
    ]
    findings += [
        error(
            estate,
            x.seq,
            "ledger-unmatched",
            f"{x.date} {x.amount} fen to {x.account} ({x.counterparty}) is not on the statement",
            date=x.date.isoformat(),
            amount=x.amount,
            account=x.account,
            memo=x.memo,
        )
        for x in ledger
        if id(x) not in used_ledger
    ]
    used = used_bank | used_ledger
    findings += [*_days(estate, bank, ledger, used), *_closing(estate, bank, everything, first)]
    return Reconciliation(tuple(bank), tuple(ledger), tuple(pairs), tuple(findings))
