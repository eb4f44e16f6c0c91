"""Reading a bank's CSV statement of the co-managed account (for ``trustledger reconcile``).

Banks export statements in GB18030/GBK or UTF-8 (with or without a BOM), with their
own column names, one signed amount column or separate money-in / money-out
columns, and dates as ``2026-10-15``, ``2026/10/15``, ``20261015`` or
``2026年10月15日``. :func:`read_statement` decodes the bytes (UTF-8 first, then
GB18030, a superset of GBK), finds the columns by a :class:`Mapping` (the default
knows the usual Chinese and English headers; a JSON file can name others), and
turns each row into a :class:`BankLine` with the amount in integer fen — money in
positive, money out negative, from the account holder's side, as in the ledger.

What it does not: guess. A row whose date or amount cannot be read exactly (more
than two decimals, no digits) raises :class:`StatementError` naming the line.
Pure: bytes in, values out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

HEADERS: dict[str, tuple[str, ...]] = {
    "date": ("交易日期", "记账日期", "交易时间", "日期", "date", "Date"),
    "amount": ("交易金额", "发生额", "金额", "amount", "Amount"),
    "money_in": ("收入金额", "收入", "贷方发生额", "贷方金额", "存入", "credit", "Credit"),
    "money_out": ("支出金额", "支出", "借方发生额", "借方金额", "支取", "debit", "Debit"),
    "counterparty": ("对方户名", "对方账户名称", "对方名称", "对方单位", "counterparty"),
    "reference": ("摘要", "用途", "附言", "备注", "交易摘要", "reference", "Reference"),
    "balance": ("余额", "账户余额", "balance", "Balance"),
}
"""Column names tried, in order, when no mapping names a field."""

_DATE = re.compile(r"(\d{4})\D?(\d{1,2})\D?(\d{1,2})")


class StatementError(ValueError):
    """The statement cannot be read exactly (the reconciliation could not run)."""


@dataclass(frozen=True)
class Mapping:
    """Which column holds which field (``None``: look for the usual headers)."""

    columns: dict[str, str] = field(default_factory=dict)
    skip_rows: int = 0  # lines before the header row (bank letterheads)

    @classmethod
    def from_json(cls, data: bytes) -> Mapping:
        """``{"date": "…", "amount": "…" | "money_in"/"money_out": "…", …, "skip_rows": n}``."""
        try:
            doc = json.loads(data)
        except ValueError as e:
            raise StatementError(f"mapping is not JSON: {e}") from e
        if not isinstance(doc, dict):
            raise StatementError("mapping must be a JSON object")
        skip = doc.pop("skip_rows", 0)
        unknown = set(doc) - set(HEADERS)
        if unknown or not isinstance(skip, int):
            raise StatementError(f"mapping: unknown fields {sorted(unknown)} or bad skip_rows")
        return cls({k: str(v) for k, v in doc.items()}, skip)


@dataclass(frozen=True)
class BankLine:
    """One line of the bank statement."""

    line: int  # line number in the file (1-based)
    date: dt.date
    amount: int  # fen; money in positive
    counterparty: str
    reference: str
    balance: int | None  # the bank's running balance after this line, if given


def decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else GB18030 (which reads GBK and GB2312)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as e:
            raise StatementError("the statement is neither UTF-8 nor GB18030/GBK") from e


MAX_AMOUNT = Decimal(10) ** 15
"""Larger than any amount a bank statement line holds (in yuan); beyond it, refused."""


def to_fen(text: str, where: str) -> int:
    """``"1,234.56"``, ``"-12.3"``, ``"￥88"`` → fen; refuses more than two decimals."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as e:
        raise StatementError(f"{where}: {text!r} is not an amount") from e
    if not value.is_finite() or not -MAX_AMOUNT <= value <= MAX_AMOUNT:
        raise StatementError(f"{where}: {text!r} is not an amount a bank statement holds")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise StatementError(f"{where}: {text!r} has more than two decimals")
    fen = int(value.scaleb(2))
    return -fen if negative else fen


def to_date(text: str, where: str) -> dt.date:
    match = _DATE.search(text)
    if match is None:
        raise StatementError(f"{where}: {text!r} is not a date")
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError as e:
        raise StatementError(f"{where}: {text!r}: {e}") from e


def _columns(header: Sequence[str], mapping: Mapping) -> dict[str, int]:
    names = [h.strip() for h in header]
    found: dict[str, int] = {}
    for name, candidates in HEADERS.items():
        wanted = (mapping.columns[name],) if name in mapping.columns else candidates
        for c in wanted:
            if c in names:
                found[name] = names.index(c)
                break
        else:
            if name in mapping.columns:
                raise StatementError(f"the statement has no column {mapping.columns[name]!r}")
    if "date" not in found or not ("amount" in found or {"money_in", "money_out"} & found.keys()):
        raise StatementError(f"cannot find the date and amount columns in {names}")
    return found


def _amount(row: Sequence[str], cols: dict[str, int], where: str) -> int:
    if "amount" in cols:
        return to_fen(_cell(row, cols, "amount"), where)
    total = 0
    for name, sign in (("money_in", 1), ("money_out", -1)):
        cell = _cell(row, cols, name)
        if cell and cell != "-":
            total += sign * abs(to_fen(cell, where))
    return total


def _cell(row: Sequence[str], cols: dict[str, int], name: str) -> str:
    return row[cols[name]].strip() if name in cols and cols[name] < len(row) else ""


def read_statement(data: bytes, mapping: Mapping | None = None) -> list[BankLine]:
    """Every transaction line of a bank CSV (blank and summary lines without a date skipped)."""
    mapping = mapping or Mapping()
    rows = list(csv.reader(io.StringIO(decode(data))))[mapping.skip_rows :]
    if not rows:
        raise StatementError("the statement is empty")
    cols = _columns(rows[0], mapping)
    out = []
    for n, row in enumerate(rows[1:], start=mapping.skip_rows + 2):
        if not any(c.strip() for c in row) or not _DATE.search(_cell(row, cols, "date")):
            continue  # blank lines and totals ("合计") carry no date
        where = f"line {n}"
        balance = _cell(row, cols, "balance")
        out.append(
            BankLine(
                n,
                to_date(_cell(row, cols, "date"), where),
                _amount(row, cols, where),
                _cell(row, cols, "counterparty"),
                _cell(row, cols, "reference"),
                to_fen(balance, where) if balance else None,
            )
        )
    return out


def describe(line: BankLine) -> dict[str, Any]:
    return {
        "line": line.line,
        "date": line.date.isoformat(),
        "amount": line.amount,
        "counterparty": line.counterparty,
        "reference": line.reference,
    }
