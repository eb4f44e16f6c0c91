"""A second, deliberately plain implementation of statement figures (docs/statements.md v1).

Written from the spec alone, without looking at :mod:`ledger.statement`, so that
tests comparing the two catch a misreading in either. It works on the stored entry
objects as plain JSON dicts (``{"seq", "prev", "recorded_at", "payload",
"signatures"}``) and recomputes every figure from scratch with a few list
comprehensions: slow and obvious on purpose. Money is integer fen; the two
roundings use :class:`decimal.Decimal` with ``ROUND_HALF_UP``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TRUST = "Assets:Bank:CoManaged"
REMUNERATION = "Expenses:TrusteeRemuneration"
CREDIT_NORMAL = ("income", "liability", "equity")


# -- periods ---------------------------------------------------------------------------


def period_months(period: str) -> list[str]:
    """The months (``YYYY-MM``) a period covers: ``2026-10``, ``2026-Q4`` or ``2026``."""
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return [period]
    if re.fullmatch(r"\d{4}-Q[1-4]", period):
        year, q = period[:4], int(period[-1])
        return [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
    if re.fullmatch(r"\d{4}", period):
        return [f"{period}-{m:02d}" for m in range(1, 13)]
    raise ValueError(f"not a period: {period!r}")


def period_bounds(period: str) -> tuple[str, str]:
    months = period_months(period)
    first, last = months[0], months[-1]
    days = calendar.monthrange(int(last[:4]), int(last[5:]))[1]
    return f"{first}-01", f"{last}-{days:02d}"


def day_before(iso: str) -> str:
    return (dt.date.fromisoformat(iso) - dt.timedelta(days=1)).isoformat()


# -- the log as plain data -------------------------------------------------------------


def kind_of(entry: dict[str, Any]) -> str:
    return str(entry["payload"]["kind"])


def date_of(entry: dict[str, Any]) -> str:
    return str(entry["payload"]["date"])


def body_of(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(entry["payload"]["body"])


def effective_postings(entries: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict]:
    """A transaction's postings; a reversal's are its target's, negated."""
    if kind_of(entry) == "transaction":
        return [
            {"account": p["account"], "amount": p["amount"]} for p in body_of(entry)["postings"]
        ]
    target = entries[body_of(entry)["target"]]  # entries[i] is entry i
    return [{"account": p["account"], "amount": -p["amount"]} for p in body_of(target)["postings"]]


def own_transaction(entries: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    """The transaction whose category and counterparty a line carries."""
    if kind_of(entry) == "transaction":
        return entry
    return entries[body_of(entry)["target"]]


def money_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if kind_of(e) in ("transaction", "reversal")]


