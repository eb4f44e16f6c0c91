"""Redacted vouchers over HTTP: 410 with the reason, bytes gone, re-upload refused.

The log itself is untouched by a redaction (it only appends the redaction entry),
so every checkpoint and proof still verifies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.checkpoint import verify_checkpoint
from ledger.storage.blobs import FilesystemBlobStore
from ledger.storage.verify import verify_estate
from tests.api.test_posting_api import assert_problem, wire
from tests.factories import EstateFactory

PDF = "%PDF-1.7\n% 含身份证号的扫描件\n%%EOF\n".encode()
SHA = hashlib.sha256(PDF).hexdigest()
REF = {"sha256": SHA, "media_type": "application/pdf", "size": len(PDF), "name": "扫描件.pdf"}


@pytest.fixture
def redacted(
    estate_client: tuple[TestClient, EstateFactory],
) -> tuple[TestClient, EstateFactory, int]:
    client, f = estate_client
    base = f"/v1/estates/{f.id}"
    put = client.put(
        f"{base}/vouchers/{SHA}", content=PDF, headers={"content-type": "application/pdf"}
    )
    assert put.status_code == 201, put.text
    doc = f.signed(
        "document", {"title": "维修记录", "doc_type": "other"}, f.committee, vouchers=[REF]
    )
    assert client.post(f"{base}/entries", json=wire(doc)).status_code == 201
    assert client.get(f"{base}/vouchers/{SHA}").content == PDF
    item = f.signed("redaction", {"sha256": SHA, "reason": "误传，含业主身份证号"}, f.committee)
    r = client.post(f"{base}/entries", json=wire(item))
    assert r.status_code == 201, r.text
    return client, f, r.json()["seq"]


def blob_path(f: EstateFactory) -> Path:
    store = f.service.blobs_for(f.id)
    assert isinstance(store, FilesystemBlobStore)
    return store.root / SHA[:2] / SHA


def test_a_redacted_voucher_answers_410_with_the_reason(
    redacted: tuple[TestClient, EstateFactory, int],
) -> None:
    client, f, seq = redacted
    body = assert_problem(client.get(f"/v1/estates/{f.id}/vouchers/{SHA}"), 410, "voucher-redacted")
    assert body["reason"] == "误传，含业主身份证号" and body["seq"] == seq
    assert str(seq) in body["detail"]
    assert not blob_path(f).exists()


def test_redacted_bytes_cannot_be_uploaded_again(
    redacted: tuple[TestClient, EstateFactory, int],
) -> None:
    client, f, _ = redacted
    r = client.put(
        f"/v1/estates/{f.id}/vouchers/{SHA}",
        content=PDF,
        headers={"content-type": "application/pdf"},
    )
    assert_problem(r, 410, "voucher-redacted")
    assert not blob_path(f).exists()


def test_the_log_still_verifies(redacted: tuple[TestClient, EstateFactory, int]) -> None:
    client, f, seq = redacted
    base = f"/v1/estates/{f.id}"
    vkey = client.get(f"{base}/log-key").json()["vkey"]
    assert verify_checkpoint(client.get(f"{base}/checkpoint").text, vkey).size == seq + 1
    entry = client.get(f"{base}/entries/{seq}").json()["entry"]
    assert entry["payload"]["kind"] == "redaction" and entry["payload"]["body"]["sha256"] == SHA
    with f.service.session() as s:
        assert verify_estate(s, f.id).tree.size == seq + 1


def test_bytes_left_by_a_crash_are_never_served(
    redacted: tuple[TestClient, EstateFactory, int],
) -> None:
    """A crash between the commit and the deletion leaves the bytes; they stay hidden."""
    client, f, _ = redacted
    f.service.blobs_for(f.id).put(SHA, PDF)  # as if the deletion had not happened
    assert_problem(client.get(f"/v1/estates/{f.id}/vouchers/{SHA}"), 410, "voucher-redacted")
    assert not blob_path(f).exists()


def test_redacting_over_http_refuses_an_unreferenced_hash(
    estate_client: tuple[TestClient, EstateFactory],
) -> None:
    client, f = estate_client
    item = f.signed("redaction", {"sha256": "0" * 64, "reason": "x"}, f.committee)
    assert_problem(client.post(f"/v1/estates/{f.id}/entries", json=wire(item)), 409, "log-state")
