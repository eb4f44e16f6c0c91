"""Fixtures for the audit tests: a clean estate with every kind of entry, on both engines.

:func:`populate` adds to an :class:`~tests.factories.EstateFactory` estate (genesis,
chart) fee receipts, a co-signed spend with an invoice voucher, a budget with the
assembly's minutes, a document, a reversal, a key registration and a revocation, a
redaction of the document's voucher and a rotation of the log key, appended in
several batches (so there are several checkpoints, signed by two log keys).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from audits.db import DatabaseSource
from audits.run import AuditOptions, AuditReport, run_audit
from ledger.signing import AuthorKey
from ledger.storage.service import LedgerService
from tests.factories import BANK, EstateFactory

AuditDb = Callable[..., AuditReport]


def voucher(estate: EstateFactory, name: str, text: str) -> dict[str, Any]:
    """Upload a small PDF-looking voucher for ``estate`` and return its reference."""
    data = b"%PDF-1.4\n" + text.encode("utf-8") + b"\n%%EOF\n"
    sha = hashlib.sha256(data).hexdigest()
    estate.service.blobs_for(estate.id).put(sha, data)
    return {"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": name}


def populate(f: EstateFactory) -> dict[str, int]:
    """Add one of every kind of entry to a created estate; returns some seqs by name."""
    seqs: dict[str, int] = {}
    f.append(f.income(120_000), f.income(80_000, "Income:Public:Parking"))
    invoice = voucher(f, "保洁发票-2026-10.pdf", "cleaning invoice")
    spend = f.signed(
        "transaction",
        {
            "postings": [
                {"account": BANK, "amount": -30_000},
                {"account": "Expenses:Cleaning", "amount": 30_000},
            ],
            "counterparty": "常州某保洁服务有限公司",
            "category": "保洁",
        },
        f.trustee,
        f.committee,
        vouchers=[invoice],
        memo="10月保洁费",
    )
    seqs["spend"] = f.append(spend)[0].entry.seq
    minutes = voucher(f, "2026年度预算业主大会决议.pdf", "budget minutes")
    budget = f.signed(
        "budget",
        {"year": 2026, "lines": [{"account": "Expenses:Cleaning", "amount": 360_000}]},
        f.committee,
        vouchers=[minutes],
    )
    contract = voucher(f, "物业服务合同.pdf", "trust contract")
    document = f.signed(
        "document",
        {"title": "物业服务合同", "doc_type": "contract"},
        f.committee,
        vouchers=[contract],
    )
    seqs["budget"], seqs["document"] = (a.entry.seq for a in f.append(budget, document))
    wrong = f.append(f.income(5_000))[0].entry.seq
    reversal = f.signed("reversal", {"target": wrong, "reason": "重复记账"}, f.trustee, f.committee)
    seqs["wrong"], seqs["reversal"] = wrong, f.append(reversal)[0].entry.seq
    newcomer = AuthorKey.generate()
    register = f.signed(
        "key",
        {
            "action": "register",
            "public_key": _b64(newcomer.public_key),
            "role": "committee",
            "holder": "业委会 王五",
            "reason": "换届",
        },
        f.committee,
        f.operator,
    )
    revoke = f.signed(
        "key",
        {"action": "revoke", "key_id": f.committee2.key_id, "reason": "换届离任"},
        f.committee,
        f.operator,
    )
    seqs["register"], seqs["revoke"] = (a.entry.seq for a in f.append(register, revoke))
    redaction = f.signed(
        "redaction",
        {"sha256": contract["sha256"], "reason": "合同含个人信息，撤回原件"},
        f.committee,
    )
    seqs["redaction"] = f.append(redaction)[0].entry.seq
    f.service.rotate_log_key(f.id)  # the log key hands over at this size
    seqs["rotation"] = seqs["redaction"] + 1
    f.append(f.income(60_000, date=dt.date(2026, 10, 20)), f.spend(10_000))
    return seqs


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def clean(estate: EstateFactory) -> EstateFactory:
    populate(estate)
    return estate


def audit_service(service: LedgerService, **options: Any) -> AuditReport:
    source = DatabaseSource(service.url, service.data_dir, engine=service.engine)
    try:
        return run_audit(source, AuditOptions(**options))
    finally:
        source.close()


@pytest.fixture
def audit_db(service: LedgerService) -> AuditDb:
    def run(**options: Any) -> AuditReport:
        return audit_service(service, **options)

    return run


@pytest.fixture
def data_dir(service: LedgerService) -> Path:
    return service.data_dir


def run_cli(service: LedgerService, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``trustledger ARGS`` in-process against ``service``'s database and data dir.

    Returns (exit code, the ``--json`` report if one was printed, everything printed).
    """
    import json

    from typer.testing import CliRunner

    from api.cli import app

    env = {"TRUSTLEDGER_DATA_DIR": str(service.data_dir), "TRUSTLEDGER_DATABASE_URL": service.url}
    result = CliRunner().invoke(app, list(args), env=env)
    report = None
    if "--json" in args and result.stdout.strip().startswith("{"):
        report = json.loads(result.stdout)
    return result.exit_code, report, result.output


def pairs(report: dict[str, Any] | AuditReport) -> set[tuple[str, int | None]]:
    """``(check, seq)`` of every finding of a report (JSON or object)."""
    if isinstance(report, dict):
        return {(f["check"], f["seq"]) for f in report["findings"]}
    return {(f.check, f.seq) for f in report.findings}
