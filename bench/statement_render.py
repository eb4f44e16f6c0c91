"""statement_render: the statement PDF against weasyprint's own cost for a plain table.

1. ``statement_render`` — the sample statement of ``tests/statements/sample.py`` (the
   demo estate, one month, ~150 lines). Ours: :func:`statements.pdf.render_pdf` —
   figures to rows, Jinja2, the SVG bar chart and QR code, header and footer margin
   boxes, three CJK font subsets, weasyprint. Baseline: weasyprint alone rendering a
   plain HTML table on A4 with as many rows as our HTML has (``<tr>``), in the same
   font, its cells filled with the statement's own line text. Target: ours ≤ 1.3 ×
   the baseline's time. The note gives the signing step (:func:`statements.pdf.sign_pdf`,
   pyHanko, ECDSA P-256) separately, and the page counts.

2. ``statement_pages`` — pages of a 12-month statement the size of the demo estate's
   year (~5,200 lines, ~4,700 of them household fee receipts summed per day). Figure:
   its page count; baseline: the limit of 60 pages; target: ratio ≤ 1. Quick mode
   uses the fourth quarter instead (~1,300 lines) against 15 pages.

Rounds alternate which side goes first; the figure is the median.
"""

from __future__ import annotations

import gc
import html
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import Result, median, spread
from statements.ca import init_ca, issue_estate_cert
from statements.pdf import render_html, render_pdf, sign_pdf
from tests.statements.sample import sample_signed, year_sample

NAME = "statement_render"
BASE_URL = "https://trustledger.example"
PAGE_LIMIT = 60


def _pages(pdf: bytes) -> int:
    """Pages of a PDF (pyHanko's reader: already a dependency)."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(pdf), strict=False).root["/Pages"]["/Count"])


def plain_table(lines: Sequence[Mapping[str, Any]], rows: int) -> str:
    """An A4 HTML page with one unstyled table of ``rows`` rows of the statement's line text."""
    out = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><style>'
        '@page { size: A4; margin: 20mm 14mm } body { font-family: "Noto Sans CJK SC"; '
        "font-size: 9pt } td { border-bottom: 0.4pt solid #ccc }</style></head><body><table>"
        "<thead><tr><th>日期</th><th>序号</th><th>类别</th><th>对方</th><th>摘要</th>"
        "<th>金额</th><th>凭证</th></tr></thead><tbody>"
    ]
    for i in range(rows):
        x = lines[i % len(lines)]
        cells = (
            x["date"],
            f"#{x['seq']}",
            x["category"],
            x["counterparty"],
            x["memo"],
            f"{x['amount'] // 100:,}.{x['amount'] % 100:02d}",
            " ".join(x["vouchers"]),
        )
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table></body></html>")
    return "".join(out)


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _rounds(
    signed: dict[str, Any], baseline_html: str, data_dir: Path, rounds: int
) -> dict[str, Any]:
    """Interleaved rounds: ours and the plain table (alternating first), then signing ours."""
    import weasyprint

    sides: dict[str, Callable[[], Any]] = {
        "ours": lambda: render_pdf(signed, public_base_url=BASE_URL),
        "base": lambda: weasyprint.HTML(string=baseline_html).write_pdf(),
    }
    times: dict[str, Any] = {k: [] for k in ("ours", "base", "ours_cpu", "base_cpu", "sign")}
    estate = signed["statement"]["estate"]["id"]
    for r in range(rounds):
        for side in ("ours", "base") if r % 2 == 0 else ("base", "ours"):
            wall, cpu, times[f"{side}_pdf"] = _timed(sides[side])
            times[side].append(wall)
            times[f"{side}_cpu"].append(cpu)
        pdf = times["ours_pdf"]
        times["sign"].append(_timed(lambda done=pdf: sign_pdf(done, data_dir, estate))[0])
    return times


def _render(quick: bool) -> Result:
    import weasyprint

    rounds = 3 if quick else 7
    signed = sample_signed()
    rows = render_html(signed, public_base_url=BASE_URL).count("<tr")
    baseline_html = plain_table(signed["statement"]["lines"], rows)
    weasyprint.HTML(string=baseline_html).write_pdf()  # warm: fontconfig, font files
    render_pdf(signed, public_base_url=BASE_URL)
    data_dir = Path(tempfile.mkdtemp(prefix="statement-ca-"))
    try:
        init_ca(data_dir)
        issue_estate_cert(data_dir, signed["statement"]["estate"]["id"], "示范花园小区")
        t = _rounds(signed, baseline_html, data_dir, rounds)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    figure, baseline, sign = median(t["ours"]), median(t["base"]), median(t["sign"])
    cpu = median(t["ours_cpu"]) / median(t["base_cpu"])
    note = (
        f"{len(signed['statement']['lines'])} lines, {rows} table rows, {rounds} rounds; "
        f"render {spread(t['ours'], '{:.3f}')} s ({_pages(t['ours_pdf'])} pages), plain table "
        f"{spread(t['base'], '{:.3f}')} s ({_pages(t['base_pdf'])} pages); CPU-time ratio "
        f"{cpu:.2f}; signing (pyHanko, ECDSA P-256) {sign:.3f} s ({spread(t['sign'], '{:.3f}')}), "
        f"render + sign {figure + sign:.3f} s"
    )
    return Result("statement_render", figure, baseline, figure / baseline, "<= 1.3", "s", note)


def _pages_of_year(quick: bool) -> Result:
    if quick:
        signed = sample_signed(months=3, receipts_per_month=392, repairs_per_month=28)
        limit = PAGE_LIMIT * 3 // 12
    else:
        signed, limit = year_sample(), PAGE_LIMIT
    st = signed["statement"]
    receipts = sum(1 for x in st["lines"] if x["household"])
    seconds, _, pdf = _timed(lambda: render_pdf(signed, public_base_url=BASE_URL))
    pages = _pages(pdf)
    note = (
        f"{st['period']['id']}: {len(st['lines']):,} lines, {receipts:,} household fee "
        f"receipts summed per day; {pages} pages, {len(pdf) / 1e6:.2f} MB, "
        f"rendered in {seconds:.1f} s; limit {limit} pages"
    )
    return Result("statement_pages", pages, limit, pages / limit, "<= 1", "pages", note)


def run(quick: bool) -> list[Result]:
    return [_render(quick), _pages_of_year(quick)]
