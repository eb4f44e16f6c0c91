"""The transaction list as CSV for spreadsheets (Chinese Excel first).

UTF-8 with a byte-order mark (without it Excel on a Chinese Windows reads the file
as GBK), a Chinese header, amounts in yuan with two decimals formatted from integer
fen (never through a float), and every row carrying its seq and leaf hash so that
a line of a spreadsheet can be checked against the log. Text cells that start
like a formula are prefixed with ``'`` (OWASP "CSV injection"): free text, and a
base64 leaf hash starting with ``+``. Amounts are ours and stay numbers.

``金额(元)`` is the entry's change of the co-managed account (``trust_delta``), so
each row's ``共管账户余额(元)`` is the previous row's (in log order) plus it.
Pure: rows in, text out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from ledger.canonical import b64encode
from ledger.storage.queries import TxRow

BOM = "\ufeff"
HEADER = ("序号", "日期", "类别", "对方", "摘要", "金额(元)", "共管账户余额(元)", "叶哈希")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_yuan(fen: int) -> str:
    """Integer fen as yuan with exactly two decimals: 1 → ``0.01``, -123456 → ``-1234.56``."""
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{rest:02d}"


def text_cell(value: str) -> str:
    """Free text made safe for a spreadsheet: a leading ``= + - @`` (or tab, CR) gets ``'``."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_row(row: TxRow) -> list[str]:
    return [
        str(row.seq),
        row.date,
        text_cell(row.category),
        text_cell(row.counterparty),
        text_cell(row.memo),
        format_yuan(row.trust_delta),
        format_yuan(row.trust_balance),
        text_cell(b64encode(row.leaf_hash)),  # base64 may start with '+'
    ]


def csv_text(rows: Iterable[TxRow], *, header: bool = False) -> str:
    """CSV lines (CRLF, as Excel writes them) for ``rows``, after the BOM and header if asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        out.write(BOM)
        writer.writerow(HEADER)
    writer.writerows(csv_row(r) for r in rows)
    return out.getvalue()
