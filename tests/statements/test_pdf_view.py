"""What the printed statement shows, without rendering: amounts, periods, rows, links, labels.

Amounts are checked against :mod:`decimal` (an independent formatter) over any
integer; the transaction list against the sample's lines: each household fee
receipt is counted in exactly one day row, every other line is printed exactly
once, and a reversal follows the line it reverses.
"""

from __future__ import annotations

import base64
import copy
import re
from decimal import Decimal
from typing import Any

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from statements import view
from statements.labels import EN, LABELS, ZH, labels
from statements.links import check_url, root_from_base64url, root_to_base64url
from statements.page import css_string, page_context, page_counter
from statements.pdf import render_html
from statements.svg import bar_chart_svg, qr_code, qr_svg
from tests.statements.sample import sample_signed, sample_statement, sign_statement

BASE = "https://trustledger.example"


@pytest.fixture(scope="module")
def signed() -> dict[str, Any]:
    return sample_signed()


# -- amounts and periods -------------------------------------------------------------------------


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_fen_matches_decimal(fen: int) -> None:
    assert view.format_fen(fen) == f"{Decimal(fen).scaleb(-2):,.2f}"


@pytest.mark.parametrize(
    ("fen", "text", "plus"),
    [
        (0, "0.00", "0.00"),
        (5, "0.05", "+0.05"),
        (-5, "-0.05", "-0.05"),
        (100, "1.00", "+1.00"),
        (123456789, "1,234,567.89", "+1,234,567.89"),
        (-100000000, "-1,000,000.00", "-1,000,000.00"),
        (9007199254740993, "90,071,992,547,409.93", "+90,071,992,547,409.93"),  # > 2**53
    ],
)
def test_format_fen(fen: int, text: str, plus: str) -> None:
    assert view.format_fen(fen) == text
    assert view.format_fen(fen, plus=True) == plus


