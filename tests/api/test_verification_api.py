"""The public verification API (DESIGN.md's table), row by row, on both engines.

Everything a client gets is checked the way an outside verifier would: leaves
re-encoded with RFC 8785, checkpoints opened with the published verifier key,
inclusion and consistency proofs verified with ``ledger.merkle`` against roots that
the client computes itself (from the leaves) or got signed earlier (checkpoints
fetched while the log grew).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import rfc8785
from fastapi.testclient import TestClient

from ledger.checkpoint import verify_checkpoint
from ledger.merkle import hash_leaf, root_from_leaf_hashes, verify_consistency, verify_inclusion
from ledger.payload import author_key_id
from ledger.storage.service import LedgerService
from tests.api.conftest import ClientFactory
from tests.factories import BANK, CHART, EstateFactory

PROBLEM = "application/problem+json"


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == f"/problems/{code}", body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


# -- a log that grows in steps, with a signed checkpoint fetched at each step -----------------


@dataclass
class GrownLog:
    client: TestClient
    factory: EstateFactory
    base: str
    checkpoints: dict[int, bytes] = field(default_factory=dict)  # size -> signed root
    income: int = 0
    spent: int = 0

    @property
    def size(self) -> int:
        return max(self.checkpoints)

    def signed_root(self) -> tuple[int, bytes]:
        """Fetch the checkpoint and open it with the published log key."""
        key = self.client.get(f"{self.base}/log-key").json()
        r = self.client.get(f"{self.base}/checkpoint")
        assert r.status_code == 200
        cp = verify_checkpoint(r.text, key["vkey"], key["origin"])
        self.checkpoints[cp.size] = cp.root
        return cp.size, cp.root

    def leaves(self) -> list[bytes]:
        r = self.client.get(f"{self.base}/entries", params={"limit": 1000})
        assert r.json()["next"] is None
        return [b64(e["leaf"]) for e in r.json()["entries"]]


# Sizes after each step: 1 (genesis), 7 (chart), then powers of two and their neighbours.
STEPS = [1, 1, 3, 4, 1, 8, 7, 1, 7]  # -> 8, 9, 12, 16, 17, 25, 32, 33, 40
SIZES = [1, 7, 8, 9, 12, 16, 17, 25, 32, 33, 40]


@pytest.fixture
def grown(client: TestClient, service: LedgerService, estate_id: str) -> GrownLog:
    f = EstateFactory.create(service, estate_id, accounts=False)
    log = GrownLog(client, f, f"/v1/estates/{estate_id}")
    log.signed_root()
    f.append(*[f.open_account(n, t, z) for n, t, z in CHART])
    log.signed_root()
    n = 0
    for step in STEPS:
        items = []
        for _ in range(step):
            n += 1
            if n % 3 == 0:
                items.append(f.spend(100 * n))
                log.spent += 100 * n
            else:
                items.append(f.income(1000 * n))
                log.income += 1000 * n
        f.append(*items)
        log.signed_root()
    assert sorted(log.checkpoints) == SIZES
    return log


# -- estates, details, log key, checkpoint ----------------------------------------------------


def test_estates_list(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    r = client.get("/v1/estates")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"estates"}
    mine = [e for e in body["estates"] if e["id"] == f.id]
    assert mine == [
        {"id": f.id, "name": "测试小区", "origin": f"trustledger.example/estates/{f.id}"}
    ]
    for e in body["estates"]:
        assert set(e) == {"id", "name", "origin"}


def test_estate_details(grown: GrownLog) -> None:
    f = grown.factory
    r = grown.client.get(grown.base)
    assert r.status_code == 200
    d = r.json()
    assert d["id"] == f.id
    assert d["name"] == "测试小区"
    assert d["address"] == "常州市测试路 1 号"
    assert d["currency"] == "CNY"
    assert d["households"] == 100
    assert d["origin"] == f"trustledger.example/estates/{f.id}"
    assert d["vkey"] == grown.client.get(f"{grown.base}/log-key").json()["vkey"]
    assert d["size"] == 40
    assert d["checkpoint"] == {"size": 40, "root": base64.b64encode(grown.checkpoints[40]).decode()}
    assert d["policy"]["spend"] == {"all_of": ["trustee", "committee"]}
    # Chart of accounts with balances (fen, debit positive).
    accounts = {a["name"]: a for a in d["accounts"]}
    assert set(accounts) == {name for name, _, _ in CHART}
    for name, type_, display in CHART:
        assert accounts[name]["type"] == type_
        assert accounts[name]["display_name"] == display
        assert accounts[name]["closed_seq"] is None
        assert 1 <= accounts[name]["opened_seq"] <= 6
    assert grown.income > 0 and grown.spent > 0
    assert accounts[BANK]["balance"] == grown.income - grown.spent
    assert accounts["Income:PropertyFee"]["balance"] == -grown.income
    assert accounts["Expenses:Cleaning"]["balance"] == grown.spent
    assert accounts["Equity:Opening"]["balance"] == 0
    assert sum(a["balance"] for a in d["accounts"]) == 0
    # Founding keys with their roles.
    keys = {k["key_id"]: k for k in d["keys"]}
    expected = {
        f.operator.key_id: "operator",
        f.committee.key_id: "committee",
        f.committee2.key_id: "committee",
        f.trustee.key_id: "trustee",
        f.supervisor.key_id: "supervisor",
    }
    assert {k: v["role"] for k, v in keys.items()} == expected
    for k in keys.values():
        assert author_key_id(b64(k["public_key"])) == k["key_id"]
        assert k["added_seq"] == 0 and k["revoked_seq"] is None
        assert k["holder"]


def test_unknown_estate_is_404_everywhere(client: TestClient) -> None:
    for path in (
        "/v1/estates/no-such",
        "/v1/estates/no-such/log-key",
        "/v1/estates/no-such/checkpoint",
        "/v1/estates/no-such/entries",
        "/v1/estates/no-such/entries/0",
        "/v1/estates/no-such/proofs/inclusion?seq=0&tree_size=1",
        "/v1/estates/no-such/proofs/consistency?from=1&to=1",
        "/v1/estates/no-such/vouchers/" + "0" * 64,
    ):
        assert_problem(client.get(path), 404, "not-found")


def test_log_key_and_checkpoint(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    base = f"/v1/estates/{f.id}"
    key = client.get(f"{base}/log-key")
    assert key.status_code == 200
    assert set(key.json()) == {"origin", "vkey"}
    origin, vkey = key.json()["origin"], key.json()["vkey"]
    assert origin == f"trustledger.example/estates/{f.id}"
    assert vkey.startswith(origin + "+")
    r = client.get(f"{base}/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    cp = verify_checkpoint(r.text, vkey, origin)
    assert cp.origin == origin
    assert cp.size == 7
    leaves = [b64(e["leaf"]) for e in client.get(f"{base}/entries").json()["entries"]]
    assert cp.root == root_from_leaf_hashes([hash_leaf(x) for x in leaves])
    # After an append the checkpoint moves on, still signed by the same key.
    f.append(f.income(500))
    cp2 = verify_checkpoint(client.get(f"{base}/checkpoint").text, vkey, origin)
    assert cp2.size == 8 and cp2.root != cp.root


# -- entries ----------------------------------------------------------------------------------


def check_item(item: dict[str, Any], seq: int) -> bytes:
    assert set(item) == {"seq", "leaf", "entry"}
    assert item["seq"] == seq == item["entry"]["seq"]
    leaf = b64(item["leaf"])
    assert rfc8785.dumps(item["entry"]) == leaf
    assert set(item["entry"]) == {"seq", "prev", "recorded_at", "payload", "signatures"}
    return leaf


def test_entries_pages_stitch(grown: GrownLog) -> None:
    client, base = grown.client, grown.base
    seen: list[bytes] = []
    start: int | None = 0
    pages = 0
    while start is not None:
        r = client.get(f"{base}/entries", params={"start": start, "limit": 7})
        assert r.status_code == 200
        page = r.json()
        assert set(page) == {"entries", "next"}
        assert 1 <= len(page["entries"]) <= 7
        for item in page["entries"]:
            seen.append(check_item(item, len(seen)))
        start = page["next"]
        assert start is None or start == len(seen)
        pages += 1
    assert pages == 6 and len(seen) == 40
    # The chain: each entry's prev is the leaf hash of the one before.
    entries = [rfc8785_loads(x) for x in seen]
    assert entries[0]["prev"] is None
    for seq in range(1, 40):
        assert b64(entries[seq]["prev"]) == hash_leaf(seen[seq - 1])
    # The leaves hash to the signed root.
    assert root_from_leaf_hashes([hash_leaf(x) for x in seen]) == grown.checkpoints[40]
    # One page covering everything, and a page ending exactly at the end: next is null.
    whole = client.get(f"{base}/entries", params={"limit": 1000}).json()
    assert [b64(i["leaf"]) for i in whole["entries"]] == seen and whole["next"] is None
    tail = client.get(f"{base}/entries", params={"start": 30, "limit": 10}).json()
    assert [i["seq"] for i in tail["entries"]] == list(range(30, 40)) and tail["next"] is None
    head = client.get(f"{base}/entries", params={"start": 0, "limit": 39}).json()
    assert head["next"] == 39
    # Default limit is 100: the whole log here.
    assert len(client.get(f"{base}/entries").json()["entries"]) == 40


def rfc8785_loads(leaf: bytes) -> dict[str, Any]:
    import json

    value = json.loads(leaf)
    assert rfc8785.dumps(value) == leaf
    return value


def test_entries_limits(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    base = f"/v1/estates/{f.id}/entries"
    body = assert_problem(client.get(base, params={"limit": 1001}), 422, "invalid-input")
    assert "limit" in body["field"]
    assert_problem(client.get(base, params={"limit": 0}), 422, "invalid-input")
    assert_problem(client.get(base, params={"start": -1}), 422, "invalid-input")
    assert_problem(client.get(base, params={"start": "x"}), 422, "invalid-input")
    assert client.get(base, params={"limit": 1000}).status_code == 200
    for start in (7, 8, 1000, 2**40):
        r = client.get(base, params={"start": start, "limit": 5})
        assert r.status_code == 200
        assert r.json() == {"entries": [], "next": None}


def test_single_entry(grown: GrownLog) -> None:
    client, base = grown.client, grown.base
    page = client.get(f"{grown.base}/entries", params={"limit": 1000}).json()["entries"]
    for seq in (0, 1, 7, 20, 39):
        r = client.get(f"{base}/entries/{seq}")
        assert r.status_code == 200
        item = r.json()
        check_item(item, seq)
        assert item == page[seq]
        assert "immutable" in r.headers["cache-control"]
    assert_problem(client.get(f"{base}/entries/40"), 404, "not-found")
    assert_problem(client.get(f"{base}/entries/-1"), 422, "invalid-input")
    assert_problem(client.get(f"{base}/entries/abc"), 422, "invalid-input")


# -- proofs -----------------------------------------------------------------------------------


def inclusion(client: TestClient, base: str, seq: int, size: int) -> list[bytes]:
    r = client.get(f"{base}/proofs/inclusion", params={"seq": seq, "tree_size": size})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"seq", "tree_size", "hashes"}
    assert body["seq"] == seq and body["tree_size"] == size
    return [b64(h) for h in body["hashes"]]


def consistency(client: TestClient, base: str, m: int, n: int) -> list[bytes]:
    r = client.get(f"{base}/proofs/consistency", params={"from": m, "to": n})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"from", "to", "hashes"}
    assert body["from"] == m and body["to"] == n
    return [b64(h) for h in body["hashes"]]


def test_roots_at_smaller_sizes_agree(grown: GrownLog) -> None:
    """A root at an earlier size, rebuilt from the leaves, equals the one signed then, and
    the consistency proof from it to the latest signed root verifies."""
    leaf_hashes = [hash_leaf(x) for x in grown.leaves()]
    latest = grown.checkpoints[40]
    for size, signed in grown.checkpoints.items():
        assert root_from_leaf_hashes(leaf_hashes[:size]) == signed
        proof = consistency(grown.client, grown.base, size, 40)
        verify_consistency(size, 40, signed, latest, proof)


def test_inclusion_proofs(grown: GrownLog) -> None:
    client, base = grown.client, grown.base
    leaf_hashes = [hash_leaf(x) for x in grown.leaves()]
    for size, root in grown.checkpoints.items():
        seqs = range(size) if size in (40, 33, 16, 9, 7, 1) else (0, size // 2, size - 1)
        for seq in seqs:
            proof = inclusion(client, base, seq, size)
            verify_inclusion(leaf_hashes[seq], seq, size, proof, root)
    # Sizes never checkpointed: the root comes from the leaves alone.
    for size in (2, 3, 5, 13, 31, 39):
        root = root_from_leaf_hashes(leaf_hashes[:size])
        for seq in range(size):
            verify_inclusion(leaf_hashes[seq], seq, size, inclusion(client, base, seq, size), root)


def test_consistency_proofs(grown: GrownLog) -> None:
    client, base = grown.client, grown.base
    leaf_hashes = [hash_leaf(x) for x in grown.leaves()]
    roots = {n: root_from_leaf_hashes(leaf_hashes[:n]) for n in range(1, 41)}
    for n, signed in grown.checkpoints.items():
        assert roots[n] == signed
    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 25, 31, 32, 33, 39, 40]
    pairs = [(m, n) for n in sizes for m in sizes if m <= n]
    assert len(pairs) > 200
    for m, n in pairs:
        proof = consistency(client, base, m, n)
        verify_consistency(m, n, roots[m], roots[n], proof)
        if m == n:
            assert proof == []


def test_proof_errors(grown: GrownLog) -> None:
    client, base = grown.client, grown.base
    inc, con = f"{base}/proofs/inclusion", f"{base}/proofs/consistency"
    out_of_range = [
        (inc, {"seq": 40, "tree_size": 40}),
        (inc, {"seq": 5, "tree_size": 5}),
        (inc, {"seq": 0, "tree_size": 41}),
        (inc, {"seq": 50, "tree_size": 41}),
        (inc, {"seq": 0, "tree_size": 0}),
        (inc, {"seq": 0, "tree_size": 2**53}),
        (con, {"from": 10, "to": 9}),
        (con, {"from": 1, "to": 41}),
        (con, {"from": 41, "to": 41}),
        (con, {"from": 0, "to": 5}),
        (con, {"from": 0, "to": 0}),
    ]
    for path, params in out_of_range:
        assert_problem(client.get(path, params=params), 400, "proof-error")
    malformed = [
        (inc, {"seq": -1, "tree_size": 5}),
        (inc, {"seq": "a", "tree_size": 5}),
        (inc, {"tree_size": 5}),
        (inc, {"seq": 0}),
        (con, {"from": 1}),
        (con, {"from": -1, "to": 5}),
        (con, {"from": 1, "to": 2**60}),
    ]
    for path, params in malformed:
        assert_problem(client.get(path, params=params), 422, "invalid-input")


# -- vouchers ---------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(30)) + b"\xff\xd9"
WEBP_BODY = b"WEBPVP8 " + bytes(range(24))
WEBP = b"RIFF" + len(WEBP_BODY).to_bytes(4, "little") + WEBP_BODY


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
    ids=["pdf", "png", "jpeg", "webp"],
)
def test_voucher_round_trip(
    estate_client: tuple[TestClient, EstateFactory], data: bytes, media_type: str
) -> None:
    client, f = estate_client
    url = f"/v1/estates/{f.id}/vouchers/{sha(data)}"
    # The type is sniffed from the bytes; what the client claims does not matter.
    r = client.put(url, content=data, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.json() == {"sha256": sha(data), "size": len(data), "media_type": media_type}
    again = client.put(url, content=data, headers={"content-type": media_type})
    assert again.status_code == 200 and again.json() == r.json()
    got = client.get(url)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == media_type
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert got.headers["x-content-type-options"] == "nosniff"
    # Another estate does not see it: nothing crosses estates.
    other = EstateFactory.create(f.service, f.id + "-b", accounts=False)
    assert_problem(client.get(f"/v1/estates/{other.id}/vouchers/{sha(data)}"), 404, "not-found")


def test_voucher_refusals(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    base = f"/v1/estates/{f.id}/vouchers"
    # The bytes do not hash to the name.
    body = assert_problem(client.put(f"{base}/{sha(PNG)}", content=PDF), 422, "voucher-mismatch")
    assert body["field"] == "sha256"
    # Not an allowed type, even when it claims to be one.
    for data in (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "发票 文本".encode()):
        r = client.put(f"{base}/{sha(data)}", content=data, headers={"content-type": "image/png"})
        assert_problem(r, 415, "unsupported-media-type")
        assert_problem(client.get(f"{base}/{sha(data)}"), 404, "not-found")
    # Names are lowercase hex SHA-256.
    assert_problem(client.put(f"{base}/{sha(PDF).upper()}", content=PDF), 422, "invalid-input")
    assert_problem(client.get(f"{base}/abc"), 422, "invalid-input")
    # Empty, and unknown.
    assert_problem(client.put(f"{base}/{sha(b'')}", content=b""), 422, "invalid-input")
    assert_problem(client.get(f"{base}/{sha(b'never uploaded')}"), 404, "not-found")
    # Unknown estate.
    assert_problem(
        client.put(f"/v1/estates/no-such/vouchers/{sha(PDF)}", content=PDF), 404, "not-found"
    )


def test_voucher_too_large(make_client: ClientFactory, estate: EstateFactory) -> None:
    client = make_client(max_voucher_bytes=1000)
    base = f"/v1/estates/{estate.id}/vouchers"
    fits = PDF + b"x" * (1000 - len(PDF))
    big = fits + b"x"
    assert client.put(f"{base}/{sha(fits)}", content=fits).status_code == 201
    assert_problem(client.put(f"{base}/{sha(big)}", content=big), 413, "payload-too-large")

    # Without a Content-Length (chunked upload) the limit still holds while streaming.
    def chunks() -> Any:
        for i in range(0, len(big), 100):
            yield big[i : i + 100]

    assert_problem(client.put(f"{base}/{sha(big)}", content=chunks()), 413, "payload-too-large")
    assert_problem(client.get(f"{base}/{sha(big)}"), 404, "not-found")


# -- HTTP edge: CORS, request ids, operations -------------------------------------------------


def test_cors(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    origin = {"Origin": "https://resident.example"}
    for path in ("/v1/estates", f"/v1/estates/{f.id}/checkpoint", f"/v1/estates/{f.id}/entries/0"):
        r = client.get(path, headers=origin)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "X-Request-Id" in r.headers["access-control-expose-headers"]
    # Errors carry it too, so a browser can read the problem.
    r = client.get("/v1/estates/no-such", headers=origin)
    assert r.status_code == 404 and r.headers["access-control-allow-origin"] == "*"
    pre = client.options(
        f"/v1/estates/{f.id}/checkpoint",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "GET" in pre.headers["access-control-allow-methods"]


def test_request_id_on_every_response(grown: GrownLog) -> None:
    client, base = grown.client, grown.base
    responses = [
        client.get("/v1/estates"),
        client.get(base),
        client.get(f"{base}/checkpoint"),
        client.get(f"{base}/entries/0"),
        client.get(f"{base}/entries/999"),
        client.get(f"{base}/entries", params={"limit": 5000}),
        client.get(f"{base}/proofs/inclusion", params={"seq": 99, "tree_size": 3}),
        client.get(f"{base}/vouchers/{'0' * 64}"),
        client.get("/no/such/path"),
        client.delete(f"{base}/checkpoint"),
        client.post(f"{base}/entries", content=b"{"),
        client.get("/healthz"),
        client.get("/metrics"),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)
    assert {r.status_code for r in responses} >= {200, 400, 404, 405, 422}
    for r in responses:
        if r.status_code >= 400:
            assert r.headers["content-type"] == PROBLEM
    # A client's own id is kept; a malformed one is replaced.
    assert (
        client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    bad = client.get("/healthz", headers={"X-Request-Id": "no good!"}).headers["x-request-id"]
    assert bad != "no good!" and len(bad) == 32


def test_operations(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    client.get(f"/v1/estates/{f.id}/checkpoint")
    client.get(f"/v1/estates/{f.id}/entries/12345")
    m = client.get("/metrics")
    assert m.status_code == 200
    assert m.headers["content-type"].startswith("text/plain")
    text = m.text
    assert "# TYPE trustledger_http_requests_total counter" in text
    # Labelled by route template, never by raw path (no estate ids in label values).
    assert (
        'trustledger_http_requests_total{method="GET",'
        'route="/v1/estates/{estate}/checkpoint",status="200"}'
    ) in text
    assert 'route="/v1/estates/{estate}/entries/{seq}",status="404"' in text
    assert f.id not in text
    assert "trustledger_http_request_seconds_bucket" in text
