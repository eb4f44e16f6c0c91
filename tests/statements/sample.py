"""A realistic signed statement of the demo estate, built by hand (docs/statements.md v1).

Stands in for :mod:`statements.figures` in PDF tests and the render benchmark: the
lines are generated like the demo's books (fee receipts of households, common-part
income, co-signed payments with vouchers, a maintenance-fund repair, a duplicate
cleaning invoice and its reversal), and every figure — account balances, income and
spending by category, budget, fund, fee collection — is computed from those lines,
so the sample is self-consistent (``closing = opening + debits - credits``; postings
sum to zero). Deterministic for a given ``seed`` (the signing key is fixed too).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from collections import defaultdict
from typing import Any

from api.demo_data import (
    BANK,
    BUDGET_EXTRA,
    CHART,
    DEMO_ADDRESS,
    DEMO_ESTATE,
    DEMO_NAME,
    FEES,
    FUND,
    INCOME,
    MONTHLY,
    PREPAID,
    REPAIRS,
    add_months,
    on_day,
)
from ledger.canonical import canonical_json
from ledger.note import Signer

ORIGIN = f"trustledger.example/estates/{DEMO_ESTATE}"
LOG_KEY_SEED = bytes(range(32))
YEAR = 2026
CATEGORY = {name: zh for name, _, zh in CHART}
TYPES = {name: type_ for name, type_, _ in CHART}
CREDIT_NORMAL = ("income", "liability", "equity")
PRIOR_MONTH_FEES = 9_850_000  # fen of fee income in an ordinary month (for openings)


def sample_root() -> str:
    """A 32-byte root whose standard base64 has '+', '/' and '=' (to test base64url)."""
    n = 0
    while True:
        text = base64.b64encode(hashlib.sha256(b"sample root %d" % n).digest()).decode()
        if "+" in text and "/" in text:
            return text
        n += 1


def _period(months: int) -> dict[str, str]:
    if months == 1:
        return {"id": f"{YEAR}-10", "start": f"{YEAR}-10-01", "end": f"{YEAR}-10-31"}
    if months == 3:
        return {"id": f"{YEAR}-Q4", "start": f"{YEAR}-10-01", "end": f"{YEAR}-12-31"}
    if months == 12:
        return {"id": f"{YEAR}", "start": f"{YEAR}-01-01", "end": f"{YEAR}-12-31"}
    raise ValueError("months is 1, 3 or 12")


def _months(months: int) -> list[int]:
    """The months of the period: October, the fourth quarter, or the whole year."""
    return {1: [10], 3: [10, 11, 12], 12: list(range(1, 13))}[months]


def _voucher(*parts: object) -> list[str]:
    return [hashlib.sha256(repr(parts).encode()).hexdigest()[:12]]


class _Lines:
    """Lines of one period in posting order; seqs count up from ``first_seq``."""

    def __init__(self, first_seq: int) -> None:
        self.seq = first_seq
        self.lines: list[dict[str, Any]] = []

    def add(
        self,
        day: dt.date,
        debit: str,
        credit: str,
        fen: int,
        party: str,
        category: str,
        memo: str,
        **extra: Any,
    ) -> dict[str, Any]:
        postings = [{"account": debit, "amount": fen}, {"account": credit, "amount": -fen}]
        line = {
            "seq": self.seq,
            "date": day.isoformat(),
            "kind": "transaction",
            "category": category,
            "counterparty": party,
            "memo": memo,
            "amount": fen,
            "trust": (fen if debit == BANK else 0) - (fen if credit == BANK else 0),
            "postings": postings,
            "vouchers": extra.pop("vouchers", []),
            "reverses": None,
            "reversed_by": None,
            "household": extra.pop("household", False),
        }
        self.seq += 1
        self.lines.append(line)
        return line

    def reverse(self, target: dict[str, Any], day: dt.date, memo: str) -> None:
        line = {
            **target,
            "seq": self.seq,
            "date": day.isoformat(),
            "kind": "reversal",
            "memo": memo,
            "trust": -target["trust"],
            "postings": [{**p, "amount": -p["amount"]} for p in target["postings"]],
            "vouchers": [],
            "reverses": target["seq"],
            "reversed_by": None,
            "household": False,
        }
        target["reversed_by"] = self.seq
        self.seq += 1
        self.lines.append(line)


def _receipts(out: _Lines, rng: random.Random, month: dt.date, count: int) -> None:
    for i in range(count):
        fee = rng.randint(8000, 14000) * 210 // 100
        prepay = i % 37 == 5
        months = 12 if prepay else rng.choice((1, 1, 1, 1, 1, 1, 2, 3))
        day = on_day(month, rng.randint(1, 28))
        credit, category = (PREPAID, "预收物业费") if prepay else (FEES, "物业费")
        if prepay:
            memo = f"预交{months}个月物业费（{month.year}年{month.month}月起）"
        elif months == 1:
            memo = f"{month.year}年{month.month}月物业费"
        else:
            first = add_months(month, 1 - months)
            memo = f"{first.year}年{first.month}月至{month.year}年{month.month}月物业费（补缴）"
        out.add(day, BANK, credit, fee * months, "业主", category, memo, household=True)


def _income(out: _Lines, rng: random.Random, month: dt.date) -> None:
    q = (month.month - 1) // 3 + 1
    for account, payer, day, (lo, hi), unit, memo, months, bank in INCOME:
        if month.month in months:
            fen = rng.randint(lo // unit, hi // unit) * unit
            text = memo.format(y=month.year, m=month.month, q=q)
            out.add(on_day(month, day), bank, account, fen, payer, CATEGORY[account], text)


def _spending(out: _Lines, rng: random.Random, month: dt.date, repairs: int) -> dict[str, Any]:
    first: dict[str, Any] = {}
    for account, category, party, day, base, extra, _, memo in MONTHLY:
        fen = base + (rng.randint(0, extra) if extra else 0)
        line = out.add(
            on_day(month, day),
            account,
            BANK,
            fen,
            party[0],
            category,
            f"{month.month}月{memo}",
            vouchers=_voucher(month, category),
        )
        first = first or line
    for n in range(repairs):
        memo, _, lo, hi = rng.choice(REPAIRS)
        fen = rng.randint(lo, hi) // 100 * 100
        day = on_day(month, rng.randint(3, 26))
        party = "常州匠心房屋维修有限公司"
        out.add(day, "Expenses:Repairs", BANK, fen, party, "维修", memo, vouchers=_voucher(n, day))
    return first


def _specials(out: _Lines, month: dt.date, cleaning: dict[str, Any]) -> None:
    """The fund repair (art. 281) and a duplicate cleaning invoice with its reversal."""
    out.add(
        on_day(month, 18),
        "Expenses:MaintenanceFund",
        FUND,
        18_640_000,
        "常州固安防水工程有限公司",
        "专项维修资金",
        "5号楼屋面防水维修（经业主大会表决同意使用专项维修资金）",
        vouchers=_voucher("roof"),
    )
    dup = out.add(
        dt.date.fromisoformat(cleaning["date"]),
        "Expenses:Cleaning",
        BANK,
        cleaning["amount"],
        cleaning["counterparty"],
        cleaning["category"],
        cleaning["memo"],
        vouchers=cleaning["vouchers"],
    )
    day = dt.date.fromisoformat(cleaning["date"]) + dt.timedelta(days=3)
    out.reverse(dup, day, f"{month.month}月保洁服务费发票重复入账，予以冲销")


def make_lines(
    months: int, receipts_per_month: int, repairs_per_month: int, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    first_month = _months(months)[0]
    out = _Lines(first_seq=40 + (first_month - 1) * 420)
    for m in _months(months):
        month = dt.date(YEAR, m, 1)
        _receipts(out, rng, month, receipts_per_month)
        _income(out, rng, month)
        cleaning = _spending(out, rng, month, repairs_per_month)
        prepaid = sum(x["amount"] // 12 for x in out.lines if x["category"] == "预收物业费")
        if prepaid:
            party, memo = "业主（预交物业费）", f"结转{m}月已预交物业费"
            out.add(on_day(month, 31), PREPAID, FEES, prepaid, party, "预收物业费结转", memo)
        if m == first_month:
            _specials(out, month, cleaning)
    return sorted(out.lines, key=lambda x: (x["date"], x["seq"]))


# -- figures from the lines ----------------------------------------------------------------------


def _openings(months: int) -> dict[str, int]:
    prior = _months(months)[0] - 1  # months of the year before the period
    opening = {name: 0 for name in TYPES}
    opening[BANK] = 35_682_045 + prior * 1_234_567
    opening[FUND] = 238_650_000 + prior * 60_000
    opening[PREPAID] = -2_150_400
    opening[FEES] = -PRIOR_MONTH_FEES * prior
    opening["Income:Public:Parking"] = -1_400_000 * prior
    opening["Expenses:Cleaning"] = 1_560_000 * prior
    opening["Expenses:TrusteeRemuneration"] = 1_100_000 * prior
    opening["Equity:Opening"] = -sum(opening.values())
    return opening


def _accounts(lines: list[dict[str, Any]], months: int) -> list[dict[str, Any]]:
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for line in lines:
        for p in line["postings"]:
            if p["amount"] > 0:
                debits[p["account"]] += p["amount"]
            else:
                credits[p["account"]] -= p["amount"]
    opening = _openings(months)
    out = []
    for name, type_, display in sorted(CHART):
        o, d, c = opening[name], debits[name], credits[name]
        row = {"account": name, "type": type_, "name": display, "opening": o}
        out.append({**row, "debits": d, "credits": c, "closing": o + d - c})
    return out


def _group(account: str) -> str:
    for prefix, group in (("Income:PropertyFee", "fees"), ("Income:Public:", "public")):
        if account.startswith(prefix):
            return group
    return "interest" if account.startswith("Income:Interest") else "other"


def _ordered(amounts: dict[str, int]) -> list[dict[str, Any]]:
    pairs = sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"category": k, "amount": v} for k, v in pairs]


def _income_spending(lines: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], int]:
    income: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spending: dict[str, int] = defaultdict(int)
    remuneration = 0
    for line in lines:
        for p in line["postings"]:
            account, fen = p["account"], p["amount"]
            if account.startswith("Income:"):
                income[_group(account)][line["category"]] -= fen
            elif account.startswith("Expenses:"):
                spending[line["category"]] += fen
                if account.startswith("Expenses:TrusteeRemuneration"):
                    remuneration += fen
    groups = [
        {"group": g, "amount": sum(income[g].values()), "categories": _ordered(income[g])}
        for g in ("fees", "public", "interest", "other")
        if g in income
    ]
    total = sum(g["amount"] for g in groups)
    spent = {"total": sum(spending.values()), "categories": _ordered(spending)}
    return {"total": total, "groups": groups}, spent, remuneration


def _budget(accounts: list[dict[str, Any]], months: int) -> dict[str, Any]:
    annual = dict(BUDGET_EXTRA)
    annual[FEES] = PRIOR_MONTH_FEES * 12
    for account, _, _, _, base, extra, _, _ in MONTHLY:
        annual[account] = annual.get(account, 0) + (base + extra // 2) * 12
    rows = []
    for a in accounts:
        if a["account"] not in annual:
            continue
        amount = annual[a["account"]]
        budget = (2 * amount * months + 12) // 24  # round half up
        net = a["debits"] - a["credits"]
        actual = -net if a["type"] in CREDIT_NORMAL else net
        row = {"account": a["account"], "name": a["name"], "type": a["type"], "annual": amount}
        rows.append({**row, "budget": budget, "actual": actual, "variance": actual - budget})
    return {"year": YEAR, "seq": 27, "months": months, "lines": rows}


def _fund(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    fund = [a for a in accounts if "MaintenanceFund" in a["account"] and a["type"] == "asset"]
    return {
        "accounts": [a["account"] for a in fund],
        "opening": sum(a["opening"] for a in fund),
        "inflow": sum(a["debits"] for a in fund),
        "outflow": sum(a["credits"] for a in fund),
        "closing": sum(a["closing"] for a in fund),
    }


def _fee_collection(lines: list[dict[str, Any]], months: int, households: int) -> dict[str, Any]:
    paid: dict[str, int] = defaultdict(int)
    for line in lines:
        if line["household"] and line["reversed_by"] is None:
            paid[line["date"][:7]] += 1  # every sample receipt is another household
    per_month = [
        {"month": f"{YEAR}-{m:02d}", "households_paid": paid[f"{YEAR}-{m:02d}"]}
        for m in _months(months)
    ]
    total = sum(m["households_paid"] for m in per_month)
    due = households * months
    tenths = (2 * total * 1000 + due) // (2 * due)
    rate = f"{tenths // 10}.{tenths % 10}"
    return {
        "households_due": households,
        "months": per_month,
        "households_paid": total,
        "rate": rate,
    }


def sample_statement(
    *,
    months: int = 1,
    receipts_per_month: int = 130,
    repairs_per_month: int = 2,
    households: int = 142,
    seed: int = 7,
) -> dict[str, Any]:
    """The statement object of the demo estate for October 2026 (or Q4, or the year).

    ``households`` is the estate's size (the default fits ~130 receipts a month, a
    collection rate of about 92 %).
    """
    lines = make_lines(months, receipts_per_month, repairs_per_month, seed)
    accounts = _accounts(lines, months)
    income, spending, remuneration = _income_spending(lines)
    estate = {
        "id": DEMO_ESTATE,
        "name": DEMO_NAME,
        "address": DEMO_ADDRESS,
        "households": households,
    }
    return {
        "version": 1,
        "estate": estate,
        "period": _period(months),
        "currency": "CNY",
        "checkpoint": {"size": max(x["seq"] for x in lines) + 3, "root": sample_root()},
        "origin": ORIGIN,
        "issued_at": "2026-11-02T01:30:00.000Z" if months < 12 else "2027-01-03T01:30:00.000Z",
        "supersedes": None,
        "number": 1,
        "accounts": accounts,
        "income": income,
        "spending": spending,
        "trustee_remuneration": remuneration,
        "maintenance_fund": _fund(accounts),
        "lines": lines,
        "budget": _budget(accounts, months),
        "fee_collection": _fee_collection(lines, months, households),
    }


def sign_statement(statement: dict[str, Any]) -> dict[str, Any]:
    """``{"statement", "signature"}`` signed by the sample log key (DESIGN.md, Statements)."""
    signer = Signer.from_seed(statement["origin"], LOG_KEY_SEED)
    sig = signer.sign(b"trustledger/statement/v1\n" + canonical_json(statement))
    return {
        "statement": statement,
        "signature": {"vkey": signer.vkey, "sig": base64.b64encode(sig).decode()},
    }


def sample_signed(**kwargs: Any) -> dict[str, Any]:
    return sign_statement(sample_statement(**kwargs))


def year_sample() -> dict[str, Any]:
    """A 12-month statement the size of the demo's: ~5,200 lines, ~4,700 fee receipts."""
    return sample_signed(
        months=12, receipts_per_month=392, repairs_per_month=28, households=480, seed=12
    )
