"""Vouchers in an S3-compatible store, end to end over HTTP, on both engines.

The store is a real S3-compatible server over HTTP (``s3_endpoint``: moto's server on
127.0.0.1), a fresh bucket per test, chosen the way an operator chooses it: through
``TRUSTLEDGER_VOUCHER_STORE`` and ``TRUSTLEDGER_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from ledger.storage.blobs_s3 import S3BlobStores
from ledger.storage.service import LedgerService
from tests.api.test_posting_api import assert_problem, wire
from tests.audits.conftest import pairs, populate, run_cli
from tests.factories import EstateFactory

PDF = "%PDF-1.7\n% 电梯维修发票\n%%EOF\n".encode()
SHA = hashlib.sha256(PDF).hexdigest()
REF = {"sha256": SHA, "media_type": "application/pdf", "size": len(PDF), "name": "发票.pdf"}


@pytest.fixture
def settings(
    s3_stores: S3BlobStores, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("TRUSTLEDGER_VOUCHER_STORE", f"s3://{s3_stores.bucket}/vouchers")
    monkeypatch.setenv("TRUSTLEDGER_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("TRUSTLEDGER_S3_REGION", "cn-north-1")
    return Settings(data_dir=tmp_path / "data", write_rate=0)


@pytest.fixture
def svc(db_url: str, settings: Settings) -> Iterator[LedgerService]:
    service = LedgerService(
        db_url, settings.data_dir, "trustledger.example", blobs=settings.blob_stores()
    )
    yield service
    service.engine.dispose()


@pytest.fixture
def f(svc: LedgerService, estate_id: str) -> EstateFactory:
    return EstateFactory.create(svc, estate_id)


@pytest.fixture
def client(svc: LedgerService, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, svc)) as c:
        yield c


def objects(stores: S3BlobStores) -> list[str]:
    answer = stores.client.list_object_versions(Bucket=stores.bucket)
    return sorted(v["Key"] for v in answer.get("Versions", []))


def upload(client: TestClient, f: EstateFactory) -> None:
    r = client.put(
        f"/v1/estates/{f.id}/vouchers/{SHA}", content=PDF, headers={"content-type": "image/png"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["media_type"] == "application/pdf"  # from the bytes, not the header


def break_store(svc: LedgerService) -> S3BlobStores:
    """Point the service at a port nobody listens on; returns the working stores."""
    working = svc.blobs
    assert isinstance(working, S3BlobStores)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc.blobs = S3BlobStores(
        working.bucket, "vouchers", endpoint_url=f"http://127.0.0.1:{port}", region="cn-north-1"
    )
    return working


def test_a_voucher_uploaded_over_http_is_an_object_in_the_bucket(
    client: TestClient, f: EstateFactory, svc: LedgerService
) -> None:
    assert isinstance(svc.blobs, S3BlobStores)
    upload(client, f)
    assert objects(svc.blobs) == [f"vouchers/{f.id}/{SHA}"]
    again = client.put(f"/v1/estates/{f.id}/vouchers/{SHA}", content=PDF)
    assert again.status_code == 200, again.text
    got = client.get(f"/v1/estates/{f.id}/vouchers/{SHA}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    doc = f.signed("document", {"title": "电梯维修", "doc_type": "other"}, vouchers=[REF])
    r = client.post(f"/v1/estates/{f.id}/entries", json=wire(doc))
    assert r.status_code == 201, r.text
    assert client.get("/readyz").status_code == 200


def test_an_entry_citing_a_voucher_not_in_the_bucket_is_refused(
    client: TestClient, f: EstateFactory
) -> None:
    doc = f.signed("document", {"title": "电梯维修", "doc_type": "other"}, vouchers=[REF])
    before = client.get(f"/v1/estates/{f.id}").json()["size"]
    assert_problem(
        client.post(f"/v1/estates/{f.id}/entries", json=wire(doc)), 422, "missing-voucher"
    )
    assert client.get(f"/v1/estates/{f.id}").json()["size"] == before


def test_a_redaction_removes_the_object_and_every_version(
    client: TestClient, f: EstateFactory, svc: LedgerService
) -> None:
    stores = svc.blobs
    assert isinstance(stores, S3BlobStores)
    stores.client.put_bucket_versioning(
        Bucket=stores.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    upload(client, f)
    doc = f.signed("document", {"title": "登记表", "doc_type": "other"}, vouchers=[REF])
    assert client.post(f"/v1/estates/{f.id}/entries", json=wire(doc)).status_code == 201
    item = f.signed("redaction", {"sha256": SHA, "reason": "含业主身份证号"})
    r = client.post(f"/v1/estates/{f.id}/entries", json=wire(item))
    assert r.status_code == 201, r.text
    body = assert_problem(client.get(f"/v1/estates/{f.id}/vouchers/{SHA}"), 410, "voucher-redacted")
    assert body["reason"] == "含业主身份证号"
    assert objects(stores) == []
    assert "DeleteMarkers" not in stores.client.list_object_versions(Bucket=stores.bucket)


def test_an_unreachable_store_answers_503_and_changes_nothing(
    client: TestClient, f: EstateFactory, svc: LedgerService
) -> None:
    upload(client, f)
    base = f"/v1/estates/{f.id}"
    before = client.get(base).json()["size"]
    working = break_store(svc)
    other = b"%PDF-1.7\n% another\n%%EOF\n"
    put = client.put(f"{base}/vouchers/{hashlib.sha256(other).hexdigest()}", content=other)
    assert_problem(put, 503, "voucher-store-unavailable")
    assert_problem(client.get(f"{base}/vouchers/{SHA}"), 503, "voucher-store-unavailable")
    doc = f.signed("document", {"title": "电梯维修", "doc_type": "other"}, vouchers=[REF])
    assert_problem(client.post(f"{base}/entries", json=wire(doc)), 503, "voucher-store-unavailable")
    assert client.get(base).json()["size"] == before
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "voucher store" in ready.json()["detail"]
    assert client.get("/healthz").status_code == 200
    svc.blobs = working
    assert objects(working) == [f"vouchers/{f.id}/{SHA}"]
    assert client.post(f"{base}/entries", json=wire(doc)).status_code == 201


def test_a_redaction_committed_while_the_store_is_down_deletes_the_bytes_later(
    client: TestClient, f: EstateFactory, svc: LedgerService
) -> None:
    upload(client, f)
    base = f"/v1/estates/{f.id}"
    doc = f.signed("document", {"title": "登记表", "doc_type": "other"}, vouchers=[REF])
    assert client.post(f"{base}/entries", json=wire(doc)).status_code == 201
    working = break_store(svc)
    item = f.signed("redaction", {"sha256": SHA, "reason": "含业主身份证号"})
    r = client.post(f"{base}/entries", json=wire(item))
    assert r.status_code == 201, r.text  # committed: the caller must not retry it
    assert objects(working) == [f"vouchers/{f.id}/{SHA}"]  # left behind, never served
    assert_problem(client.get(f"{base}/vouchers/{SHA}"), 410, "voucher-redacted")
    svc.blobs = working
    assert_problem(client.get(f"{base}/vouchers/{SHA}"), 410, "voucher-redacted")
    assert objects(working) == []


def test_the_audit_reads_vouchers_from_the_bucket(
    f: EstateFactory, svc: LedgerService, settings: Settings
) -> None:
    seqs = populate(f)
    code, report, output = run_cli(svc, "audit", "--estate", f.id, "--json")
    assert code == 0 and report is not None and report["findings"] == [], output
    stores = svc.blobs
    assert isinstance(stores, S3BlobStores)
    with svc.reader(f.id) as r:
        import json

        sha = json.loads(r.leaf(seqs["budget"]))["payload"]["vouchers"][0]["sha256"]
    stores.client.delete_object(Bucket=stores.bucket, Key=f"vouchers/{f.id}/{sha}")
    code, report, output = run_cli(svc, "audit", "--estate", f.id, "--json")
    assert code == 1 and report is not None, output
    assert ("vouchers", seqs["budget"]) in pairs(report)
