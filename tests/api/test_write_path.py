"""The posting hot path: pre-encoded answers and a batch's signatures verified ahead.

The answers of the posting routes (and of the entry reads) are encoded from the
stored leaf bytes without decoding them: they must be byte for byte what
``JSONResponse`` would have written. A batch's signatures are verified by worker
processes while the batch is read and appended; the append's check skips the
cryptography for those already verified and must still decide everything (keys
registered in the same batch, revoked keys, forged signatures) exactly as without.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import wait
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from api.preverify import CHUNK, MIN_ITEMS, POOL, Preverifier, estate_keys
from api.routes_public import entries_body, entry_body, entry_json
from ledger.canonical import canonical_json as json_canonical
from ledger.signing import PAYLOAD_DOMAIN, VERIFIED, AuthorKey
from ledger.storage.appender import SignedPayload
from tests.factories import EstateFactory

Doc = dict[str, Any]


def wire(item: SignedPayload) -> Doc:
    return {"payload": dict(item.payload.raw), "signatures": [s.to_json() for s in item.signatures]}


@pytest.fixture(autouse=True)
def fresh_memo(memo: None) -> None:
    assert POOL.wait_ready(120), "the signature verifying processes did not start"


def _register(f: EstateFactory, key: AuthorKey, role: str) -> SignedPayload:
    body = {
        "action": "register",
        "public_key": base64.b64encode(key.public_key).decode(),
        "role": role,
        "holder": "新的受托人 王五",
    }
    return f.signed("key", body, f.committee, f.operator)


def _revoke(f: EstateFactory, key: AuthorKey) -> SignedPayload:
    body = {"action": "revoke", "key_id": key.key_id, "reason": "离任"}
    return f.signed("key", body, f.committee, f.operator)


def test_answers_are_what_json_response_writes(
    estate_client: tuple[TestClient, EstateFactory],
) -> None:
    client, f = estate_client
    newcomer = AuthorKey.generate()
    f.append(
        f.income(1, memo='第一笔，带：「引号」"和\\反斜杠'),
        f.spend(250_00),
        _register(f, newcomer, "trustee"),
    )
    r = client.post(f"/v1/estates/{f.id}/entries", json=wire(f.income(3, memo="𠀋 é ﬁ")))
    assert r.status_code == 201
    size = client.get(f"/v1/estates/{f.id}").json()["size"]
    page = client.get(f"/v1/estates/{f.id}/entries", params={"limit": 1000})
    rows = []
    for seq in range(size):
        got = client.get(f"/v1/estates/{f.id}/entries/{seq}")
        leaf = base64.b64decode(got.json()["leaf"])
        rows.append((seq, leaf))
        expected = JSONResponse(entry_json(seq, leaf)).body
        assert entry_body(seq, leaf) == expected
        assert got.content == expected
        assert got.headers["content-type"] == "application/json"
    assert (
        page.content
        == JSONResponse({"entries": [entry_json(s, leaf) for s, leaf in rows], "next": None}).body
    )
    two = client.get(f"/v1/estates/{f.id}/entries", params={"limit": 2}).content
    assert two == entries_body(rows[:2], tail=b'],"next":2}')
    assert json.loads(two)["next"] == 2
    assert r.content == JSONResponse(entry_json(*rows[-1])).body


def test_verified_ahead_then_appended_without_the_cryptography(
    estate: EstateFactory, crypto_calls: list[bytes]
) -> None:
    items = [estate.income(10 + i) for i in range(300)] + [estate.spend(5)]
    executor = POOL.executor()
    ahead = Preverifier(estate_keys(estate.service, estate.id), executor)
    for item in items:
        ahead.add(item)
    ahead.submit()
    wait(ahead._jobs, timeout=60)
    ahead.close()
    assert len(VERIFIED) == 302
    appended = estate.append(*items)
    assert len(appended) == 301 and all(a.created for a in appended)
    # Every signature was verified ahead: the ledger's check verified none itself.
    assert crypto_calls == []


def test_batch_over_http(
    estate_client: tuple[TestClient, EstateFactory], crypto_calls: list[bytes]
) -> None:
    client, f = estate_client
    items = [f.income(10 + i) for i in range(300)] + [f.spend(5)]
    r = client.post(f"/v1/estates/{f.id}/entries:batch", json={"items": [wire(i) for i in items]})
    assert r.status_code == 201, r.text
    assert [e["seq"] for e in r.json()["entries"]] == list(range(7, 7 + 301))
    # Whether the workers or the check verified them (they race), each was verified.
    ahead = len(VERIFIED)
    deadline = time.monotonic() + 60
    while len(VERIFIED) < 302 and time.monotonic() < deadline:  # workers still running
        time.sleep(0.01)
    assert len(VERIFIED) == 302
    assert len(crypto_calls) + ahead >= 302


def test_batch_key_registered_then_used_revoked_then_refused(
    estate_client: tuple[TestClient, EstateFactory], crypto_calls: list[bytes]
) -> None:
    client, f = estate_client
    base = f"/v1/estates/{f.id}"
    newcomer = AuthorKey.generate()
    used = f.signed(
        "transaction",
        {
            "postings": [
                {"account": "Assets:Bank:CoManaged", "amount": 7},
                {"account": "Income:PropertyFee", "amount": -7},
            ],
            "counterparty": "业主",
            "category": "物业费",
        },
        newcomer,
    )

    # Batches large enough to go to the verifying processes.
    def pad() -> list[Doc]:
        return [wire(f.income(100 + i)) for i in range(MIN_ITEMS)]

    # The key is not registered when the batch arrives: its signature is left to the
    # append, which verifies it itself once the registration before it is applied.
    r = client.post(
        f"{base}/entries:batch",
        json={"items": [*pad(), wire(_register(f, newcomer, "trustee")), wire(used)]},
    )
    assert r.status_code == 201, r.text
    # The newcomer's signature was never handed to the workers: the check verified it.
    assert PAYLOAD_DOMAIN + used.payload.canonical() in crypto_calls
    # Revoked, then used again in the same batch: refused as without pre-verification.
    again = f.income(8, memo="吊销之后").payload.raw
    late = SignedPayload.parse(dict(again), [newcomer.sign(again).to_json()])
    r = client.post(
        f"{base}/entries:batch", json={"items": [*pad(), wire(_revoke(f, newcomer)), wire(late)]}
    )
    assert r.status_code == 403
    assert r.json()["type"] == "/problems/revoked-key"
    assert r.json()["index"] == MIN_ITEMS + 1
    # Revoked and committed: not a key pre-verification uses, and the answer is the same.
    f.append(_revoke(f, newcomer))
    r = client.post(f"{base}/entries:batch", json={"items": [*pad(), wire(late)]})
    assert r.status_code == 403 and r.json()["type"] == "/problems/revoked-key"


def test_forged_signature_refused_though_others_verified_ahead(
    estate_client: tuple[TestClient, EstateFactory],
) -> None:
    client, f = estate_client
    items = [wire(f.income(20 + i)) for i in range(70)]
    sig = base64.b64decode(items[50]["signatures"][0]["sig"])
    items[50]["signatures"][0]["sig"] = base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).decode()
    r = client.post(f"/v1/estates/{f.id}/entries:batch", json={"items": items})
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "/problems/invalid-signature" and r.json()["index"] == 50
    forged = PAYLOAD_DOMAIN + json_canonical(items[50]["payload"])
    deadline = time.monotonic() + 60
    while len(VERIFIED) < 69 and time.monotonic() < deadline:  # workers still running
        time.sleep(0.01)
    assert not VERIFIED.verified(
        f.trustee.public_key,
        forged,
        base64.b64decode(items[50]["signatures"][0]["sig"]),
    )  # the forged one is never remembered


@pytest.mark.parametrize("where", ["item", "estate"])
def test_refused_batches(estate_client: tuple[TestClient, EstateFactory], where: str) -> None:
    client, f = estate_client
    items = [wire(f.income(30 + i)) for i in range(300)]
    estate = f.id
    if where == "item":
        items[280]["payload"]["body"]["postings"][0]["amount"] = "1"  # after 2 chunks
        expected = (422, "invalid-amount")
    else:
        estate = "no-such-estate"
        expected = (404, "not-found")
    r = client.post(f"/v1/estates/{estate}/entries:batch", json={"items": items})
    assert (r.status_code, r.json()["type"]) == (expected[0], f"/problems/{expected[1]}")
    if where == "item":
        assert r.json()["index"] == 280
        # The same (valid) items again: accepted, whatever was verified before.
        del items[280]
        r = client.post(f"/v1/estates/{f.id}/entries:batch", json={"items": items})
        assert r.status_code == 201, r.text


def test_close_withdraws_what_no_worker_started(estate: EstateFactory) -> None:
    """Chunks still queued when the batch ends (refused, or appended already) are
    cancelled: nobody needs their answer any more."""
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()
    with ThreadPoolExecutor(1) as busy_pool:
        busy = busy_pool.submit(release.wait, 30)
        try:
            ahead = Preverifier(estate_keys(estate.service, estate.id), busy_pool)
            for i in range(3 * CHUNK + 5):
                ahead.add(estate.income(i + 1))
            ahead.submit()
            jobs = list(ahead._jobs)
            assert len(jobs) == 4
            ahead.close()
            assert all(job.cancelled() for job in jobs)
        finally:
            release.set()
            busy.result(30)
    assert len(VERIFIED) == 0


def test_the_check_withdraws_a_chunk_no_worker_took_and_verifies_it_itself(
    estate: EstateFactory, crypto_calls: list[bytes]
) -> None:
    """A chunk still queued when the append's check reaches it is cancelled, so that no
    worker verifies it again after the check did."""
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()
    with ThreadPoolExecutor(1) as busy_pool:
        busy = busy_pool.submit(release.wait, 30)
        try:
            items = [estate.income(i + 1) for i in range(CHUNK + 5)]
            ahead = Preverifier(estate_keys(estate.service, estate.id), busy_pool)
            for item in items:
                ahead.add(item)
            ahead.submit()
            jobs = list(ahead._jobs)
            appended = estate.service.append(estate.id, items, defer_verified_elsewhere=True)
            assert len(appended) == CHUNK + 5 and all(a.created for a in appended)
            assert all(job.cancelled() for job in jobs)
            assert len(crypto_calls) == CHUNK + 5  # each verified once, here
            ahead.close()
        finally:
            release.set()
            busy.result(30)


def test_without_verifying_processes(make_client: Any, estate: EstateFactory) -> None:
    """``verify_workers=0``: no process is used; the append verifies everything."""
    try:
        client = make_client(verify_workers=0)
        assert POOL.executor() is None
        items = [wire(estate.income(40 + i)) for i in range(MIN_ITEMS + 4)]
        r = client.post(f"/v1/estates/{estate.id}/entries:batch", json={"items": items})
        assert r.status_code == 201, r.text
        assert len(VERIFIED) == 0
    finally:
        POOL.configure(2)
        assert POOL.wait_ready(120)


def test_a_started_server_tunes_the_garbage_collector_once(client: TestClient) -> None:
    """After the first startup in a process the collector runs at THRESHOLDS with the
    startup's objects frozen; a second app's startup freezes nothing more (tests start
    many apps in one process, and frozen cycles would never be freed)."""
    import gc

    from api.app import create_app
    from ledger.collector import THRESHOLDS

    with client:  # runs the startup (lifespan)
        assert client.get("/healthz").status_code == 200
    assert gc.get_threshold() == THRESHOLDS
    frozen = gc.get_freeze_count()
    assert frozen > 0
    with TestClient(create_app(service=client.app.state.service)) as other:
        assert other.get("/healthz").status_code == 200
    assert gc.get_freeze_count() <= frozen  # frozen objects may still be freed


# -- the signed post answered by the edge (api.edge.DirectRoute) -----------------------------


def _bodies(f: EstateFactory) -> dict[str, bytes]:
    """Requests whose answers do not depend on which of two posts comes first."""
    good = wire(f.income(100))
    spend = f.spend(50)
    unsigned = {**wire(spend), "signatures": [wire(spend)["signatures"][0]]}
    return {
        "malformed": b'{"payload": ',
        "empty": b"",
        "not-object": b"[1, 2]",
        "float": json.dumps({**good, "payload": {**good["payload"], "v": 1.0}}).encode(),
        "not-nfc": json.dumps({**good, "payload": {**good["payload"], "memo": "e\u0301"}}).encode(),
        "bad-utf8": b'{"payload": "\xff"}',
        "unknown-field": json.dumps({**good, "extra": 1}).encode(),
        "missing-signature": json.dumps(unsigned).encode(),
        "forged": json.dumps(
            {**good, "signatures": [{**good["signatures"][0], "sig": "A" * 86 + "=="}]}
        ).encode(),
    }


def test_the_edge_answers_a_post_as_the_application_would(
    estate_client: tuple[TestClient, EstateFactory], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every refusal answered by the edge is byte for byte the application's answer for
    the same request (which a request naming an ``Origin`` still gets: CORS decorates it)."""
    import api.edge

    client, f = estate_client
    taken: list[str] = []
    real = api.edge.EdgeMiddleware._answer

    async def counted(self: Any, route: Any, params: Any, *args: Any) -> None:
        taken.append(params["estate"])
        await real(self, route, params, *args)

    monkeypatch.setattr(api.edge.EdgeMiddleware, "_answer", counted)
    url = f"/v1/estates/{f.id}/entries"
    cases = {**_bodies(f), "no-estate": json.dumps(wire(f.income(1))).encode()}
    for name, body in cases.items():
        target = url.replace(f.id, "no-such-estate") if name == "no-estate" else url
        headers = {"content-type": "application/json", "x-request-id": "fixed-id"}
        direct = client.post(target, content=body, headers=headers)
        framework = client.post(target, content=body, headers={**headers, "origin": "https://x"})
        assert direct.status_code == framework.status_code >= 400, (name, direct.text)
        assert direct.content == framework.content, name
        assert direct.headers["content-type"] == "application/problem+json"
        assert direct.headers["x-request-id"] == "fixed-id"
        assert "access-control-allow-origin" not in direct.headers
        assert framework.headers["access-control-allow-origin"] == "*"
    assert len(taken) == len(cases)  # the requests without Origin, and only those

    item = wire(f.income(7))
    first = client.post(url, json=item)
    again = client.post(url, json=item, headers={"origin": "https://x"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.content == again.content
    assert client.post(f"{url}:batch", json={"items": [wire(f.income(8))]}).status_code == 201
    assert len(taken) == len(cases) + 1  # the batch went through the application


def test_an_internal_error_on_the_edge_route_is_the_server_error_answer(
    make_client: Any, estate: EstateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.app import create_app
    from api.settings import Settings

    f = estate
    client = make_client()
    service = client.app.state.service

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(service, "append_one", broken)
    app = create_app(Settings(data_dir=client.app.state.settings.data_dir, write_rate=0), service)
    with TestClient(app, raise_server_exceptions=False) as plain:
        r = plain.post(f"/v1/estates/{f.id}/entries", json=wire(f.income(1)))
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/internal-error"
    assert "fire" not in r.text
