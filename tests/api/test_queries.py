"""The query API (tag "queries") on both engines, checked against the leaves.

Expected figures are recomputed here from the entries the public API serves (the
leaves), never from the derived tables the queries read: postings of transactions,
the negated postings of reversals, in seq order.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api import routes_query
from api.app import create_app, loggable_path
from api.csv_export import HEADER, format_yuan, text_cell
from api.settings import Settings
from ledger.canonical import b64encode
from ledger.checkpoint import verify_checkpoint
from ledger.household import format_receipt_code, make_commitment
from ledger.merkle import hash_leaf, verify_inclusion
from ledger.signing import AuthorKey
from ledger.storage.appender import SignedPayload
from ledger.storage.service import LedgerService
from tests.factories import BANK, EstateFactory

PROBLEM = "application/problem+json"
SALT = bytes(range(16))
UNIT = "3-2-501"
PDF = b"%PDF-1.7\n% parking invoice\n%%EOF\n"
INJECTION_COUNTERPARTY = "=cmd|' /C calc'!A0"
INJECTION_MEMO = "@SUM(1+1)"


# -- the books ----------------------------------------------------------------------------------


@dataclass
class Books:
    client: TestClient
    f: EstateFactory
    seqs: dict[str, int]

    @property
    def base(self) -> str:
        return f"/v1/estates/{self.f.id}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(self.base + path, params=params)

    def ok(self, path: str, **params: Any) -> Any:
        r = self.get(path, **params)
        assert r.status_code == 200, r.text
        return r.json()


def tx(
    f: EstateFactory,
    postings: list[tuple[str, int]],
    *,
    category: str,
    counterparty: str,
    date: str,
    memo: str = "",
    household: str | None = None,
    vouchers: tuple[dict[str, Any], ...] = (),
) -> SignedPayload:
    body: dict[str, Any] = {
        "postings": [{"account": a, "amount": n} for a, n in postings],
        "counterparty": counterparty,
        "category": category,
    }
    if household is not None:
        body["household"] = household
    keys: tuple[AuthorKey, ...] = (f.trustee, f.committee)
    return f.signed("transaction", body, *keys, date=day(date), memo=memo, vouchers=list(vouchers))


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def budget(f: EstateFactory, year: int, lines: dict[str, int], date: str) -> SignedPayload:
    body = {"year": year, "lines": [{"account": a, "amount": n} for a, n in lines.items()]}
    return f.signed("budget", body, f.committee, f.trustee, date=day(date))


def fee(f: EstateFactory, fen: int, date: str, n: int) -> SignedPayload:
    postings = [(BANK, fen), ("Income:PropertyFee", -fen)]
    return tx(f, postings, category="物业费", counterparty="业主", date=date, memo=f"{n}号楼物业费")


def build_books(client: TestClient, f: EstateFactory) -> Books:
    digest = hashlib.sha256(PDF).hexdigest()
    f.service.blobs_for(f.id).put(digest, PDF)
    voucher = {
        "sha256": digest,
        "media_type": "application/pdf",
        "size": len(PDF),
        "name": "停车费发票.pdf",
    }
    first = f.append(
        tx(
            f,
            [(BANK, 1_000_000), ("Equity:Opening", -1_000_000)],
            category="期初余额",
            counterparty="上任物业",
            date="2026-09-30",
            memo="期初",
        ),
        tx(
            f,
            [(BANK, 1), ("Income:PropertyFee", -1)],
            category="物业费",
            counterparty="业主",
            date="2026-10-01",
            memo="物业费",
            household=make_commitment(SALT, UNIT),
        ),
        tx(
            f,
            [(BANK, 50_000), ("Income:Public:Parking", -50_000)],
            category="停车收益",
            counterparty="常州停车管理有限公司",
            date="2026-10-05",
            memo="10月停车费",
            vouchers=(voucher,),
        ),
        tx(
            f,
            [(BANK, -123_456), ("Expenses:Cleaning", 123_456)],
            category="保洁",
            counterparty=INJECTION_COUNTERPARTY,
            date="2026-10-20",
            memo=INJECTION_MEMO,
        ),
        tx(
            f,
            [(BANK, -200_000), ("Expenses:TrusteeRemuneration", 200_000)],
            category="物业酬金",
            counterparty="某物业公司",
            date="2026-11-03",
            memo="11月酬金",
        ),
    )
    seqs = {
        name: a.entry.seq
        for name, a in zip(["opening", "fee", "parking", "cleaning", "pay"], first, strict=True)
    }
    reversal = f.signed(
        "reversal",
        {"target": seqs["parking"], "reason": "重复入账"},
        f.trustee,
        f.committee,
        date=day("2026-11-10"),
    )
    later = f.append(
        reversal,
        budget(f, 2026, {"Expenses:Cleaning": 500_000}, "2026-01-10"),
        budget(
            f,
            2026,
            {
                "Expenses:Cleaning": 1_000_000,
                "Expenses:TrusteeRemuneration": 2_400_000,
                "Income:PropertyFee": 5_000_000,
            },
            "2026-03-10",
        ),
        *[fee(f, 10_000 + n, f"2026-12-{n:02d}", n) for n in range(1, 9)],
        *[fee(f, 20_000 + n, f"2027-01-{n:02d}", n) for n in range(1, 4)],
        fee(f, 777, "2026-10-02", 99),  # back-dated: a later seq with an earlier date
    )
    seqs["reversal"] = later[0].entry.seq
    seqs["budget"] = later[2].entry.seq
    seqs["backdated"] = later[-1].entry.seq
    return Books(client, f, seqs)


@pytest.fixture
def books(service: LedgerService, estate: EstateFactory, tmp_path: Path) -> Iterator[Books]:
    with TestClient(create_app(Settings(data_dir=tmp_path, write_rate=0), service)) as client:
        yield build_books(client, estate)


# -- the reference, from the leaves ---------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    seq: int
    date: str
    kind: str
    category: str
    counterparty: str
    memo: str
    postings: tuple[tuple[str, int], ...]
    leaf_hash: str
    vouchers: tuple[tuple[str, str], ...]
    reverses: int | None

    @property
    def trust_delta(self) -> int:
        return sum(n for a, n in self.postings if a == BANK)


def reference(b: Books) -> list[Ref]:
    """Every transaction and reversal, in seq order, read from the served leaves."""
    items: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = b.ok("/entries", start=start, limit=1000)
        items += page["entries"]
        start = page["next"]
    postings: dict[int, tuple[tuple[str, int], ...]] = {}
    out = []
    for item in items:
        p = item["entry"]["payload"]
        reverses = None
        if p["kind"] == "transaction":
            lines = tuple((x["account"], x["amount"]) for x in p["body"]["postings"])
            category, counterparty = p["body"]["category"], p["body"]["counterparty"]
        elif p["kind"] == "reversal":
            reverses = p["body"]["target"]
            lines = tuple((a, -n) for a, n in postings[reverses])
            category, counterparty = "reversal", ""
        else:
            continue
        postings[item["seq"]] = lines
        leaf_hash = b64encode(hash_leaf(base64.b64decode(item["leaf"])))
        vouchers = tuple((v["sha256"], v["name"]) for v in p.get("vouchers", []))
        out.append(
            Ref(
                item["seq"],
                p["date"],
                p["kind"],
                category,
                counterparty,
                p.get("memo", ""),
                lines,
                leaf_hash,
                vouchers,
                reverses,
            )
        )
    return out


def totals(refs: list[Ref]) -> dict[str, int]:
    lines = [line for r in refs for line in r.postings]
    return {
        "count": len(refs),
        "income": -sum(n for a, n in lines if a.startswith("Income:")),
        "spending": sum(n for a, n in lines if a.startswith("Expenses:")),
        "net_trust": sum(r.trust_delta for r in refs),
    }


def all_pages(b: Books, path: str = "/transactions", **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = b.ok(path, **params, **({"cursor": cursor} if cursor else {}))
        rows += page["transactions"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == f"/problems/{code}", body
    return body


# -- transactions ---------------------------------------------------------------------------------


def test_rows_match_the_leaves(books: Books) -> None:
    refs = reference(books)
    rows = books.ok("/transactions", limit=500)["transactions"]
    assert [r["seq"] for r in rows] == [r.seq for r in reversed(refs)]  # newest first
    by_seq = {r.seq: r for r in refs}
    names = {a["name"]: a["display_name"] for a in books.ok("")["accounts"]}
    for row in rows:
        ref = by_seq[row["seq"]]
        assert (row["date"], row["kind"], row["category"]) == (ref.date, ref.kind, ref.category)
        assert (row["counterparty"], row["memo"]) == (ref.counterparty, ref.memo)
        assert [(p["account"], p["amount"]) for p in row["postings"]] == list(ref.postings)
        assert all(p["display_name"] == names[p["account"]] for p in row["postings"])
        assert row["amount"] == sum(n for _, n in ref.postings if n > 0)
        assert row["trust_delta"] == ref.trust_delta
        assert row["leaf_hash"] == ref.leaf_hash
        assert [(v["sha256"], v["name"]) for v in row["vouchers"]] == list(ref.vouchers)
        assert row["reverses"] == ref.reverses
    s = books.seqs
    parking = next(r for r in rows if r["seq"] == s["parking"])
    assert parking["reversed_by"] == s["reversal"] and parking["vouchers"][0]["name"]
    assert next(r for r in rows if r["seq"] == s["reversal"])["reverses"] == s["parking"]
    assert all(r["reversed_by"] is None for r in rows if r["seq"] != s["parking"])


def test_running_balances_equal_a_recomputation(books: Books) -> None:
    rows = books.ok("/transactions", order="asc", limit=500)["transactions"]
    balance = 0
    for row, ref in zip(rows, reference(books), strict=True):
        balance += ref.trust_delta
        assert row["trust_balance"] == balance, row["seq"]
    # …and the trust account's balance now is the last running balance.
    bank = next(a for a in books.ok("/balances")["accounts"] if a["name"] == BANK)
    assert bank["balance"] == balance


FILTERS: dict[str, tuple[dict[str, str], Callable[[Ref], bool]]] = {
    "none": ({}, lambda r: True),
    "october": (
        {"from": "2026-10-01", "to": "2026-10-31"},
        lambda r: "2026-10-01" <= r.date <= "2026-10-31",
    ),
    "from-only": ({"from": "2026-12-05"}, lambda r: r.date >= "2026-12-05"),
    "to-only": ({"to": "2026-10-05"}, lambda r: r.date <= "2026-10-05"),
    "one-day": ({"from": "2026-10-20", "to": "2026-10-20"}, lambda r: r.date == "2026-10-20"),
    "expenses": (
        {"account": "Expenses"},
        lambda r: any(a.startswith("Expenses:") for a, _ in r.postings),
    ),
    "income-public": (
        {"account": "Income:Public"},
        lambda r: any(a.startswith("Income:Public:") for a, _ in r.postings),
    ),
    "exact-account": (
        {"account": "Expenses:Cleaning"},
        lambda r: any(a == "Expenses:Cleaning" for a, _ in r.postings),
    ),
    "partial-segment": ({"account": "Income:Pub"}, lambda r: False),
    "unknown-account": ({"account": "Liabilities"}, lambda r: False),
    "category": ({"category": "物业费"}, lambda r: r.category == "物业费"),
    "category-exact": ({"category": "物业"}, lambda r: False),
    "counterparty": ({"counterparty": "停车"}, lambda r: "停车" in r.counterparty),
    "counterparty-case": ({"counterparty": "CMD"}, lambda r: "cmd" in r.counterparty),
    "counterparty-percent": ({"counterparty": "%"}, lambda r: "%" in r.counterparty),
    "counterparty-underscore": ({"counterparty": "_"}, lambda r: "_" in r.counterparty),
    "q-memo": ({"q": "号楼"}, lambda r: "号楼" in r.memo),
    "q-category": ({"q": "酬金"}, lambda r: "酬金" in r.category + r.memo + r.counterparty),
    "combined": (
        {"q": "物业费", "from": "2026-10-01", "to": "2026-12-31", "account": "Income"},
        lambda r: (
            "物业费" in r.memo + r.counterparty + r.category
            and "2026-10-01" <= r.date <= "2026-12-31"
            and any(a.startswith("Income:") for a, _ in r.postings)
        ),
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filters_and_sums_over_the_whole_range(books: Books, name: str) -> None:
    params, keep = FILTERS[name]
    expected = [r for r in reversed(reference(books)) if keep(r)]
    page = books.ok("/transactions", limit=2, **params)
    assert [r["seq"] for r in page["transactions"]] == [r.seq for r in expected[:2]]
    assert page["sum"] == totals(expected)  # the whole filtered range, not the page
    assert [r["seq"] for r in all_pages(books, limit=500, **params)] == [r.seq for r in expected]


def test_sums_of_the_whole_log(books: Books) -> None:
    s = books.ok("/transactions")["sum"]
    fees = 1 + sum(10_000 + n for n in range(1, 9)) + sum(20_000 + n for n in range(1, 4)) + 777
    # Parking income was reversed: it counts +50 000 and then -50 000.
    assert s == {
        "count": 18,
        "income": fees,
        "spending": 323_456,
        "net_trust": 1_000_000 + fees - 323_456,
    }


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 3, 7])
@pytest.mark.parametrize("params", [{}, {"account": "Income"}, {"from": "2026-10-02"}])
def test_cursor_pages_stitch(books: Books, order: str, limit: int, params: dict[str, str]) -> None:
    full = books.ok("/transactions", order=order, limit=500, **params)["transactions"]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        extra = {"cursor": cursor} if cursor else {}
        page = books.ok("/transactions", order=order, limit=limit, **params, **extra)
        assert len(page["transactions"]) <= limit
        seen += [r["seq"] for r in page["transactions"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["seq"] for r in full]
    assert len(seen) == len(set(seen))
    assert pages == max(1, -(-len(full) // limit))  # no empty last page
    assert seen == sorted(seen, reverse=order == "desc")


def test_cursor_is_base64url_of_the_last_seq(books: Books) -> None:
    page = books.ok("/transactions", limit=2)
    last = page["transactions"][-1]["seq"]
    assert base64.urlsafe_b64decode(page["next_cursor"] + "==") == str(last).encode()


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-01"},
        {"from": "2026/10/01"},
        {"to": "20261001"},
        {"to": "2026-10-1"},
        {"account": "expenses"},
        {"account": "Expenses:"},
        {"account": "Expenses:%"},
        {"limit": "0"},
        {"limit": "501"},
        {"order": "up"},
        {"cursor": "!!"},
        {"cursor": "MDA"},  # "00": not canonical
        {"cursor": "LTE"},  # "-1"
        {"cursor": "MQ=="},  # padded
        {"q": "a\x00b"},  # invalid-text
        {"counterparty": "e\u0301"},  # not-nfc
        {"category": "x" * 65},
    ],
)
def test_bad_parameters_are_invalid_input(books: Books, params: dict[str, str]) -> None:
    code = {"q": "invalid-text", "counterparty": "not-nfc"}.get(next(iter(params)), "invalid-input")
    body = assert_problem(books.get("/transactions", **params), 422, code)
    assert body["detail"] and body["field"]
    if "limit" not in params and "cursor" not in params:  # the CSV has no paging
        assert_problem(books.get("/transactions.csv", **params), 422, code)


def test_unknown_estate_is_not_found(books: Books) -> None:
    for path in ["transactions", "transactions.csv", "balances", "summary?period=2026"]:
        assert_problem(books.client.get(f"/v1/estates/no-such/{path}"), 404, "not-found")


# -- CSV ------------------------------------------------------------------------------------------


def read_csv(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("page", [4, 500])
def test_csv(books: Books, monkeypatch: pytest.MonkeyPatch, page: int) -> None:
    monkeypatch.setattr(routes_query, "CSV_PAGE", page)  # 4: many keyset chunks
    r = books.get("/transactions.csv")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = f'attachment; filename="{books.f.id}-transactions.csv"'
    assert r.headers["content-disposition"] == disposition
    assert b"\r\n" in r.content
    header, *rows = read_csv(r)
    assert (
        tuple(header)
        == HEADER
        == (
            "序号",
            "日期",
            "类别",
            "对方",
            "摘要",
            "金额(元)",
            "共管账户余额(元)",
            "叶哈希",
        )
    )
    refs = list(reversed(reference(books)))
    assert len(rows) == len(refs) == books.ok("/transactions")["sum"]["count"]
    json_rows = books.ok("/transactions", limit=500)["transactions"]
    for row, ref, j in zip(rows, refs, json_rows, strict=True):
        assert int(row[0]) == ref.seq and row[1] == ref.date
        assert row[7].removeprefix("'") == ref.leaf_hash
        assert row[5] == f"{Decimal(ref.trust_delta) / 100:.2f}"
        assert row[6] == f"{Decimal(j['trust_balance']) / 100:.2f}"
    by_seq = {int(row[0]): row for row in rows}
    s = books.seqs
    assert by_seq[s["fee"]][5] == "0.01"
    assert by_seq[s["cleaning"]][5] == "-1234.56"  # our numbers stay numbers
    assert by_seq[s["cleaning"]][3] == "'" + INJECTION_COUNTERPARTY
    assert by_seq[s["cleaning"]][4] == "'" + INJECTION_MEMO
    assert by_seq[s["opening"]][6] == "10000.00"


def test_csv_filtered_and_ascending(books: Books) -> None:
    _, *rows = read_csv(books.get("/transactions.csv", account="Expenses", order="asc"))
    assert [int(r[0]) for r in rows] == [books.seqs["cleaning"], books.seqs["pay"]]
    _, *none = read_csv(books.get("/transactions.csv", category="无此类别"))
    assert none == []


def test_csv_cells() -> None:
    for bad in ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"]:
        assert text_cell(bad) == "'" + bad
    for fine in ["保洁", "a=b", "", "'x", " =1"]:
        assert text_cell(fine) == fine


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (1, "0.01"), (-1, "-0.01"), (99, "0.99"), (100, "1.00"), (-123456, "-1234.56")],
)
def test_format_yuan_examples(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_format_yuan_is_decimal_division(fen: int) -> None:
    assert format_yuan(fen) == f"{Decimal(fen) / 100:.2f}"


# -- balances, summary, budget ---------------------------------------------------------------------


def balances_at(refs: list[Ref], date: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in refs:
        if date is None or r.date <= date:
            for a, n in r.postings:
                out[a] = out.get(a, 0) + n
    return out


@pytest.mark.parametrize("date", [None, "2026-09-29", "2026-09-30", "2026-10-02", "2026-11-30"])
def test_balances_at_a_date(books: Books, date: str | None) -> None:
    body = books.ok("/balances", **({"date": date} if date else {}))
    assert body["date"] == date
    assert body["size"] == books.ok("")["size"]
    expected = balances_at(reference(books), date)
    got = {a["name"]: a["balance"] for a in body["accounts"]}
    assert len(got) == 6
    assert got == {name: expected.get(name, 0) for name in got}
    if date == "2026-10-02":  # the back-dated fee counts by its business date
        assert got[BANK] == 1_000_000 + 1 + 777


def test_balances_bad_date(books: Books) -> None:
    for bad in ["2026-02-30", "yesterday", "2026-1-1"]:
        assert_problem(books.get("/balances", date=bad), 422, "invalid-input")


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("2026-10", "2026-10-01", "2026-10-31"),
        ("2026-11", "2026-11-01", "2026-11-30"),
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2026-Q4", "2026-10-01", "2026-12-31"),
        ("2027-Q1", "2027-01-01", "2027-03-31"),
        ("2026", "2026-01-01", "2026-12-31"),
    ],
)
def test_summary(books: Books, period: str, start: str, end: str) -> None:
    s = books.ok("/summary", period=period)
    assert (s["period"], s["start"], s["end"]) == (period, start, end)
    refs = reference(books)
    inside = [r for r in refs if start <= r.date <= end]
    assert s["count"] == len(inside)
    assert s["reversals"] == sum(r.kind == "reversal" for r in inside)
    by_account: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for r in inside:
        for a, n in r.postings:
            if a.startswith(("Income:", "Expenses:")):
                signed = -n if a.startswith("Income:") else n
                by_account[a] = by_account.get(a, 0) + signed
                key = ("i:" if a.startswith("Income:") else "e:") + r.category
                by_category[key] = by_category.get(key, 0) + signed
    got_accounts = {a["account"]: a["amount"] for a in s["income_by_account"]}
    got_accounts |= {a["account"]: a["amount"] for a in s["spending_by_account"]}
    assert got_accounts == by_account
    got_categories = {"i:" + c["category"]: c["amount"] for c in s["income_by_category"]}
    got_categories |= {"e:" + c["category"]: c["amount"] for c in s["spending_by_category"]}
    assert got_categories == by_category
    assert s["income"] == sum(a["amount"] for a in s["income_by_account"])
    assert s["spending"] == sum(a["amount"] for a in s["spending_by_account"])
    before = balances_at(refs, _day_before(start)).get(BANK, 0)
    assert s["trust"] == {
        "account": BANK,
        "opening": before,
        "closing": balances_at(refs, end).get(BANK, 0),
    }


def _day_before(date: str) -> str:
    return (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()


def test_summary_of_october_in_figures(books: Books) -> None:
    s = books.ok("/summary", period="2026-10")
    assert s["count"] == 4 and s["reversals"] == 0
    assert s["income"] == 1 + 50_000 + 777 and s["spending"] == 123_456
    assert s["trust"]["opening"] == 1_000_000
    assert s["trust"]["closing"] == 1_000_000 + 1 + 50_000 + 777 - 123_456
    assert s["income_by_category"][0] == {"category": "停车收益", "amount": 50_000}  # largest first
    q4 = books.ok("/summary", period="2026-Q4")
    assert {c["category"]: c["amount"] for c in q4["income_by_category"]}["reversal"] == -50_000


@pytest.mark.parametrize(
    "period",
    [
        "2026-13",
        "2026-00",
        "2026-Q5",
        "2026-Q0",
        "2026-q4",
        "2026-1",
        "26",
        "02026",
        "0999",
        "2026-10-01",
        "",
        " 2026",
        "2026 ",
        "２０２６",
        "2026-Q4-1",
        "2026-W40",
    ],
)
def test_summary_bad_period(books: Books, period: str) -> None:
    body = assert_problem(books.get("/summary", period=period), 422, "invalid-input")
    assert body.get("field") in ("period", "query.period")


def test_summary_needs_a_period(books: Books) -> None:
    assert_problem(books.get("/summary"), 422, "invalid-input")


def test_budget_against_actual(books: Books) -> None:
    b = books.ok("/budget", year=2026)
    assert b["year"] == 2026 and b["seq"] == books.seqs["budget"]  # the latest budget wins
    lines = {line["account"]: line for line in b["lines"]}
    fees_2026 = 1 + sum(10_000 + n for n in range(1, 9)) + 777
    assert lines["Expenses:Cleaning"] == {
        "account": "Expenses:Cleaning",
        "display_name": "保洁",
        "type": "expense",
        "budget": 1_000_000,
        "actual": 123_456,
        "variance": 123_456 - 1_000_000,
        "percent_used": "12.3",
    }
    assert lines["Expenses:TrusteeRemuneration"]["percent_used"] == "8.3"  # 8.333…
    fee_line = lines["Income:PropertyFee"]
    assert fee_line["actual"] == fees_2026 and fee_line["type"] == "income"
    assert fee_line["variance"] == fees_2026 - 5_000_000
    assert fee_line["percent_used"] == "1.6"  # 80 917 / 5 000 000 = 1.618…%
    assert b["unbudgeted"] == []  # parking was reversed within the year: nets to zero
    assert isinstance(fee_line["percent_used"], str)


def test_budget_unbudgeted_and_missing(books: Books) -> None:
    f = books.f
    f.append(budget(f, 2027, {"Expenses:Cleaning": 10_000}, "2026-12-20"))
    b = books.ok("/budget", year=2027)
    assert b["lines"][0]["actual"] == 0 and b["lines"][0]["percent_used"] == "0.0"
    unbudgeted = {line["account"]: line for line in b["unbudgeted"]}
    assert unbudgeted["Income:PropertyFee"]["actual"] == sum(20_000 + n for n in range(1, 4))
    assert unbudgeted["Income:PropertyFee"]["percent_used"] is None
    assert_problem(books.get("/budget", year=2025), 404, "not-found")
    assert_problem(books.get("/budget", year=1999), 422, "invalid-input")
    assert_problem(books.get("/budget"), 422, "invalid-input")


# -- receipts -------------------------------------------------------------------------------------


def test_receipt_proves_inclusion(books: Books) -> None:
    seq = books.seqs["fee"]
    r = books.get(f"/receipts/{format_receipt_code(seq, SALT, UNIT)}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["seq"] == seq and body["date"] == "2026-10-01" and body["amount"] == 1
    assert body["commitment"] == make_commitment(SALT, UNIT) and body["reversed_by"] is None
    # Verify as a resident would: the published key opens the checkpoint; the leaf
    # carries the commitment; the audit path leads from the leaf to the signed root.
    vkey = books.ok("/log-key")["vkey"]
    cp = verify_checkpoint(body["checkpoint"], vkey)
    assert cp.size == body["inclusion"]["tree_size"]
    leaf = base64.b64decode(body["leaf"])
    assert b'"household":"' + body["commitment"].encode() + b'"' in leaf
    assert UNIT.encode() not in leaf and SALT not in leaf
    hashes = [base64.b64decode(h) for h in body["inclusion"]["hashes"]]
    verify_inclusion(hash_leaf(leaf), seq, cp.size, hashes, cp.root)


def test_wrong_receipts_say_nothing_more(books: Books) -> None:
    seq = books.seqs["fee"]
    other_salt = bytes(16)
    codes = [
        format_receipt_code(seq, other_salt, UNIT),  # bad salt
        format_receipt_code(seq, SALT, "3-2-502"),  # bad unit
        format_receipt_code(seq + 1, SALT, UNIT),  # another transaction (no household)
        format_receipt_code(books.seqs["reversal"], SALT, UNIT),  # a reversal
        format_receipt_code(0, SALT, UNIT),  # genesis
        format_receipt_code(10**6, SALT, UNIT),  # beyond the log
        "not-a-code",
        f"{seq}-{'A' * 26}-{UNIT}",
        f"0{seq}-" + format_receipt_code(seq, SALT, UNIT).split("-", 1)[1],
    ]
    details = set()
    for code in codes:
        body = assert_problem(books.get(f"/receipts/{code}"), 404, "receipt-not-found")
        details.add(body["detail"])
        assert "field" not in body
    assert len(details) == 1


def test_receipt_code_is_masked_in_the_access_log(
    books: Books, caplog: pytest.LogCaptureFixture
) -> None:
    code = format_receipt_code(books.seqs["fee"], SALT, UNIT)
    salt32 = code.split("-")[1]
    with caplog.at_level(logging.INFO, logger="trustledger.access"):
        assert books.get(f"/receipts/{code}").status_code == 200
        assert books.get(f"/receipts/{code}x").status_code == 404
    paths = [getattr(rec, "path", "") for rec in caplog.records if rec.name == "trustledger.access"]
    assert paths and all(p == f"{books.base}/receipts/***" for p in paths)
    assert all(salt32 not in rec.getMessage() + str(vars(rec)) for rec in caplog.records)


def test_loggable_path() -> None:
    assert loggable_path("/v1/estates/x/receipts/1-abc-3-2-1") == "/v1/estates/x/receipts/***"
    assert loggable_path("/v1/estates/x/transactions") == "/v1/estates/x/transactions"


def test_openapi_lists_the_queries(books: Books) -> None:
    paths = books.client.get("/openapi.json").json()["paths"]
    for path in [
        "transactions",
        "transactions.csv",
        "balances",
        "summary",
        "budget",
        "receipts/{code}",
    ]:
        op = paths[f"/v1/estates/{{estate}}/{path}"]["get"]
        assert op["tags"] == ["queries"] and "security" not in op