@pytest.mark.parametrize("bad", [1.5, "100", True, None])
def test_format_fen_takes_integers_only(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        view.format_fen(bad)


@pytest.mark.parametrize(
    ("kind", "raw", "shown"),
    [
        ("asset", 44921381, "449,213.81"),
        ("asset", -100, "-1.00"),  # an overdrawn asset stays negative
        ("expense", 250, "2.50"),
        ("income", -112452095, "1,124,520.95"),
        ("liability", -3218104, "32,181.04"),
        ("equity", -191931882, "1,919,318.82"),
    ],
)
def test_credit_normal_balances_read_positive(kind: str, raw: int, shown: str) -> None:
    assert view.display_balance(raw, kind) == shown


@pytest.mark.parametrize(
    ("period", "zh", "en"),
    [
        ("2026-10", "2026年10月", "October 2026"),
        ("2026-Q4", "2026年第4季度", "Q4 2026"),
        ("2026", "2026年度", "Year 2026"),
    ],
)
def test_period_label(period: str, zh: str, en: str) -> None:
    assert view.period_label(period, ZH) == zh
    assert view.period_label(period, EN) == en


# -- the transaction list ------------------------------------------------------------------------


def test_receipts_are_summed_per_day(signed: dict[str, Any]) -> None:
    lines = signed["statement"]["lines"]
    rows = view.arrange_lines(lines, ZH, short_date=True)
    receipts = [x for x in lines if x["household"]]
    others = [x for x in lines if not x["household"]]
    days = sorted({x["date"] for x in receipts})
    day_rows = [r for r in rows if r.kind == "receipts"]
    assert len(receipts) > 100 and len(day_rows) == len(days)
    assert len(rows) == len(days) + len(others)
    for day, row in zip(days, day_rows, strict=True):
        mine = [x for x in receipts if x["date"] == day]
        assert row.date == day[5:]
        assert row.amount == view.format_fen(sum(x["amount"] for x in mine))
        assert row.trust == view.format_fen(sum(x["trust"] for x in mine), plus=True)
        assert row.counterparty == f"业主缴费 {len(mine)} 笔（按日汇总）"
        seqs = [x["seq"] for x in mine]
        lo, hi = min(seqs), max(seqs)
        assert row.seq == (f"#{lo}" if lo == hi else f"#{lo}–#{hi}")
        assert set(row.category.split("、")) == {x["category"] for x in mine}
    printed = [int(r.seq[1:]) for r in rows if r.kind != "receipts"]
    assert sorted(printed) == sorted(x["seq"] for x in others)


def test_rows_keep_date_order_apart_from_reversals(signed: dict[str, Any]) -> None:
    rows = view.arrange_lines(signed["statement"]["lines"], ZH)
    dates = [r.date for r in rows if r.kind != "reversal"]
    assert dates == sorted(dates)


def test_a_reversal_follows_the_line_it_reverses(signed: dict[str, Any]) -> None:
    lines = signed["statement"]["lines"]
    reversal = next(x for x in lines if x["kind"] == "reversal")
    target = next(x for x in lines if x["seq"] == reversal["reverses"])
    assert target["reversed_by"] == reversal["seq"] and target["date"] < reversal["date"]
    rows = view.arrange_lines(lines, ZH)
    i = next(i for i, r in enumerate(rows) if r.seq == f"#{target['seq']}")
    assert rows[i].reversed and rows[i].notes == (f"已被 #{reversal['seq']} 冲销",)
    after = rows[i + 1]
    assert after.kind == "reversal" and after.seq == f"#{reversal['seq']}"
    assert after.notes == (f"冲销 #{target['seq']}",)
    assert after.trust == view.format_fen(reversal["trust"], plus=True)
    en = view.arrange_lines(lines, EN)
    assert en[i + 1].notes == (f"reverses #{target['seq']}",)


def test_a_reversal_of_an_earlier_period_stays_in_place(signed: dict[str, Any]) -> None:
    lines = copy.deepcopy(signed["statement"]["lines"])
    reversal = next(x for x in lines if x["kind"] == "reversal")
    lines = [x for x in lines if x["seq"] != reversal["reverses"]]
    reversal["reverses"] = 17  # before the period
    rows = view.arrange_lines(lines, ZH)
    mine = next(r for r in rows if r.seq == f"#{reversal['seq']}")
    assert mine.notes == ("冲销 #17",)
    dates = [r.date for r in rows]
    assert dates == sorted(dates)


def test_a_reversed_fee_receipt_is_printed_alone(signed: dict[str, Any]) -> None:
    lines = copy.deepcopy(signed["statement"]["lines"])
    receipt = next(x for x in lines if x["household"])
    seq = max(x["seq"] for x in lines) + 1
    receipt["reversed_by"] = seq
    reversal = {
        **receipt,
        "seq": seq,
        "kind": "reversal",
        "household": False,
        "trust": -receipt["trust"],
        "postings": [{**p, "amount": -p["amount"]} for p in receipt["postings"]],
        "reverses": receipt["seq"],
        "reversed_by": None,
    }
    rows = view.arrange_lines([*lines, reversal], ZH)
    i = next(i for i, r in enumerate(rows) if r.seq == f"#{receipt['seq']}")
    assert rows[i].kind == "transaction" and rows[i].reversed
    assert rows[i + 1].seq == f"#{seq}" and rows[i + 1].kind == "reversal"
    summed = sum(
        int(re.search(r"(\d+) 笔", r.counterparty)[1]) for r in rows if r.kind == "receipts"
    )
    assert summed == sum(1 for x in lines if x["household"]) - 1


def test_a_reversal_is_never_lost(signed: dict[str, Any]) -> None:
    """Even when its target is a receipt that (inconsistently) does not say it was reversed."""
    lines = copy.deepcopy(signed["statement"]["lines"])
    receipt = next(x for x in lines if x["household"])
    seq = max(x["seq"] for x in lines) + 1
    reversal = {
        **receipt,
        "seq": seq,
        "kind": "reversal",
        "household": False,
        "reverses": receipt["seq"],
    }
    rows = view.arrange_lines([*lines, reversal], ZH)
    assert [r.seq for r in rows].count(f"#{seq}") == 1


def test_markup_in_the_statement_is_printed_as_text(signed: dict[str, Any]) -> None:
    evil = copy.deepcopy(signed)
    line = next(x for x in evil["statement"]["lines"] if not x["household"])
    line["memo"] = '<img src="file:///etc/passwd">'
    evil["statement"]["estate"]["name"] = "</style><b>x</b>"
    html = render_html(evil, public_base_url=BASE)
    assert "<img" not in html and "<b>x</b>" not in html
    assert "&lt;/style&gt;&lt;b&gt;x&lt;/b&gt;" in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html


def test_a_line_without_the_household_flag_is_printed_alone(signed: dict[str, Any]) -> None:
    lines = copy.deepcopy(signed["statement"]["lines"])
    for x in lines:
        del x["household"]
    rows = view.arrange_lines(lines, ZH)
    assert len(rows) == len(lines) and not any(r.kind == "receipts" for r in rows)


def test_account_rows_flip_credit_balances(signed: dict[str, Any]) -> None:
    accounts = signed["statement"]["accounts"]
    rows = {r.account: r for r in view.account_rows(accounts)}
    fees = next(a for a in accounts if a["account"] == "Income:PropertyFee")
    assert fees["closing"] < 0
    assert rows["Income:PropertyFee"].closing == view.format_fen(-fees["closing"])
    bank = next(a for a in accounts if a["account"] == "Assets:Bank:CoManaged")
    assert rows["Assets:Bank:CoManaged"].closing == view.format_fen(bank["closing"])


def test_budget_marks_shortfalls_and_overruns(signed: dict[str, Any]) -> None:
    budget = signed["statement"]["budget"]
    rows = {r.account: r for r in view.budget_rows(budget)}
    for line in budget["lines"]:
        row = rows[line["account"]]
        assert row.variance == view.format_fen(line["variance"], plus=True)
        bad = (line["type"] == "income" and line["variance"] < 0) or (
            line["type"] == "expense" and line["variance"] > 0
        )
        assert row.unfavourable == bad
    assert view.budget_rows(None) == []


# -- links and the QR code -----------------------------------------------------------------------


def test_check_url_uses_base64url_without_padding() -> None:
    root = bytes([0xFB, 0xEF, 0xFF]) + bytes(29)
    std = base64.b64encode(root).decode()
    assert std.startswith("++//") and std.endswith("=")
    url = check_url("https://tl.example/", "qingliang-2", 1234, std)
    assert url == "https://tl.example/e/qingliang-2/check?size=1234&root=--__" + "A" * 39
    assert root_from_base64url(url.rsplit("=", 1)[1]) == std


@given(st.binary(min_size=32, max_size=32))
def test_root_base64url_round_trip(root: bytes) -> None:
    std = base64.b64encode(root).decode()
    text = root_to_base64url(std)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", text)
    assert root_from_base64url(text) == std


@pytest.mark.parametrize(
    ("estate", "size", "root"),
    [
        ("../x", 1, base64.b64encode(bytes(32)).decode()),
        ("ok-estate", -1, base64.b64encode(bytes(32)).decode()),
        ("ok-estate", True, base64.b64encode(bytes(32)).decode()),
        ("ok-estate", 1, base64.b64encode(bytes(31)).decode()),
        ("ok-estate", 1, base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()),
    ],
)
def test_check_url_rejects(estate: str, size: Any, root: str) -> None:
    with pytest.raises(InvalidInput):
        check_url(BASE, estate, size, root)


def test_the_qr_code_holds_the_check_url(signed: dict[str, Any]) -> None:
    st_ = signed["statement"]
    url = check_url(BASE, st_["estate"]["id"], st_["checkpoint"]["size"], st_["checkpoint"]["root"])
    assert url.startswith(f"{BASE}/e/shifan-garden/check?size={st_['checkpoint']['size']}&root=")
    html = render_html(signed, public_base_url=BASE)
    assert qr_svg(url) in html
    expected = segno.make(url, error="m", micro=False)
    assert qr_code(url).matrix == expected.matrix
    assert qr_code(url).designator == expected.designator


# -- labels, CSS strings, SVG --------------------------------------------------------------------


def test_both_languages_have_the_same_labels() -> None:
    assert set(ZH) == set(EN)
    assert labels("zh") is ZH and labels("en") is EN and set(LABELS) == {"zh", "en"}
    with pytest.raises(InvalidInput):
        labels("fr")


def test_css_strings_cannot_break_out_of_the_style_element() -> None:
    text = css_string('a"b\\c</style><script>x</script>\n')
    assert "</style>" not in text and "<" not in text and "\n" not in text
    assert text.startswith('"') and text.endswith('"') and text.count('"') == 2
    assert (
        page_counter("第 {page} / {pages} 页") == '"第 " counter(page) " / " counter(pages) " 页"'
    )
    assert page_counter("Page {page} of {pages}") == '"Page " counter(page) " of " counter(pages)'


def test_chart_text_is_escaped_and_scaled() -> None:
    svg = bar_chart_svg([("收入", "income", [("<b>&", 200), ("小", 100)]), ("空", "spending", [])])
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg and "空" not in svg
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert "2.00" in svg and "1.00" in svg


def test_malformed_statements_are_refused(signed: dict[str, Any]) -> None:
    broken = copy.deepcopy(signed)
    del broken["statement"]["accounts"]
    with pytest.raises(InvalidInput, match="documented format"):
        page_context(broken, BASE, "zh")


def test_optional_blocks_may_be_null() -> None:
    statement = sample_statement()
    statement.update(budget=None, maintenance_fund=None, supersedes=None)
    statement["fee_collection"]["rate"] = None
    html = render_html(sign_statement(statement), public_base_url=BASE)
    assert ZH["budget_none"] in html and ZH["fund_none"] in html
    supersedes = {"number": 1, "sha256": "ab" * 32, "checkpoint": {"size": 9, "root": "r"}}
    statement.update(number=2, supersedes=supersedes)
    html = render_html(sign_statement(statement), public_base_url=BASE)
    assert "本公示更正第 1 号公示" in html
