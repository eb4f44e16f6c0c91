"""What the printed statement shows, computed from the statement object (docs/statements.md).

Pure functions from the signed statement's ``statement`` object to display rows of
strings: amounts in 元 with thousands separators (exact integer arithmetic on fen),
balances of credit-normal accounts flipped to read positive, the period in words,
and the transaction list arranged for paper — household fee receipts summed per
day, a reversal right after the line it reverses. No I/O, no HTML: the template
(:mod:`statements.pdf`) only lays these out. Relies on the documented fields only;
a line's ``household`` flag counts as false when absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import InvalidInput
from statements.labels import MONTHS_EN

Fen = int
TRUST_ACCOUNT = "Assets:Bank:CoManaged"
CREDIT_NORMAL = frozenset({"income", "liability", "equity"})
INCOME_GROUPS = ("fees", "public", "interest", "other")
_PERIOD = re.compile(r"(\d{4})(?:-(\d{2})|-Q([1-4]))?")


def format_fen(fen: Fen, *, plus: bool = False) -> str:
    """``123456789`` → ``1,234,567.89``; negative with ``-``, positive with ``+`` if asked."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise InvalidInput(f"amount must be integer fen, not {fen!r}", field="amount")
    sign = "-" if fen < 0 else "+" if plus and fen > 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def period_label(period_id: str, labels: Mapping[str, str]) -> str:
    """``2026-10`` → 2026年10月, ``2026-Q4`` → 2026年第4季度, ``2026`` → 2026年度."""
    m = _PERIOD.fullmatch(period_id)
    if not m:
        return period_id
    year, month, quarter = m.groups()
    if month:
        name = MONTHS_EN[int(month) - 1] if 1 <= int(month) <= 12 else month
        return labels["period_month"].format(year=year, month=int(month), month_name=name)
    if quarter:
        return labels["period_quarter"].format(year=year, quarter=quarter)
    return labels["period_year"].format(year=year)


def display_balance(fen: Fen, account_type: str) -> str:
    """A balance as people read it: credit-normal accounts (income, liability, equity) flipped."""
    return format_fen(-fen if account_type in CREDIT_NORMAL else fen)


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    account: str
    name: str
    opening: str
    debits: str
    credits: str
    closing: str


@dataclass(frozen=True)
class AmountRow:
    """A category (``level`` 1) or a group heading with its subtotal (``level`` 0)."""

    label: str
    amount: str
    level: int = 1
    note: str = ""


@dataclass(frozen=True)
class BudgetRow:
    name: str
    account: str
    annual: str
    budget: str
    actual: str
    variance: str
    unfavourable: bool


@dataclass(frozen=True)
class LineRow:
    """One printed line of the transaction list.

    ``kind`` is ``transaction``, ``reversal`` or ``receipts`` (a day's household fee
    receipts summed); ``reversed`` marks a line a reversal cancels.
    """

    kind: str
    date: str
    seq: str
    category: str
    counterparty: str
    memo: str
    amount: str
    trust: str
    vouchers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    reversed: bool = False


@dataclass
class _DayReceipts:
    date: str
    seqs: list[int] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    amount: Fen = 0
    trust: Fen = 0

    def add(self, line: Mapping[str, Any]) -> None:
        self.seqs.append(line["seq"])
        if line["category"] not in self.categories:
            self.categories.append(line["category"])
        self.amount += line["amount"]
        self.trust += line["trust"]

    def row(self, labels: Mapping[str, str], short_date: bool) -> LineRow:
        lo, hi = min(self.seqs), max(self.seqs)
        return LineRow(
            kind="receipts",
            date=_date(self.date, short_date),
            seq=f"#{lo}" if lo == hi else f"#{lo}–#{hi}",
            category="、".join(self.categories),
            counterparty=labels["receipts_day"].format(count=len(self.seqs)),
            memo="",
            amount=format_fen(self.amount),
            trust=format_fen(self.trust, plus=True),
        )


def is_household_receipt(line: Mapping[str, Any]) -> bool:
    """A fee receipt printed in its day's sum: a household line nobody reversed."""
    return (
        line.get("household") is True
        and line["kind"] == "transaction"
        and line.get("reversed_by") is None
    )


def _date(iso: str, short: bool) -> str:
    return iso[5:] if short else iso


