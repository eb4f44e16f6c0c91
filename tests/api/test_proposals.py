"""Co-signing over HTTP: proposals wait for the signatures the policy asks for.

A spend signed by the trustee alone is stored as pending, listed publicly with who
signed and which role is missing; the committee's signature appends it with both
signatures in the same transaction. A bad co-signature changes nothing; two
co-signers racing append once; one of the proposers can withdraw. Both engines.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.routes_proposals import decode_proposal_cursor, encode_proposal_cursor
from ledger.canonical import b64encode
from ledger.entry import parse_leaf
from ledger.errors import InvalidSignature, LogStateError
from ledger.signing import AuthorKey, Signature
from ledger.storage.appender import SignedPayload
from ledger.storage.proposals import withdraw_signing_bytes
from ledger.storage.verify import verify_estate
from ledger.validate import MemoryState, check_append, missing_roles
from tests.api.test_posting_api import assert_problem, wire
from tests.factories import EstateFactory

Client = tuple[TestClient, EstateFactory]


def sig_json(key: AuthorKey, item: SignedPayload) -> dict[str, str]:
    return key.sign(item.payload.raw).to_json()


def withdrawal(key: AuthorKey, proposal_id: str) -> dict[str, Any]:
    raw = Ed25519PrivateKey.from_private_bytes(key.seed).sign(withdraw_signing_bytes(proposal_id))
    return {"signature": Signature(key.key_id, raw).to_json()}


def size(f: EstateFactory) -> int:
    with f.service.reader(f.id) as r:
        return r.size


class Proposals:
    def __init__(self, client: TestClient, f: EstateFactory) -> None:
        self.client, self.f = client, f
        self.base = f"/v1/estates/{f.id}/proposals"

    def propose(self, item: SignedPayload) -> Any:
        return self.client.post(self.base, json=wire(item))

    def cosign(self, proposal_id: str, *sigs: dict[str, str]) -> Any:
        return self.client.post(
            f"{self.base}/{proposal_id}/signatures", json={"signatures": list(sigs)}
        )

    def withdraw(self, proposal_id: str, body: dict[str, Any]) -> Any:
        return self.client.post(f"{self.base}/{proposal_id}:withdraw", json=body)

    def get(self, proposal_id: str) -> Any:
        return self.client.get(f"{self.base}/{proposal_id}")


@pytest.fixture
def p(estate_client: Client) -> Proposals:
    return Proposals(*estate_client)


def test_a_partly_signed_spend_waits(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    before = size(f)
    r = p.propose(spend)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and body["seq"] is None
    assert body["rule"] == "spend" and body["missing"] == ["committee"]
    assert body["payload"] == spend.payload.raw
    assert body["proposed_by"] == [f.trustee.key_id]
    assert body["signatures"] == [
        {
            "key": f.trustee.key_id,
            "sig": spend.signatures[0].to_json()["sig"],
            "role": "trustee",
            "holder": "某物业公司",
            "active": True,
        }
    ]
    assert size(f) == before

    listed = p.client.get(p.base, params={"status": "pending"}).json()["proposals"]
    assert [x["id"] for x in listed] == [spend.payload.id]
    assert listed[0] == p.get(spend.payload.id).json() == body
    assert p.client.get(p.base, params={"status": "appended"}).json() == {
        "proposals": [],
        "next_cursor": None,
    }
    assert p.client.get(p.base, params={"status": "lost"}).status_code == 422
    # Proposing the same thing again stores nothing new.
    again = p.propose(spend)
    assert again.status_code == 200 and again.json() == body


def test_proposals_come_in_pages_oldest_first(
    p: Proposals, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = p.f
    made = []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for i in range(7):
        if i == 3:  # the rest at one instant: the id orders them
            monkeypatch.setattr(f.service, "clock", lambda: later)
        spend = f.spend(1_000 + i, f.trustee)
        assert p.propose(spend).status_code == 201
        made.append(spend.payload.id)
    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "pending", "limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        r = p.client.get(p.base, params=params)
        assert r.status_code == 200, r.text
        pages.append([x["id"] for x in r.json()["proposals"]])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
        if len(pages) == 1:  # made meanwhile: it comes last, and shifts nothing
            monkeypatch.setattr(f.service, "clock", lambda: later + dt.timedelta(seconds=1))
            late = f.spend(9_999, f.trustee)
            assert p.propose(late).status_code == 201
            made.append(late.payload.id)
    assert [len(page) for page in pages] == [3, 3, 2]
    seen = [x for page in pages for x in page]
    assert seen == made[:3] + sorted(made[3:7]) + [made[7]]
    everything = p.client.get(p.base, params={"limit": 500}).json()
    assert len(everything["proposals"]) == 8 and everything["next_cursor"] is None
    assert p.client.get(p.base, params={"status": "withdrawn", "limit": 1}).json() == {
        "proposals": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "!!!"},
        {"cursor": "YWJj"},  # "abc": no time, no id
        {"cursor": encode_proposal_cursor("2026-11-27T10:00:00.000Z", "xy") + "=="},
        {"cursor": encode_proposal_cursor("2026-11-27T10:00:00.000Z", "x" * 37)},
        {"cursor": encode_proposal_cursor("yesterday", "x")},
        {"cursor": "A" * 241},
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
    ],
)
def test_bad_proposal_pages_are_refused(p: Proposals, params: dict[str, Any]) -> None:
    field = "cursor" if "cursor" in params else "limit"
    body = assert_problem(p.client.get(p.base, params=params), 422, "invalid-input")
    assert field in body["field"]


def test_a_proposal_cursor_carries_any_payload_id() -> None:
    for pid in ("8c1f0e1e-2c1b-4f43-9d55-7a1b5b2a9f10", "报销 第1笔", "a b  c"):
        cursor = encode_proposal_cursor("2026-11-27T10:00:00.123Z", pid)
        assert decode_proposal_cursor(cursor) == ("2026-11-27T10:00:00.123Z", pid)


def test_co_signing_appends_with_both_signatures(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    p.propose(spend)
    r = p.cosign(spend.payload.id, sig_json(f.committee, spend))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "appended" and body["missing"] == []
    seq = body["seq"]
    with f.service.reader(f.id) as reader:
        entry = parse_leaf(reader.leaf(seq))
        assert reader.size == seq + 1
    assert entry.payload.raw == spend.payload.raw
    assert {s.key for s in entry.signatures} == {f.trustee.key_id, f.committee.key_id}
    assert p.get(spend.payload.id).json()["status"] == "appended"
    assert p.client.get(p.base, params={"status": "pending"}).json()["proposals"] == []
    # Co-signing an appended proposal again changes nothing.
    later = p.cosign(spend.payload.id, sig_json(f.committee2, spend))
    assert later.status_code == 200 and later.json()["seq"] == seq
    assert size(f) == seq + 1
    with f.service.session() as s:
        verify_estate(s, f.id)


def test_a_proposal_the_policy_already_allows_is_appended(p: Proposals) -> None:
    f = p.f
    spend = f.spend(5_000)  # trustee and committee
    r = p.propose(spend)
    assert r.status_code == 201
    assert r.json()["status"] == "appended" and r.json()["seq"] == size(p.f) - 1
    # Proposing it again: the entry is there, nothing more happens.
    again = p.propose(spend)
    assert again.status_code == 200 and again.json()["seq"] == r.json()["seq"]


@pytest.mark.parametrize("flaw", ["bit-flip", "other-payload", "unknown-key"])
def test_a_bad_co_signature_changes_nothing(p: Proposals, flaw: str) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    before_doc = p.propose(spend).json()
    before_size = size(f)
    sig = sig_json(f.committee, spend)
    code = "invalid-signature"
    if flaw == "bit-flip":
        raw = bytearray(f.committee.sign(spend.payload.raw).sig)
        raw[7] ^= 1
        sig = {"key": f.committee.key_id, "sig": b64encode(bytes(raw))}
    elif flaw == "other-payload":
        sig = sig_json(f.committee, f.spend(30_001, f.trustee))
    else:
        sig = sig_json(AuthorKey.generate(), spend)
        code = "unknown-key"
    r = p.cosign(spend.payload.id, sig)
    assert_problem(r, 403, code)
    assert p.get(spend.payload.id).json() == before_doc
    assert size(f) == before_size


def test_a_bad_signature_among_good_ones_stores_none(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    before = p.propose(spend).json()
    stranger = sig_json(AuthorKey.generate(), spend)
    assert_problem(
        p.cosign(spend.payload.id, sig_json(f.committee, spend), stranger), 403, "unknown-key"
    )
    assert p.get(spend.payload.id).json() == before


def test_duplicates_are_ignored_and_partial_signatures_accumulate(p: Proposals) -> None:
    """Registering a key needs the committee and the operator: two roles to gather."""
    f = p.f
    newcomer = AuthorKey.generate()
    body = {
        "action": "register",
        "public_key": b64encode(newcomer.public_key),
        "role": "auditor",
        "holder": "某会计师事务所",
    }
    register = f.signed("key", body, f.supervisor)
    r = p.propose(register)
    assert r.status_code == 201 and r.json()["missing"] == ["committee", "operator"]
    same = p.cosign(register.payload.id, sig_json(f.supervisor, register))
    assert same.status_code == 200 and same.json() == r.json()
    step = p.cosign(register.payload.id, sig_json(f.committee, register))
    assert step.json()["status"] == "pending" and step.json()["missing"] == ["operator"]
    assert len(step.json()["signatures"]) == 2
    last = (sig_json(f.operator, register), sig_json(f.committee, register))
    done = p.cosign(register.payload.id, *last)
    assert done.json()["status"] == "appended"
    with f.service.reader(f.id) as reader:
        entry = parse_leaf(reader.leaf(done.json()["seq"]))
    assert {s.key for s in entry.signatures} == {
        f.supervisor.key_id,
        f.committee.key_id,
        f.operator.key_id,
    }


def test_refusals(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    assert_problem(p.cosign(spend.payload.id, sig_json(f.committee, spend)), 404, "not-found")
    assert_problem(p.get(spend.payload.id), 404, "not-found")
    p.propose(spend)
    # The same id with another payload.
    other = f.signed(
        "transaction",
        dict(spend.payload.raw["body"]) | {"category": "其他"},
        f.trustee,
        id=spend.payload.id,
    )
    assert_problem(p.propose(other), 409, "id-conflict")
    # A body that does not fit the log is refused now, not when the last signature comes.
    unbalanced = f.signed(
        "transaction",
        {
            "postings": [
                {"account": "Assets:Bank:CoManaged", "amount": -10},
                {"account": "Expenses:Cleaning", "amount": 9},
            ],
            "counterparty": "x",
            "category": "保洁",
        },
        f.trustee,
    )
    assert_problem(p.propose(unbalanced), 422, "unbalanced-postings")
    unsigned = wire(spend) | {"signatures": []}
    unsigned["payload"] = dict(f.spend(1, f.trustee).payload.raw)
    assert_problem(p.client.post(p.base, json=unsigned), 403, "missing-signature")
    assert_problem(p.propose(f.genesis()), 409, "log-state")
    assert_problem(p.client.post(p.base, json={"payload": {}}), 422, "invalid-input")


def test_posting_the_full_entry_directly_settles_the_proposal(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    p.propose(spend)
    full = SignedPayload(spend.payload, (*spend.signatures, f.committee.sign(spend.payload.raw)))
    appended = f.append(full)[0]
    got = p.get(spend.payload.id).json()
    assert got["status"] == "appended" and got["seq"] == appended.entry.seq


def test_two_co_signers_racing_append_once(estate: EstateFactory) -> None:
    f = estate
    svc = f.service
    spend = f.spend(30_000, f.trustee)
    svc.propose(f.id, spend)
    before = size(f)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def cosign(key: AuthorKey) -> None:
        barrier.wait()
        try:
            results.append(svc.cosign(f.id, spend.payload.id, [key.sign(spend.payload.raw)]))
        except Exception as e:  # reported below
            results.append(e)

    threads = [threading.Thread(target=cosign, args=(k,)) for k in (f.committee, f.committee2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(not isinstance(r, Exception) for r in results), results
    assert [r.proposal.status for r in results] == ["appended", "appended"]
    assert sum(r.appended is not None for r in results) == 1
    assert {r.proposal.seq for r in results} == {before}
    assert size(f) == before + 1
    with svc.session() as s:
        verify_estate(s, f.id)


def test_withdrawal(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    pid = spend.payload.id
    p.propose(spend)
    p.cosign(pid, sig_json(f.supervisor, spend))  # a co-signer, not a proposer
    assert_problem(p.withdraw(pid, withdrawal(f.supervisor, pid)), 403, "unknown-key")
    forged = withdrawal(f.trustee, pid)
    forged["signature"]["sig"] = withdrawal(f.trustee, "other-id")["signature"]["sig"]
    assert_problem(p.withdraw(pid, forged), 403, "invalid-signature")
    assert p.get(pid).json()["status"] == "pending"

    r = p.withdraw(pid, withdrawal(f.trustee, pid))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["missing"] == []
    assert p.withdraw(pid, withdrawal(f.trustee, pid)).json()["status"] == "withdrawn"
    assert p.client.get(p.base, params={"status": "withdrawn"}).json()["proposals"][0]["id"] == pid
    before = size(f)
    assert_problem(p.cosign(pid, sig_json(f.committee, spend)), 409, "log-state")
    assert_problem(p.propose(spend), 409, "log-state")
    assert size(f) == before
    assert_problem(p.withdraw("no-such-id", withdrawal(f.trustee, "no-such-id")), 404, "not-found")


def test_an_appended_proposal_cannot_be_withdrawn(p: Proposals) -> None:
    f = p.f
    spend = f.spend(30_000, f.trustee)
    p.propose(spend)
    p.cosign(spend.payload.id, sig_json(f.committee, spend))
    r = p.withdraw(spend.payload.id, withdrawal(f.trustee, spend.payload.id))
    assert_problem(r, 409, "log-state")


# -- the rule itself, without storage -------------------------------------------------------


def test_missing_roles_agrees_with_check_append(estate: EstateFactory) -> None:
    """missing_roles is [] exactly when check_append accepts; signatures are verified."""
    f = estate
    state = MemoryState(f.id)
    with f.service.reader(f.id) as r:
        for _, leaf in r.leaves(0, 1000):
            entry = parse_leaf(leaf)
            state.apply(check_append(state, entry.payload, entry.signatures))
    spend = f.spend(100, f.trustee).payload
    assert missing_roles(state, spend, [f.trustee.sign(spend.raw)]) == ["committee"]
    assert missing_roles(state, spend, [f.supervisor.sign(spend.raw)]) == ["trustee", "committee"]
    both = [f.trustee.sign(spend.raw), f.committee.sign(spend.raw)]
    assert missing_roles(state, spend, both) == []
    check_append(state, spend, both)
    income = f.income(100).payload
    assert missing_roles(state, income, [f.supervisor.sign(income.raw)]) == ["trustee|committee"]
    bad = Signature(f.trustee.key_id, f.trustee.sign(income.raw).sig)
    with pytest.raises(InvalidSignature):
        missing_roles(state, spend, [bad])
    genesis = f.genesis().payload
    with pytest.raises(LogStateError):
        missing_roles(state, genesis, [f.operator.sign(genesis.raw)])
