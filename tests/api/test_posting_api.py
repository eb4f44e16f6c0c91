"""Signed posting over HTTP (single and batch): idempotency, refusals, limits, rate.

Every refusal must be an RFC 9457 problem with its stable ``type`` and must leave the
log exactly as it was: same signed checkpoint, same size.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ledger.signing import AuthorKey
from ledger.storage.appender import SignedPayload
from tests.api.conftest import ClientFactory
from tests.factories import BANK, EstateFactory

PROBLEM = "application/problem+json"
Doc = dict[str, Any]


def wire(item: SignedPayload) -> Doc:
    """What a client posts for a signed payload."""
    return {
        "payload": copy.deepcopy(dict(item.payload.raw)),
        "signatures": [s.to_json() for s in item.signatures],
    }


def signed_doc(raw: Doc, *keys: AuthorKey) -> Doc:
    """Sign ``raw`` as given (no parsing: invalid payloads can be signed too)."""
    return {"payload": raw, "signatures": [k.sign(raw).to_json() for k in keys]}


def assert_problem(
    r: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == f"/problems/{code}", body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in body["detail"]
    if field is not None:
        # Paths from the strict JSON reader start at the document ("$."), the others at
        # the payload; either way they name the same field.
        assert body.get("field", "").removeprefix("$.") == field.removeprefix("$."), body
    return body


class Log:
    """The estate as a client sees it: checkpoint text and size."""

    def __init__(self, client: TestClient, f: EstateFactory) -> None:
        self.client, self.f = client, f
        self.base = f"/v1/estates/{f.id}"

    def state(self) -> tuple[str, int]:
        note = self.client.get(f"{self.base}/checkpoint").text
        size = self.client.get(self.base).json()["size"]
        return note, size

    def post(self, body: Any = None, *, content: bytes | None = None) -> httpx.Response:
        if content is None:
            content = json.dumps(body, ensure_ascii=False).encode()
        return self.client.post(
            f"{self.base}/entries", content=content, headers={"content-type": "application/json"}
        )

    def batch(self, items: list[Any]) -> httpx.Response:
        return self.client.post(f"{self.base}/entries:batch", json={"items": items})


@pytest.fixture
def log(estate_client: tuple[TestClient, EstateFactory]) -> Log:
    return Log(*estate_client)


# -- idempotency ------------------------------------------------------------------------------


def test_post_created_then_repeat_then_conflict(log: Log) -> None:
    f = log.f
    before = log.state()
    item = f.spend(12_000)
    doc = wire(item)
    r = log.post(doc)
    assert r.status_code == 201, r.text
    first = r.json()
    assert set(first) == {"seq", "leaf", "entry"}
    assert first["seq"] == before[1] == 7
    assert first["entry"]["payload"] == doc["payload"]
    assert (
        sorted(first["entry"]["signatures"], key=lambda s: s["key"]) == first["entry"]["signatures"]
    )
    assert {s["key"] for s in first["entry"]["signatures"]} == {
        f.trustee.key_id,
        f.committee.key_id,
    }
    after = log.state()
    assert after[1] == 8 and after[0] != before[0]
    assert log.client.get(f"{log.base}/entries/7").json() == first

    # The same id and payload (signatures in another order): the first entry, 200.
    doc["signatures"].reverse()
    again = log.post(doc)
    assert again.status_code == 200
    assert again.json() == first
    assert log.state() == after

    # The same id with other content: a conflict naming the entry; nothing written.
    other = f.raw(
        "transaction", item.payload.raw["body"] | {"category": "别的"}, id=item.payload.id
    )
    body = assert_problem(
        log.post(signed_doc(other, f.trustee, f.committee)), 409, "id-conflict", "payload.id"
    )
    assert body["seq"] == 7
    assert log.state() == after


# -- refusals: each a stable problem type, nothing written -------------------------------------


def income_raw(f: EstateFactory, fen: Any = 1000, credit: Any = None, **body: Any) -> Doc:
    credit = -fen if credit is None else credit
    b = {
        "postings": [
            {"account": BANK, "amount": fen},
            {"account": "Income:PropertyFee", "amount": credit},
        ],
        "counterparty": "业主",
        "category": "物业费",
    } | body
    return f.raw("transaction", b)


def spend_raw(f: EstateFactory) -> Doc:
    return copy.deepcopy(dict(f.spend(5_000).payload.raw))


Case = Callable[[EstateFactory], tuple[Any, int, str, str | None]]

DEEP = b"[" * 10_000 + b"]" * 10_000


def _forged(f: EstateFactory) -> Doc:
    doc = signed_doc(income_raw(f), f.trustee)
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    return doc


def _resigned_after_edit(f: EstateFactory) -> Doc:
    doc = signed_doc(income_raw(f, 1000), f.trustee)
    doc["payload"]["body"]["postings"][0]["amount"] = 100_000  # signature no longer covers it
    doc["payload"]["body"]["postings"][1]["amount"] = -100_000
    return doc


def _duplicate(f: EstateFactory) -> Doc:
    doc = signed_doc(spend_raw(f), f.trustee, f.committee)
    doc["signatures"].append(dict(doc["signatures"][0]))
    return doc


def _stranger(f: EstateFactory) -> Doc:
    return signed_doc(income_raw(f), AuthorKey.generate())


def _other_estate(f: EstateFactory) -> Doc:
    raw = income_raw(f)
    raw["estate"] = "another-estate"
    return signed_doc(raw, f.trustee)


def _nested_payload(f: EstateFactory) -> Doc:
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    return signed_doc(income_raw(f) | {"memo": deep}, f.trustee)


CASES: dict[str, tuple[Callable[[EstateFactory], Any], int, str, str | None]] = {
    # bytes on the wire
    "malformed-json": (lambda f: b'{"payload": ', 400, "malformed-json", None),
    "trailing-garbage": (lambda f: b'{"payload": {}} x', 400, "malformed-json", None),
    "empty-body": (lambda f: b"", 400, "malformed-json", None),
    "json-array": (lambda f: b"[]", 422, "invalid-input", "$"),
    "json-string": (lambda f: b'"hello"', 422, "invalid-input", "$"),
    "invalid-utf8": (lambda f: b'{"payload": "\xff\xfe"}', 422, "invalid-text", None),
    "lone-surrogate": (lambda f: b'{"payload": "\\ud800"}', 422, "invalid-text", None),
    "duplicate-key": (lambda f: b'{"payload": 1, "payload": 2}', 422, "invalid-input", None),
    "nan": (lambda f: b'{"payload": NaN}', 422, "invalid-input", None),
    "deep-array": (lambda f: DEEP, 422, "invalid-input", None),
    "deep-object": (lambda f: b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 422, "invalid-input", None),
    "deep-in-payload": (_nested_payload, 422, "invalid-input", None),
    # text
    "not-nfc": (
        lambda f: signed_doc(income_raw(f) | {"memo": "Cafe\u0301"}, f.trustee),
        422,
        "not-nfc",
        "payload.memo",
    ),
    "control-char": (
        lambda f: signed_doc(income_raw(f) | {"memo": "a\u0007b"}, f.trustee),
        422,
        "invalid-text",
        "payload.memo",
    ),
    "control-char-in-key": (
        lambda f: signed_doc(income_raw(f), f.trustee) | {"x\u0000": 1},
        422,
        "invalid-text",
        None,
    ),
    # amounts
    "float-amount": (
        lambda f: (
            json.dumps(signed_doc(income_raw(f), f.trustee)).replace("1000", "1000.5").encode()
        ),
        422,
        "invalid-input",
        None,
    ),
    "float-integral-amount": (
        lambda f: json.dumps(signed_doc(income_raw(f), f.trustee)).replace("1000", "1e3").encode(),
        422,
        "invalid-input",
        None,
    ),
    "string-amount": (
        lambda f: signed_doc(income_raw(f, "1000", -1000), f.trustee),
        422,
        "invalid-amount",
        "payload.body.postings[0].amount",
    ),
    "bool-amount": (
        lambda f: signed_doc(income_raw(f, True, -1), f.trustee),
        422,
        "invalid-amount",
        "payload.body.postings[0].amount",
    ),
    "huge-amount": (
        lambda f: signed_doc(income_raw(f, 10**13), f.trustee),
        422,
        "invalid-amount",
        "payload.body.postings[0].amount",
    ),
    "negative-budget": (
        lambda f: signed_doc(
            f.raw(
                "budget",
                {"year": 2026, "lines": [{"account": "Expenses:Cleaning", "amount": -500}]},
            ),
            f.committee,
        ),
        422,
        "invalid-input",
        "payload.body.lines",
    ),
    # shape
    "unknown-kind": (
        lambda f: signed_doc(f.raw("donation", {"amount": 1}), f.trustee),
        422,
        "unknown-kind",
        "payload.kind",
    ),
    "unknown-field": (
        lambda f: signed_doc(income_raw(f) | {"extra": 1}, f.trustee),
        422,
        "invalid-input",
        "payload.extra",
    ),
    "unknown-body-field": (
        lambda f: signed_doc(income_raw(f, note="x"), f.trustee),
        422,
        "invalid-input",
        "payload.body.note",
    ),
    "unknown-top-field": (
        lambda f: signed_doc(income_raw(f), f.trustee) | {"token": "x"},
        422,
        "invalid-input",
        "$.token",
    ),
    "no-signatures-field": (
        lambda f: {"payload": income_raw(f)},
        422,
        "invalid-input",
        "$.signatures",
    ),
    "bad-uuid": (
        lambda f: signed_doc(income_raw(f) | {"id": "not-a-uuid"}, f.trustee),
        422,
        "invalid-input",
        "payload.id",
    ),
    # signatures and policy
    "no-signature": (
        lambda f: {"payload": income_raw(f), "signatures": []},
        403,
        "missing-signature",
        "signatures",
    ),
    "missing-cosignature": (
        lambda f: signed_doc(spend_raw(f), f.trustee),
        403,
        "missing-signature",
        "signatures",
    ),
    "wrong-role": (
        lambda f: signed_doc(spend_raw(f), f.trustee, f.supervisor),
        403,
        "missing-signature",
        "signatures",
    ),
    "wrong-role-income": (
        lambda f: signed_doc(income_raw(f), f.supervisor),
        403,
        "missing-signature",
        "signatures",
    ),
    "forged-signature": (_forged, 403, "invalid-signature", "signatures"),
    "edited-after-signing": (_resigned_after_edit, 403, "invalid-signature", "signatures"),
    "unknown-key": (_stranger, 403, "unknown-key", "signatures"),
    "duplicate-signature": (_duplicate, 422, "duplicate-signature", "signatures"),
    "other-estate": (_other_estate, 422, "wrong-estate", "payload.estate"),
    # double entry
    "unbalanced": (
        lambda f: signed_doc(
            income_raw(f)
            | {
                "body": {
                    "postings": [
                        {"account": BANK, "amount": 1000},
                        {"account": "Income:PropertyFee", "amount": -999},
                    ],
                    "counterparty": "业主",
                    "category": "物业费",
                }
            },
            f.trustee,
        ),
        422,
        "unbalanced-postings",
        "payload.body.postings",
    ),
    "unknown-account": (
        lambda f: signed_doc(
            income_raw(f)
            | {
                "body": {
                    "postings": [
                        {"account": BANK, "amount": 1000},
                        {"account": "Income:Nowhere", "amount": -1000},
                    ],
                    "counterparty": "业主",
                    "category": "物业费",
                }
            },
            f.trustee,
        ),
        422,
        "unknown-account",
        "payload.body.postings[1].account",
    ),
    # vouchers
    "missing-voucher": (
        lambda f: signed_doc(
            income_raw(f)
            | {
                "vouchers": [
                    {
                        "sha256": hashlib.sha256(b"never uploaded").hexdigest(),
                        "media_type": "application/pdf",
                        "size": 14,
                        "name": "收据.pdf",
                    }
                ]
            },
            f.trustee,
        ),
        422,
        "missing-voucher",
        "payload.vouchers",
    ),
    # size
    "five-megabyte-string": (
        lambda f: signed_doc(income_raw(f) | {"memo": "x" * (5 << 20)}, f.trustee),
        413,
        "payload-too-large",
        None,
    ),
}


def test_refused_and_nothing_written(log: Log, subtests: pytest.Subtests) -> None:
    """Each case in its own subtest, all against one estate (so it is fast)."""
    for case, (make, status, code, field) in CASES.items():
        with subtests.test(case):
            before = log.state()
            body = make(log.f)
            r = log.post(content=body) if isinstance(body, bytes) else log.post(body)
            assert_problem(r, status, code, field)
            assert log.state() == before
    # And after all those refusals the log still takes a good post.
    assert log.post(wire(log.f.income(1))).status_code == 201


def test_refusal_names_the_missing_role(log: Log) -> None:
    body = assert_problem(
        log.post(signed_doc(spend_raw(log.f), log.f.trustee)), 403, "missing-signature"
    )
    assert body["role"] == "committee" and body["rule"] == "spend"
    assert "committee" in body["detail"]


def test_body_over_max_body_bytes(make_client: ClientFactory, estate: EstateFactory) -> None:
    client = make_client(max_body_bytes=2_000)
    log = Log(client, estate)
    before = log.state()
    small = wire(estate.income(100))
    assert len(json.dumps(small, ensure_ascii=False).encode()) < 2_000
    big = signed_doc(income_raw(estate) | {"memo": "长" * 700}, estate.trustee)
    assert len(json.dumps(big, ensure_ascii=False).encode()) > 2_000
    assert_problem(log.post(big), 413, "payload-too-large")
    assert log.state() == before

    # A chunked body (no Content-Length) is cut off while streaming, too.
    data = json.dumps(big, ensure_ascii=False).encode()
    r = client.post(
        f"{log.base}/entries",
        content=iter([data[i : i + 500] for i in range(0, len(data), 500)]),
        headers={"content-type": "application/json"},
    )
    assert_problem(r, 413, "payload-too-large")
    assert log.state() == before
    assert log.post(small).status_code == 201


def test_posting_to_unknown_estate(client: TestClient, estate: EstateFactory) -> None:
    r = client.post("/v1/estates/no-such/entries", json=wire(estate.income(1)))
    assert_problem(r, 404, "not-found")


def test_voucher_then_posting(log: Log) -> None:
    f = log.f
    pdf = b"%PDF-1.7\n% minutes\n%%EOF\n"
    digest = hashlib.sha256(pdf).hexdigest()
    voucher = {
        "sha256": digest,
        "media_type": "application/pdf",
        "size": len(pdf),
        "name": "发票.pdf",
    }
    doc = signed_doc(income_raw(f) | {"vouchers": [voucher]}, f.trustee)
    assert_problem(log.post(doc), 422, "missing-voucher")
    assert log.client.put(f"{log.base}/vouchers/{digest}", content=pdf).status_code == 201
    r = log.post(doc)
    assert r.status_code == 201
    assert r.json()["entry"]["payload"]["vouchers"] == [voucher]


# -- batches ----------------------------------------------------------------------------------


def test_batch_created_then_repeated(log: Log) -> None:
    f = log.f
    items = [wire(f.income(100 + i)) for i in range(5)] + [wire(f.spend(50))]
    r = log.batch(items)
    assert r.status_code == 201, r.text
    entries = r.json()["entries"]
    assert [e["seq"] for e in entries] == list(range(7, 13))
    assert [e["entry"]["payload"] for e in entries] == [i["payload"] for i in items]
    after = log.state()
    assert after[1] == 13
    # The whole batch again: every entry already there, 200, same answer, nothing written.
    again = log.batch(items)
    assert again.status_code == 200
    assert again.json() == r.json()
    assert log.state() == after
    # A repeat inside one batch gives the same entry twice; new ones are created.
    new = wire(f.income(999))
    mixed = log.batch([items[0], new, new])
    assert mixed.status_code == 201
    seqs = [e["seq"] for e in mixed.json()["entries"]]
    assert seqs == [7, 13, 13]
    assert log.state()[1] == 14


def _bad_items(f: EstateFactory) -> dict[str, tuple[Any, int, str]]:
    existing = f.append(f.income(1))[0]
    conflicting = signed_doc(
        f.raw(
            "transaction",
            existing.entry.payload.raw["body"] | {"category": "改"},
            id=existing.entry.payload.id,
        ),
        f.trustee,
    )
    return {
        "unbalanced": (
            signed_doc(
                income_raw(f)
                | {
                    "body": {
                        "postings": [
                            {"account": BANK, "amount": 5},
                            {"account": "Income:PropertyFee", "amount": -4},
                        ],
                        "counterparty": "业主",
                        "category": "物业费",
                    }
                },
                f.trustee,
            ),
            422,
            "unbalanced-postings",
        ),
        "string-amount": (signed_doc(income_raw(f, "5", -5), f.trustee), 422, "invalid-amount"),
        "not-an-object": ([1, 2], 422, "invalid-input"),
        "missing-signature": (signed_doc(spend_raw(f), f.committee), 403, "missing-signature"),
        "forged": (_forged(f), 403, "invalid-signature"),
        "conflict": (conflicting, 409, "id-conflict"),
        "missing-voucher": (
            signed_doc(
                income_raw(f)
                | {
                    "vouchers": [
                        {"sha256": "ab" * 32, "media_type": "image/png", "size": 1, "name": "x.png"}
                    ]
                },
                f.trustee,
            ),
            422,
            "missing-voucher",
        ),
    }


@pytest.mark.parametrize("position", [0, 2, 5])
def test_batch_is_all_or_nothing(log: Log, position: int) -> None:
    f = log.f
    for name, (bad, status, code) in _bad_items(f).items():
        before = log.state()
        good = [wire(f.income(10 + i)) for i in range(6)]
        items = [*good[:position], bad, *good[position:]]
        body = assert_problem(log.batch(items), status, code)
        assert body["index"] == position, (name, body)
        assert log.state() == before, name
        # None of the good ones were written: each posts now as new.
        assert log.post(good[0]).status_code == 201, name


def test_batch_limits(log: Log) -> None:
    f = log.f
    before = log.state()
    one = wire(f.income(7))
    assert_problem(log.batch([one] * 1001), 422, "invalid-input", "$.items")
    assert_problem(log.batch([]), 422, "invalid-input", "$.items")
    r = log.client.post(f"{log.base}/entries:batch", json={"items": [one], "extra": 1})
    assert_problem(r, 422, "invalid-input", "$.extra")
    r = log.client.post(f"{log.base}/entries:batch", json=[one])
    assert_problem(r, 422, "invalid-input")
    r = log.client.post(f"{log.base}/entries:batch", content=DEEP)
    assert_problem(r, 422, "invalid-input")
    assert log.state() == before
    # Exactly 1000 repeats of one item: accepted, one entry.
    r = log.batch([one] * 1000)
    assert r.status_code == 201
    assert {e["seq"] for e in r.json()["entries"]} == {7}
    assert log.state()[1] == 8


def test_batch_over_max_batch_bytes(make_client: ClientFactory, estate: EstateFactory) -> None:
    client = make_client(max_batch_bytes=5_000)
    log = Log(client, estate)
    before = log.state()
    items = [wire(estate.income(i + 1)) for i in range(12)]
    assert_problem(log.batch(items), 413, "payload-too-large")
    assert log.state() == before


# -- rate limiting ----------------------------------------------------------------------------


def test_rate_limited(make_client: ClientFactory, estate: EstateFactory) -> None:
    client = make_client(write_rate=1, write_burst=2)
    log = Log(client, estate)
    assert log.post(wire(estate.income(1))).status_code == 201
    assert log.post(wire(estate.income(2))).status_code == 201
    before = log.state()
    r = log.post(wire(estate.income(3)))
    assert_problem(r, 429, "rate-limited")
    assert int(r.headers["retry-after"]) >= 1
    assert log.state() == before  # reads are not limited
    # Batches and voucher uploads count as writes as well.
    assert_problem(log.batch([wire(estate.income(4))]), 429, "rate-limited")
    pdf = b"%PDF-1.4\n%%EOF\n"
    r = client.put(f"{log.base}/vouchers/{hashlib.sha256(pdf).hexdigest()}", content=pdf)
    assert_problem(r, 429, "rate-limited")