def flat_postings(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every posting of every transaction and reversal with its date and category."""
    return [
        {
            "date": date_of(e),
            "account": p["account"],
            "amount": p["amount"],
            "category": body_of(own_transaction(entries, e))["category"],
        }
        for e in money_entries(entries)
        for p in effective_postings(entries, e)
    ]


def in_period(date: str, start: str, end: str) -> bool:
    return start <= date <= end


# -- the statement ---------------------------------------------------------------------


def reference_statement(
    entries: list[dict[str, Any]],
    period: str,
    *,
    estate: str,
    origin: str,
    size: int,
    root_b64: str,
    issued_at: str,
    number: int = 1,
    supersedes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entries = [e for e in entries if e["seq"] < size]
    assert [e["seq"] for e in entries] == list(range(size)), "entries 0 … size-1 in order"
    start, end = period_bounds(period)
    months = period_months(period)
    genesis = body_of(entries[0])
    assert kind_of(entries[0]) == "genesis" and entries[0]["payload"]["estate"] == estate

    postings = flat_postings(entries)
    period_postings = [p for p in postings if in_period(p["date"], start, end)]

    # accounts: every account opened on or before the period end, or posted to by then
    # (business dates are free: a posting may be dated before its account's opening)
    opened = [
        body_of(e)
        for e in entries
        if kind_of(e) == "account" and body_of(e)["action"] == "open" and date_of(e) <= end
    ]
    every_open: dict[str, dict[str, Any]] = {}
    for e in entries:  # the first opening entry names the account
        if kind_of(e) == "account" and body_of(e)["action"] == "open":
            every_open.setdefault(body_of(e)["name"], body_of(e))
    posted = {p["account"] for p in postings if p["date"] <= end}
    accounts = []
    for name in sorted({a["name"] for a in opened} | posted):
        opening = sum(p["amount"] for p in postings if p["account"] == name and p["date"] < start)
        closing = sum(p["amount"] for p in postings if p["account"] == name and p["date"] <= end)
        debits = sum(
            p["amount"] for p in period_postings if p["account"] == name and p["amount"] > 0
        )
        credits = -sum(
            p["amount"] for p in period_postings if p["account"] == name and p["amount"] < 0
        )
        assert closing == opening + debits - credits
        accounts.append(
            {
                "account": name,
                "type": every_open[name]["type"],
                "name": every_open[name]["display_name"],
                "opening": opening,
                "debits": debits,
                "credits": credits,
                "closing": closing,
            }
        )

    # income: net credits to income accounts, by group, then by transaction category
    def at_or_below(account: str, parent: str) -> bool:
        return account == parent or account.startswith(parent + ":")

    def group_of(account: str) -> str:
        # "Income:PropertyFee…" read as the account and the accounts below it, like
        # Expenses:TrusteeRemuneration; Income:Public itself is not common-part revenue
        if at_or_below(account, "Income:PropertyFee"):
            return "fees"
        if account.startswith("Income:Public:"):
            return "public"
        if at_or_below(account, "Income:Interest"):
            return "interest"
        return "other"

    income_postings = [p for p in period_postings if p["account"].startswith("Income:")]
    groups = []
    for group in ("fees", "public", "interest", "other"):
        mine = [p for p in income_postings if group_of(p["account"]) == group]
        if not mine:
            continue
        categories = [
            {"category": c, "amount": -sum(p["amount"] for p in mine if p["category"] == c)}
            for c in sorted({p["category"] for p in mine})
        ]
        categories.sort(key=lambda c: (-c["amount"], c["category"]))
        groups.append(
            {
                "group": group,
                "amount": -sum(p["amount"] for p in mine),
                "categories": categories,
            }
        )
    income = {"total": -sum(p["amount"] for p in income_postings), "groups": groups}

    # spending: net debits to expense accounts, by transaction category
    expense_postings = [p for p in period_postings if p["account"].startswith("Expenses:")]
    spending_categories = [
        {"category": c, "amount": sum(p["amount"] for p in expense_postings if p["category"] == c)}
        for c in sorted({p["category"] for p in expense_postings})
    ]
    spending_categories.sort(key=lambda c: (-c["amount"], c["category"]))
    spending = {
        "total": sum(p["amount"] for p in expense_postings),
        "categories": spending_categories,
    }

    trustee_remuneration = sum(
        p["amount"] for p in period_postings if at_or_below(p["account"], REMUNERATION)
    )

    # the special maintenance fund: asset accounts whose name contains MaintenanceFund
    fund_rows = [a for a in accounts if a["type"] == "asset" and "MaintenanceFund" in a["account"]]
    maintenance_fund = None
    if fund_rows:
        maintenance_fund = {
            "accounts": [a["account"] for a in fund_rows],
            "opening": sum(a["opening"] for a in fund_rows),
            "inflow": sum(a["debits"] for a in fund_rows),
            "outflow": sum(a["credits"] for a in fund_rows),
            "closing": sum(a["closing"] for a in fund_rows),
        }

    # lines: transactions and reversals dated in the period, by date then seq
    reversal_of = {body_of(e)["target"]: e["seq"] for e in entries if kind_of(e) == "reversal"}
    line_entries = sorted(
        [e for e in money_entries(entries) if in_period(date_of(e), start, end)],
        key=lambda e: (date_of(e), e["seq"]),
    )
    lines = []
    for e in line_entries:
        moved = effective_postings(entries, e)
        txn = body_of(own_transaction(entries, e))
        lines.append(
            {
                "seq": e["seq"],
                "date": date_of(e),
                "kind": kind_of(e),
                "category": txn["category"],
                "counterparty": txn["counterparty"],
                "memo": e["payload"].get("memo", ""),
                "amount": sum(p["amount"] for p in moved if p["amount"] > 0),
                "trust": sum(p["amount"] for p in moved if p["account"] == TRUST),
                "household": kind_of(e) == "transaction" and "household" in body_of(e),
                "postings": moved,
                "vouchers": [v["sha256"][:12] for v in e["payload"].get("vouchers", [])],
                "reverses": body_of(e)["target"] if kind_of(e) == "reversal" else None,
                "reversed_by": reversal_of.get(e["seq"]) if kind_of(e) == "transaction" else None,
            }
        )

    # budget: the latest budget entry (by seq) for the period's year
    year = int(start[:4])
    budgets = [e for e in entries if kind_of(e) == "budget" and body_of(e)["year"] == year]
    budget = None
    if budgets:
        latest = budgets[-1]
        budget_lines = []
        for line in body_of(latest)["lines"]:  # in the order the budget lists them
            account = every_open[line["account"]]
            net = sum(p["amount"] for p in period_postings if p["account"] == line["account"])
            actual = -net if account["type"] in CREDIT_NORMAL else net
            share = (Decimal(line["amount"]) * len(months) / 12).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
            budget_lines.append(
                {
                    "account": line["account"],
                    "name": account["display_name"],
                    "type": account["type"],
                    "annual": line["amount"],
                    "budget": int(share),
                    "actual": actual,
                    "variance": actual - int(share),
                }
            )
        budget = {
            "year": year,
            "seq": latest["seq"],
            "months": len(months),
            "lines": budget_lines,
        }

    # fee collection: distinct commitments on non-reversed fee receipts, month by month
    receipts = [
        e
        for e in entries
        if kind_of(e) == "transaction" and "household" in body_of(e) and e["seq"] not in reversal_of
    ]
    per_month = [
        {
            "month": m,
            "households_paid": len(
                {body_of(e)["household"] for e in receipts if date_of(e)[:7] == m}
            ),
        }
        for m in months
    ]
    due = genesis["households"]
    paid = sum(m["households_paid"] for m in per_month)
    rate = None
    if due:
        rate = str(
            (Decimal(paid) * 100 / (Decimal(due) * len(months))).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )
        )
    fee_collection = {
        "households_due": due,
        "months": per_month,
        "households_paid": paid,
        "rate": rate,
    }

    return {
        "version": 1,
        "estate": {
            "id": estate,
            "name": genesis["name"],
            "address": genesis["address"],
            "households": genesis["households"],
        },
        "period": {"id": period, "start": start, "end": end},
        "currency": "CNY",
        "checkpoint": {"size": size, "root": root_b64},
        "origin": origin,
        "issued_at": issued_at,
        "supersedes": supersedes,
        "number": number,
        "accounts": accounts,
        "income": income,
        "spending": spending,
        "trustee_remuneration": trustee_remuneration,
        "maintenance_fund": maintenance_fund,
        "lines": lines,
        "budget": budget,
        "fee_collection": fee_collection,
    }
