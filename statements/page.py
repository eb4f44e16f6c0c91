"""The printed statement's content: everything the HTML template lays out, as plain values.

:func:`page_context` turns a signed statement (docs/statements.md) into the
template's context — labels of the chosen language, summary figures, the chart
and QR code as inline SVG, the tables' rows, and the header and footer strings
(already escaped as CSS strings for ``@page`` margin boxes). Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from ledger.errors import InvalidInput
from statements import view
from statements.labels import labels as labels_of
from statements.links import check_url
from statements.svg import bar_chart_svg, qr_svg


@dataclass(frozen=True)
class SummaryRow:
    label: str
    value: str
    level: int = 0  # 1: a part of the row above
    note: str = ""


def css_string(text: str) -> Markup:
    """``text`` as a CSS string literal, safe inside ``<style>`` (no ``</style>`` breaks out)."""
    out = []
    for ch in text:
        if ch in '"\\<>&' or ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')  # noqa: S704 - every special character escaped


def page_counter(template: str) -> Markup:
    """A label like ``第 {page} / {pages} 页`` as CSS ``content`` with the page counters."""
    parts = []
    for i, piece in enumerate(template.replace("{pages}", "\0P").split("{page}")):
        if i:
            parts.append("counter(page)")
        for j, bit in enumerate(piece.split("\0P")):
            if j:
                parts.append("counter(pages)")
            if bit:
                parts.append(str(css_string(bit)))
    return Markup(" ".join(parts))  # noqa: S704 - CSS strings from css_string and counters


def _group_amounts(income: Mapping[str, Any]) -> dict[str, int]:
    amounts = dict.fromkeys(view.INCOME_GROUPS, 0)
    for g in income["groups"]:
        name = g["group"] if g["group"] in amounts else "other"
        amounts[name] += g["amount"]
    return amounts


def _trust_balances(accounts: list[Mapping[str, Any]]) -> tuple[str, str]:
    for a in accounts:
        if a["account"] == view.TRUST_ACCOUNT:
            return view.format_fen(a["opening"]), view.format_fen(a["closing"])
    return "—", "—"


def _collection(fc: Mapping[str, Any] | None, labels: Mapping[str, str]) -> tuple[str, str]:
    if not fc or fc.get("rate") is None:
        return "—", ""
    detail = labels["collection_detail"].format(
        paid=fc["households_paid"], due=fc["households_due"], months=len(fc["months"])
    )
    return f"{fc['rate']}%", detail


def summary_rows(st: Mapping[str, Any], labels: Mapping[str, str]) -> list[SummaryRow]:
    opening, closing = _trust_balances(st["accounts"])
    groups = _group_amounts(st["income"])
    rate, detail = _collection(st.get("fee_collection"), labels)
    fmt = view.format_fen
    rows = [
        SummaryRow(labels["trust_opening"], opening),
        SummaryRow(labels["income_total"], fmt(st["income"]["total"])),
    ]
    for g in view.INCOME_GROUPS:
        note = labels["public_note"] if g == "public" else ""
        rows.append(SummaryRow(labels[f"group_{g}"], fmt(groups[g]), 1, note))
    rows += [
        SummaryRow(labels["spending_total"], fmt(st["spending"]["total"])),
        SummaryRow(labels["remuneration"], fmt(st["trustee_remuneration"]), 1),
        SummaryRow(labels["trust_closing"], closing),
        SummaryRow(labels["collection_rate"], rate, 0, detail),
    ]
    return rows


def chart(st: Mapping[str, Any], labels: Mapping[str, str]) -> Markup:
    income = [(c["category"], c["amount"]) for g in st["income"]["groups"] for c in g["categories"]]
    spending = [(c["category"], c["amount"]) for c in st["spending"]["categories"]]
    sections = [
        (labels["chart_income"], "income", income),
        (labels["chart_spending"], "spending", spending),
    ]
    return Markup(bar_chart_svg(sections))  # noqa: S704 - bar_chart_svg escapes its text


def _verification(signed: Mapping[str, Any], public_base_url: str) -> dict[str, Any]:
    st = signed["statement"]
    cp = st["checkpoint"]
    url = check_url(public_base_url, st["estate"]["id"], cp["size"], cp["root"])
    return {
        "url": url,
        "qr": Markup(qr_svg(url)),  # noqa: S704 - segno's SVG: paths only, no text
        "size": cp["size"],
        "root": cp["root"],
        "vkey": signed["signature"]["vkey"],
    }


def _fund(fund: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if fund is None:
        return None
    fmt = view.format_fen
    keys = ("opening", "inflow", "outflow", "closing")
    return {"accounts": list(fund["accounts"]), **{k: fmt(fund[k]) for k in keys}}


def _heading(st: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    period = view.period_label(st["period"]["id"], labels)
    title = labels["title"].format(estate=st["estate"]["name"])
    cp = st["checkpoint"]
    sup = st.get("supersedes")
    supersedes = (
        labels["supersedes"].format(
            number=sup["number"], size=sup["checkpoint"]["size"], root=sup["checkpoint"]["root"]
        )
        if sup
        else ""
    )
    return {
        "title": title,
        "period": period,
        "subtitle": labels["subtitle"].format(period=period, number=st["number"]),
        "supersedes": supersedes,
        "header_left": css_string(f"{title} · {period}"),
        "header_right": css_string(
            labels["header_checkpoint"].format(size=cp["size"], root=cp["root"][:12])
        ),
        "footer": page_counter(labels["page"]),
    }


def _counts(lines: list[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    receipts = sum(1 for x in lines if view.is_household_receipt(x))
    return labels["lines_count"].format(count=len(lines), receipts=receipts)


def page_context(signed: Mapping[str, Any], public_base_url: str, lang: str) -> dict[str, Any]:
    """The template context of a signed statement (raises InvalidInput if it is malformed)."""
    labels = labels_of(lang)
    try:
        st = signed["statement"]
        period = st["period"]
        short = period["start"][:4] == period["end"][:4]
        return {
            "l": labels,
            "lang": labels["html_lang"],
            "st": st,
            **_heading(st, labels),
            "summary": summary_rows(st, labels),
            "chart": chart(st, labels),
            "verify": _verification(signed, public_base_url),
            "accounts": view.account_rows(st["accounts"]),
            "income": view.income_rows(st["income"], labels),
            "spending": view.spending_rows(st["spending"]),
            "budget": st.get("budget"),
            "budget_rows": view.budget_rows(st.get("budget")),
            "fund": _fund(st.get("maintenance_fund")),
            "lines": view.arrange_lines(st["lines"], labels, short_date=short),
            "short_dates": short,
            "lines_count": _counts(st["lines"], labels),
        }
    except (KeyError, TypeError, AttributeError) as e:
        raise InvalidInput(f"not a statement in the documented format: {e!r}") from e
