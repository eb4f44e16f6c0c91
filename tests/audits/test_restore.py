"""Backups: export, then import into another database, gives the same log, byte for byte.

The populated estate has every kind of entry, a redaction and a log-key rotation;
its statements are published first. The restore crosses engines (SQLite to
PostgreSQL and back) and lands in a fresh data directory holding only the restored
log-key files. A tampered bundle or a missing log key is refused with nothing
written.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from audits.bundle import BundleSource
from audits.restore import restore_estate
from ledger.canonical import b64encode, canonical_json
from ledger.errors import LedgerError
from ledger.storage.db import migrate
from ledger.storage.models import CheckpointRow, EntryRow, EstateRow, StatementRow
from ledger.storage.service import LedgerService
from statements import store
from tests.audits.conftest import audit_service, populate, run_cli
from tests.factories import EstateFactory

NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def bundle(estate: EstateFactory, tmp_path: Path) -> Path:
    estate.service.clock = lambda: NOW
    populate(estate)
    store.publish(estate.service, estate.id, "2026-10")
    out = tmp_path / "bundle"
    code, _, output = run_cli(estate.service, "export", "--estate", estate.id, "--out", str(out))
    assert code == 0, output
    return out


@pytest.fixture
def target(estate: EstateFactory, tmp_path: Path, request: pytest.FixtureRequest):
    """A fresh service on the other engine, its data dir holding the log-key backup."""
    if estate.service.engine.dialect.name == "sqlite":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path / 'restored.db'}"
        migrate(url)
    data = tmp_path / "restored-data"
    shutil.copytree(estate.service.data_dir / "logkeys", data / "logkeys")
    svc = LedgerService(url, data, "trustledger.example")
    yield svc
    svc.engine.dispose()


def rows(svc: LedgerService, estate: str):
    with svc.session() as s:
        entries = s.execute(
            select(EntryRow.seq, EntryRow.leaf).where(EntryRow.estate_id == estate)
        ).all()
        notes = s.execute(
            select(CheckpointRow.size, CheckpointRow.note).where(CheckpointRow.estate_id == estate)
        ).all()
        docs = s.scalars(select(StatementRow.document).where(StatementRow.estate_id == estate))
        return sorted(entries), sorted(notes), sorted(bytes(d) for d in docs)


def test_export_then_import_gives_the_same_log(estate, bundle, target):
    source = BundleSource(bundle)
    try:
        done = restore_estate(target, source, estate.id)
    finally:
        source.close()
    assert rows(target, estate.id) == rows(estate.service, estate.id)
    assert done.checkpoints == len(rows(target, estate.id)[1]) and done.statements == 1
    assert done.vouchers >= 2  # the invoice and the minutes; the redacted contract is gone
    report = audit_service(target, estates=[estate.id])
    assert report.clean, report.findings
    assert (
        report.estates[0].root == audit_service(estate.service, estates=[estate.id]).estates[0].root
    )
    appended = target.append(estate.id, [estate.income(4_200)])[0]  # the chain goes on
    assert appended.entry.seq == done.size
    assert audit_service(target, estates=[estate.id]).clean


def test_a_tampered_bundle_is_refused_with_nothing_written(estate, bundle, target):
    lines = (bundle / "leaves.jsonl").read_text().splitlines()
    doc = json.loads(lines[3])
    leaf = json.loads(base64.b64decode(doc["leaf"]))
    leaf["payload"]["memo"] = "改过的备注"
    doc["leaf"] = b64encode(canonical_json(leaf))
    lines[3] = json.dumps(doc)
    (bundle / "leaves.jsonl").write_text("\n".join(lines) + "\n")
    source = BundleSource(bundle)
    try:
        with pytest.raises(LedgerError, match=r"(?i)signature"):  # the author's, on seq 3
            restore_estate(target, source, estate.id)
    finally:
        source.close()
    with target.session() as s:
        assert s.get(EstateRow, estate.id) is None


def test_a_missing_log_key_is_a_clear_error(estate, bundle, target):
    shutil.rmtree(target.data_dir / "logkeys")
    code, _, output = run_cli_on(target, "import", "--bundle", str(bundle))
    assert code == 2 and "log-key backup" in output
    with target.session() as s:
        assert s.get(EstateRow, estate.id) is None


def run_cli_on(svc: LedgerService, *args: str):
    return run_cli(svc, *args)
