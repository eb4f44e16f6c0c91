"""Statements over HTTP: produced on request for closed periods, cached, corrected, verified.

Runs on both engines. The estate's entries are dated 2026-10-15 (the factory's day)
and the service's clock says 2026-11-26, so October is closed and November is not.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.errors import LogStateError, StatementError
from ledger.statement import verify_statement
from statements import store
from statements.verify import verify_file
from tests.factories import EstateFactory

NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def books(estate_client: tuple[TestClient, EstateFactory]) -> tuple[TestClient, EstateFactory]:
    client, f = estate_client
    f.service.clock = lambda: NOW
    f.append(f.income(120_000), f.income(30_000, "Income:Public:Parking"))
    f.append(f.spend(45_000))
    return client, f


def base(f: EstateFactory) -> str:
    return f"/v1/estates/{f.id}/statements"


def test_a_closed_month_is_produced_once_and_served_unchanged(books):
    client, f = books
    listing = client.get(base(f)).json()
    assert listing["statements"] == []
    assert "2026-10" in listing["closed_periods"] and "2026-11" not in listing["closed_periods"]
    first = client.get(f"{base(f)}/2026-10")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    doc = first.json()
    vkey = client.get(f"/v1/estates/{f.id}/log-key").json()["vkey"]
    verified = verify_statement(doc, [vkey])
    s = verified.statement
    assert s["period"] == {"id": "2026-10", "start": "2026-10-01", "end": "2026-10-31"}
    assert s["income"]["total"] == 150_000 and s["spending"]["total"] == 45_000
    assert [g["group"] for g in s["income"]["groups"]] == ["fees", "public"]
    bank = next(a for a in s["accounts"] if a["account"] == "Assets:Bank:CoManaged")
    assert (bank["opening"], bank["debits"], bank["credits"], bank["closing"]) == (
        0,
        150_000,
        45_000,
        105_000,
    )
    checkpoint = client.get(f"/v1/estates/{f.id}/checkpoint").text.split("\n")
    assert s["checkpoint"] == {"size": int(checkpoint[1]), "root": checkpoint[2]}
    again = client.get(f"{base(f)}/2026-10")
    assert again.content == first.content  # cached, never recomputed
    listed = client.get(base(f)).json()["statements"]
    assert [(x["period"], x["number"], x["superseded_by"]) for x in listed] == [
        ("2026-10", 1, None)
    ]


def test_open_future_and_malformed_periods_are_clear_errors(books):
    client, f = books
    for period, status, kind in [
        ("2026-11", 409, "period-not-closed"),
        ("2027-01", 409, "period-not-closed"),
        ("2026", 409, "period-not-closed"),
        ("2026-13", 422, "invalid-input"),
        ("2026-Q5", 422, "invalid-input"),
        ("26-10", 422, "invalid-input"),
    ]:
        r = client.get(f"{base(f)}/{period}")
        assert r.status_code == status, period
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == f"/problems/{kind}"
    assert client.get("/v1/estates/no-such-estate/statements/2026-10").status_code == 404
    assert client.get(f"{base(f)}/2026-10?number=3").status_code == 404
    assert client.get(base(f)).json()["statements"] == []  # nothing half-published


def test_an_empty_period_gives_a_correct_statement(books):
    client, f = books
    s = client.get(f"{base(f)}/2026-09").json()["statement"]
    assert s["lines"] == [] and s["income"]["total"] == 0 and s["spending"]["total"] == 0
    assert all(a["opening"] == a["closing"] == 0 for a in s["accounts"])


def test_a_late_entry_is_published_as_a_correction(books):
    client, f = books
    first = client.get(f"{base(f)}/2026-10").json()
    f.append(f.income(7_000))  # dated in October, appended after publication
    second = store.reissue(f.service, f.id, "2026-10")
    assert second.number == 2
    doc = client.get(f"{base(f)}/2026-10").json()
    assert doc["statement"]["number"] == 2
    assert doc["statement"]["supersedes"]["sha256"] == store.document_sha256(first)
    assert doc["statement"]["income"]["total"] == first["statement"]["income"]["total"] + 7_000
    old = client.get(f"{base(f)}/2026-10?number=1")
    assert old.json() == first and "immutable" in old.headers["cache-control"]
    listed = client.get(base(f)).json()["statements"]
    assert [(x["number"], x["superseded_by"]) for x in listed] == [(1, 2), (2, None)]
    with pytest.raises(LogStateError):  # nothing changed since: no correction
        store.reissue(f.service, f.id, "2026-10")


def test_verify_file_checks_a_statement_against_the_live_log(books, tmp_path: Path):
    client, f = books
    doc = client.get(f"{base(f)}/2026-10").json()
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    f.append(f.income(1_000, date=dt.date(2026, 11, 2)))  # the log grows afterwards
    report = verify_file(path, url=str(client.base_url), client=client)
    assert report.ok, report.checks
    assert [c.name for c in report.checks] == [
        "signature",
        "log-key",
        "checkpoint",
        "consistency",
        "leaves",
        "figures",
    ]

    # Figures changed and re-signed by someone else's key: refused at the signature.
    forged = json.loads(json.dumps(doc))
    forged["statement"]["income"]["total"] += 100
    path.write_text(json.dumps(forged), "utf-8")
    report = verify_file(path, url=str(client.base_url), client=client)
    assert not report.ok and report.checks[0].name == "signature"
    with pytest.raises(StatementError):
        verify_statement(forged)

    # Signed by the log key itself but with wrong figures (a dishonest operator).
    signer = f.service.log_keys.load(f.id, f.service.origin(f.id), _vkey(client, f))
    from ledger.statement import sign_statement

    lying = sign_statement(forged["statement"], signer)
    path.write_text(json.dumps(lying), "utf-8")
    report = verify_file(path, url=str(client.base_url), client=client)
    assert not report.ok
    failed = [c for c in report.checks if not c.ok]
    assert [c.name for c in failed] == ["figures"] and "income" in failed[0].detail


def _vkey(client: TestClient, f: EstateFactory) -> str:
    return str(client.get(f"/v1/estates/{f.id}/log-key").json()["vkey"])


def test_the_pdf_is_signed_carries_the_json_and_is_stored_once(books, tmp_path: Path):
    client, f = books
    from statements import ca

    missing = client.get(f"{base(f)}/2026-10.pdf")
    assert missing.status_code == 503  # no CA yet: a clear problem, nothing stored
    assert missing.json()["type"] == "/problems/ca-missing"
    ca.init_ca(f.service.data_dir)
    ca.issue_estate_cert(f.service.data_dir, f.id, "测试小区")
    r = client.get(f"{base(f)}/2026-10.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert client.get(f"{base(f)}/2026-10.pdf").content == r.content  # stored, not re-rendered
    path = tmp_path / "s.pdf"
    path.write_bytes(r.content)
    report = verify_file(
        path, url=str(client.base_url), client=client, ca=ca.ca_paths(f.service.data_dir)[1]
    )
    assert report.ok, report.checks
    assert [c.name for c in report.checks][:3] == ["pdf-signature", "pdf-certificate", "signature"]
    english = client.get(f"{base(f)}/2026-10.pdf?lang=en")
    assert english.status_code == 200 and english.content != r.content
    # One byte changed inside the signed range: the PDF signature no longer holds.
    broken = bytearray(r.content)
    at = broken.index(b"/Type /Page") + 2
    broken[at] ^= 0x01
    path.write_bytes(bytes(broken))
    report = verify_file(path)
    assert not report.ok and report.checks[0].name == "pdf-signature" and not report.checks[0].ok
