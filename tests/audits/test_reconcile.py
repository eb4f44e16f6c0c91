"""Bank reconciliation: GBK and UTF-8 statements, column mappings, every kind of difference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audits.bankcsv import Mapping, StatementError, read_statement, to_fen
from tests.audits.conftest import populate, run_cli
from tests.factories import EstateFactory

HEADER = "交易日期,收入金额,支出金额,对方户名,摘要,余额\n"
# The ledger of populate(): receipts 1200.00 and 800.00 and a cleaning bill of 300.00 on
# 10-15, a duplicate receipt of 50.00 reversed the same day (never at the bank), then
# a receipt of 600.00 on 10-20 and a cleaning bill of 100.00 on 10-15.
ROWS = [
    "2026/10/15,1200.00,,业主,物业费,1200.00",
    "2026/10/15,800.00,,业主,停车费,2000.00",
    "2026/10/16,,300.00,常州某保洁服务有限公司,保洁费,1700.00",
    "2026/10/16,,100.00,常州某保洁服务有限公司,保洁费,1600.00",
    "2026/10/20,600.00,,业主,物业费,2200.00",
]


def statement(tmp_path: Path, rows: list[str], encoding: str = "gb18030") -> Path:
    path = tmp_path / "bank.csv"
    path.write_bytes((HEADER + "\n".join(rows) + "\n合计,,,,,\n").encode(encoding))
    return path


def reconcile(
    estate: EstateFactory, path: Path, *extra: str
) -> tuple[int, dict[str, Any] | None, str]:
    return run_cli(
        estate.service,
        "reconcile",
        "--estate",
        estate.id,
        "--bank-csv",
        str(path),
        "--json",
        *extra,
    )


def test_a_statement_that_matches(estate: EstateFactory, tmp_path: Path) -> None:
    populate(estate)
    code, report, output = reconcile(estate, statement(tmp_path, ROWS))
    assert code == 0, output
    assert report is not None and report["clean"] and len(report["matched"]) == 5


def test_differences_are_named(estate: EstateFactory, tmp_path: Path) -> None:
    seqs = populate(estate)
    rows = [
        *ROWS[:3],
        "2026/10/16,,5.00,银行,手续费,1695.00",
        ROWS[4].replace("2200.00", "2295.00"),
    ]
    code, report, output = reconcile(estate, statement(tmp_path, rows, "utf-8"))
    assert code == 1, output
    assert report is not None
    found = {(f["check"], f["seq"], f["evidence"].get("line")) for f in report["findings"]}
    assert ("bank-unmatched", None, 5) in found  # the bank fee
    spend = [f for f in report["findings"] if f["check"] == "ledger-unmatched"]
    assert [f["evidence"]["amount"] for f in spend] == [-10_000]
    assert spend[0]["seq"] > seqs["revoke"]
    apart = {
        f["evidence"]["date"]: f["evidence"]["difference"]
        for f in report["findings"]
        if f["check"] == "bank-balance"
    }
    assert apart == {"2026-10-15": 10_000, "2026-10-16": 9_500}  # the bill missing, then the fee


def test_bank_balance_column_is_checked(estate: EstateFactory, tmp_path: Path) -> None:
    populate(estate)
    rows = [*ROWS[:4], ROWS[4].replace("2200.00", "2300.00")]
    code, report, output = reconcile(estate, statement(tmp_path, rows))
    assert code == 1, output
    assert report is not None
    assert [(f["check"], f["evidence"]["line"]) for f in report["findings"]] == [
        ("bank-balance", 6)
    ]


def test_mapping_and_signed_amounts(estate: EstateFactory, tmp_path: Path) -> None:
    populate(estate)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"date": "Value date", "amount": "Net", "skip_rows": 1}))
    lines = ["Statement of account 共管账户", "Value date,Net,Who"]
    lines += ["20261015,1200,x", "20261015,800,x", "20261015,-300,x", "20261015,-100,x"]
    lines += ["20261020,600,x"]
    path = tmp_path / "bank.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    code, _, output = reconcile(estate, path, "--mapping", str(mapping))
    assert code == 0, output


def test_unreadable_statement_exits_2(estate: EstateFactory, tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("foo,bar\n1,2\n", "utf-8")
    assert reconcile(estate, path)[0] == 2
    assert reconcile(estate, tmp_path / "missing.csv")[0] == 2


@pytest.mark.parametrize(
    ("text", "fen"), [("1,234.56", 123456), ("-0.5", -50), ("￥88", 8800), ("(12.00)", -1200)]
)
def test_amounts(text: str, fen: int) -> None:
    assert to_fen(text, "x") == fen


def test_amounts_are_exact() -> None:
    with pytest.raises(StatementError):
        to_fen("1.005", "x")
    with pytest.raises(StatementError):
        read_statement("日期,金额\n2026-10-15,abc\n".encode())
    with pytest.raises(StatementError):
        Mapping.from_json(b'{"colour": "x"}')
