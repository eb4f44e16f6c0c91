"""Audits of published statements: signature, checkpoint, figures and correction chain.

The estate is the audit tests' populated one (every kind of entry, a reversal, a
budget, and a log-key rotation), dated October 2026; the service's clock says
November, so October and the fourth quarter-to-date months can be published.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from audits.bundle import BundleSource
from audits.run import AuditOptions, run_audit
from ledger.canonical import canonical_json
from ledger.note import Signer
from ledger.statement import document_sha256, sign_statement
from statements import store
from tests.audits.conftest import AuditDb, pairs, populate, run_cli
from tests.audits.tampering import insider, sql
from tests.factories import EstateFactory

NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def published(estate: EstateFactory) -> EstateFactory:
    estate.service.clock = lambda: NOW
    populate(estate)
    store.publish(estate.service, estate.id, "2026-09")
    store.publish(estate.service, estate.id, "2026-10")
    estate.append(estate.income(2_500))  # a late October entry …
    store.reissue(estate.service, estate.id, "2026-10")  # … and its correction
    return estate


def statement_findings(report) -> list[tuple[str, int | None]]:
    return sorted(p for p in pairs(report) if p[0] == "statements")


def forge(f: EstateFactory, period: str, number: int, change, signer: Signer | None = None):
    """Insert statement ``number`` of ``period``: the latest one changed, then signed."""
    with f.service.reader(f.id) as r:
        latest = store.latest(r.session, f.id, period)
        assert latest is not None
        vkey = r.row.vkey
    doc = latest.signed()
    statement = doc["statement"]
    statement["number"] = number
    statement["supersedes"] = {
        "number": latest.number,
        "sha256": latest.sha256,
        "checkpoint": statement["checkpoint"],
    }
    change(statement)
    signer = signer or f.service.log_keys.load(f.id, f.service.origin(f.id), vkey)
    signed = sign_statement(statement, signer)
    with insider(f.service) as conn:
        sql(
            conn,
            "INSERT INTO statements (estate_id, period, number, size, root, sha256, issued_at,"
            " document) VALUES (:e, :p, :n, :s, :r, :h, :i, :d)",
            e=f.id,
            p=period,
            n=number,
            s=statement["checkpoint"]["size"],
            r=b"\0" * 32,
            h=document_sha256(signed),
            i=statement["issued_at"],
            d=canonical_json(signed),
        )


def test_published_statements_audit_clean(published: EstateFactory, audit_db: AuditDb):
    report = audit_db(estates=[published.id])
    assert report.clean, report.findings


def test_figures_signed_by_the_log_key_but_wrong_are_found(
    published: EstateFactory, audit_db: AuditDb
):
    def lie(s):
        s["spending"]["total"] -= 10_000
        s["lines"][0]["amount"] += 1

    forge(published, "2026-10", 3, lie)
    found = [f for f in audit_db(estates=[published.id]).findings if f.check == "statements"]
    assert sorted(f.evidence.get("field") for f in found) == ["lines", "spending"]


def test_a_statement_signed_by_another_key_is_found(published: EstateFactory, audit_db: AuditDb):
    other = Signer.generate(published.service.origin(published.id))
    forge(published, "2026-10", 3, lambda s: None, signer=other)
    found = [f for f in audit_db(estates=[published.id]).findings if f.check == "statements"]
    assert len(found) == 1 and "does not verify" in found[0].message


def test_a_wrong_root_and_a_broken_chain_are_found(published: EstateFactory, audit_db: AuditDb):
    def root(s):
        s["checkpoint"]["root"] = "A" * 43 + "="
        s["supersedes"]["sha256"] = "0" * 64

    forge(published, "2026-10", 3, root)
    messages = [
        f.message for f in audit_db(estates=[published.id]).findings if f.check == "statements"
    ]
    assert len(messages) == 2
    assert any("root at size" in m for m in messages)
    assert any("does not name the one it supersedes" in m for m in messages)


def test_a_statement_beyond_the_log_means_it_was_cut_back(
    published: EstateFactory, audit_db: AuditDb
):
    def beyond(s):
        s["checkpoint"]["size"] += 5

    forge(published, "2026-10", 3, beyond)
    messages = [
        f.message for f in audit_db(estates=[published.id]).findings if f.check == "statements"
    ]
    assert messages and all("cut back" in m for m in messages)


def test_bundle_carries_the_statements_and_audits_them(
    published: EstateFactory, audit_db: AuditDb, tmp_path: Path
):
    out = tmp_path / "bundle"
    code, _, output = run_cli(
        published.service, "export", "--estate", published.id, "--out", str(out)
    )
    assert code == 0, output
    lines = (out / "statements.jsonl").read_bytes().splitlines()
    assert len(lines) == 3
    assert json.loads((out / "manifest.json").read_text())["statements"] == 3
    source = BundleSource(out)
    try:
        assert run_audit(source, AuditOptions(estates=[published.id])).clean
    finally:
        source.close()
    # A bundle whose statement was edited after export: found offline too.
    doc = json.loads(lines[0])
    doc["statement"]["income"]["total"] += 1
    (out / "statements.jsonl").write_bytes(b"\n".join([canonical_json(doc), *lines[1:]]) + b"\n")
    source = BundleSource(out)
    try:
        report = run_audit(source, AuditOptions(estates=[published.id]))
        assert statement_findings(report) == [("statements", None)]
    finally:
        source.close()
