"""Inline SVG for the statement: the bar chart by category and the QR code.

Both are strings of SVG markup that go straight into the HTML (no JavaScript, no
external files), so weasyprint draws them as vectors. The chart's text is escaped
here; the QR code comes from segno. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import segno

from statements.view import format_fen

FONT = "Noto Sans CJK SC"
WIDTH = 680  # CSS px: the text width of an A4 page with 14 mm margins is ~688 px
ROW = 18
LABEL_WIDTH = 130
VALUE_WIDTH = 110
TEXT_SIZE = 12  # px: 9 pt
COLOURS = {"income": "#2e7d5b", "spending": "#b4542d"}


def _bar(y: float, label: str, fen: int, peak: int, colour: str) -> str:
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    length = max(0.0, fen / peak * room) if peak > 0 else 0.0
    base = y + ROW * 0.72
    return (
        f'<text x="{LABEL_WIDTH - 8}" y="{base:.1f}" text-anchor="end">{escape(label)}</text>'
        f'<rect x="{LABEL_WIDTH}" y="{y + 3:.1f}" width="{max(length, 0.8):.1f}" '
        f'height="{ROW - 6}" fill="{colour}"/>'
        f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{base:.1f}">{format_fen(fen)}</text>'
    )


def bar_chart_svg(
    sections: Sequence[tuple[str, str, Sequence[tuple[str, int]]]],
) -> str:
    """Horizontal bars, one per category, in titled sections on one common scale.

    ``sections`` are ``(title, kind, [(category, fen), …])`` with ``kind`` ``income``
    or ``spending`` (the bar colour); empty sections are left out.
    """
    shown = [s for s in sections if s[2]]
    peak = max((fen for _, _, bars in shown for _, fen in bars), default=0)
    parts, y = [], 0.0
    for title, kind, bars in shown:
        parts.append(
            f'<text x="0" y="{y + ROW * 0.75:.1f}" font-weight="bold">{escape(title)}</text>'
        )
        y += ROW
        for label, fen in bars:
            parts.append(_bar(y, label, fen, peak, COLOURS.get(kind, "#555")))
            y += ROW
        y += ROW / 3
    height = max(y, ROW)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" '
        f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'font-family="{FONT}" font-size="{TEXT_SIZE}" fill="#222">' + "".join(parts) + "</svg>"
    )


def qr_code(url: str) -> segno.QRCode:
    """The QR code of ``url``: error correction M, never a Micro QR."""
    return segno.make(url, error="m", micro=False, boost_error=False)


def qr_svg(url: str) -> str:
    """``url`` as an inline SVG QR code (sized by CSS; 4-module quiet zone kept)."""
    return qr_code(url).svg_inline(scale=1, border=4, omitsize=True, svgclass="qr", dark="#000")