def _line_row(line: Mapping[str, Any], labels: Mapping[str, str], short_date: bool) -> LineRow:
    notes = []
    if line.get("reverses") is not None:
        notes.append(labels["reverses"].format(seq=line["reverses"]))
    if line.get("reversed_by") is not None:
        notes.append(labels["reversed_by"].format(seq=line["reversed_by"]))
    return LineRow(
        kind="reversal" if line["kind"] == "reversal" else "transaction",
        date=_date(line["date"], short_date),
        seq=f"#{line['seq']}",
        category=line["category"],
        counterparty=line["counterparty"],
        memo=line["memo"],
        amount=format_fen(line["amount"]),
        trust=format_fen(line["trust"], plus=True) if line["trust"] else "",
        vouchers=tuple(line.get("vouchers") or ()),
        notes=tuple(notes),
        reversed=line.get("reversed_by") is not None,
    )


def arrange_lines(
    lines: Sequence[Mapping[str, Any]], labels: Mapping[str, str], *, short_date: bool = False
) -> list[LineRow]:
    """The transaction list for paper, in date then seq order.

    Household fee receipts become one row per day, placed where that day's first
    receipt was; every other line is printed alone. A reversal whose target is in
    the period follows its target directly (a reversed receipt is printed alone
    so that its reversal can follow it).
    """
    ordered = sorted(lines, key=lambda x: (x["date"], x["seq"]))
    alone = {x["seq"] for x in ordered if not is_household_receipt(x)}
    follows: dict[int, list[Mapping[str, Any]]] = {}
    for x in ordered:
        if x.get("reverses") in alone:
            follows.setdefault(x["reverses"], []).append(x)
    moved = {x["seq"] for group in follows.values() for x in group}
    out: list[LineRow | _DayReceipts] = []
    days: dict[str, _DayReceipts] = {}
    for x in ordered:
        if x["seq"] in moved:
            continue
        if is_household_receipt(x):
            if x["date"] not in days:
                days[x["date"]] = _DayReceipts(x["date"])
                out.append(days[x["date"]])
            days[x["date"]].add(x)
            continue
        out.append(_line_row(x, labels, short_date))
        out.extend(_line_row(r, labels, short_date) for r in follows.get(x["seq"], ()))
    return [r.row(labels, short_date) if isinstance(r, _DayReceipts) else r for r in out]


def account_rows(accounts: Sequence[Mapping[str, Any]]) -> list[AccountRow]:
    return [
        AccountRow(
            account=a["account"],
            name=a["name"],
            opening=display_balance(a["opening"], a["type"]),
            debits=format_fen(a["debits"]),
            credits=format_fen(a["credits"]),
            closing=display_balance(a["closing"], a["type"]),
        )
        for a in accounts
    ]


def income_rows(income: Mapping[str, Any], labels: Mapping[str, str]) -> list[AmountRow]:
    """Each group's subtotal, then its categories; common-part revenue carries its note."""
    rows = []
    for g in income["groups"]:
        name = g["group"] if g["group"] in INCOME_GROUPS else "other"
        note = labels["public_note"] if name == "public" else ""
        rows.append(AmountRow(labels[f"group_{name}"], format_fen(g["amount"]), 0, note))
        rows.extend(AmountRow(c["category"], format_fen(c["amount"])) for c in g["categories"])
    return rows


def spending_rows(spending: Mapping[str, Any]) -> list[AmountRow]:
    return [AmountRow(c["category"], format_fen(c["amount"])) for c in spending["categories"]]


def budget_rows(budget: Mapping[str, Any] | None) -> list[BudgetRow]:
    """Budget lines; a shortfall of income or an overrun of spending is unfavourable."""
    if budget is None:
        return []
    rows = []
    for b in budget["lines"]:
        kind, variance = b["type"], b["variance"]
        bad = (kind == "income" and variance < 0) or (kind == "expense" and variance > 0)
        rows.append(
            BudgetRow(
                name=b["name"],
                account=b["account"],
                annual=format_fen(b["annual"]),
                budget=format_fen(b["budget"]),
                actual=format_fen(b["actual"]),
                variance=format_fen(b["variance"], plus=True),
                unfavourable=bad,
            )
        )
    return rows
