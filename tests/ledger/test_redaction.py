"""Redaction: a signed entry withdraws a voucher's bytes; the log itself never changes.

The rules (the hash was referenced by an earlier entry and is not redacted yet; no
later entry may reference it), the policy rule added after v1 (optional in old
policies), the stored redaction, the bytes deleted from the blob store after the
commit, and that the whole log still verifies — on both engines.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from ledger.errors import InvalidInput, LogStateError, MissingSignature, MissingVoucher
from ledger.payload import RedactionBody, parse_payload
from ledger.policy import DEFAULT_POLICY, Rule, parse_policy
from ledger.replay import replay
from ledger.storage.appender import SignedPayload
from ledger.storage.blobs import BlobStore, FilesystemBlobStore
from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory


def pdf(tag: str) -> bytes:
    return b"%PDF-1.7\n% " + tag.encode() + b"\n%%EOF\n"


def ref(data: bytes, name: str = "合同.pdf") -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    return {"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": name}


def document(f: EstateFactory, data: bytes) -> SignedPayload:
    """Upload ``data`` and return a signed document entry that references it."""
    f.service.blobs_for(f.id).put(hashlib.sha256(data).hexdigest(), data)
    body = {"title": "保洁合同", "doc_type": "contract"}
    return f.signed("document", body, f.committee, vouchers=[ref(data)])


def redaction(
    f: EstateFactory, sha256: str, *keys: Any, reason: str = "含个人信息"
) -> SignedPayload:
    return f.signed("redaction", {"sha256": sha256, "reason": reason}, *(keys or [f.committee]))


def size(f: EstateFactory) -> int:
    with f.service.reader(f.id) as r:
        return r.size


# -- the payload and the policy (pure) --------------------------------------------------------


def test_redaction_payload_parses() -> None:
    sha = "ab" * 32
    raw = {
        "v": 1,
        "estate": "qingliang-2",
        "id": "6f1c8a52-3e0b-4a8e-9a57-1f8d2f0c9b11",
        "kind": "redaction",
        "date": "2026-11-02",
        "body": {"sha256": sha, "reason": "误传了含身份证号的扫描件"},
    }
    assert parse_payload(raw).body == RedactionBody(sha, "误传了含身份证号的扫描件")
    for body in (
        {"sha256": sha.upper(), "reason": "x"},
        {"sha256": sha[:-2], "reason": "x"},
        {"sha256": sha, "reason": "x" * 501},
        {"sha256": sha, "reason": ""},
        {"sha256": sha},
        {"sha256": sha, "reason": "x", "seq": 3},
    ):
        with pytest.raises(InvalidInput):
            parse_payload(copy.deepcopy(raw) | {"body": body})


def test_old_policies_without_the_redaction_rule_stay_valid() -> None:
    old = DEFAULT_POLICY.to_json()
    del old["redaction"]
    parsed = parse_policy(old)
    assert parsed.rule("redaction") == DEFAULT_POLICY.rule("redaction") == Rule(("committee",))
    assert parse_policy(DEFAULT_POLICY.to_json()) == DEFAULT_POLICY


def test_a_policy_may_set_its_own_redaction_rule() -> None:
    value = DEFAULT_POLICY.to_json() | {"redaction": {"all_of": ["committee", "supervisor"]}}
    assert parse_policy(value).rule("redaction").all_of == ("committee", "supervisor")


@pytest.mark.parametrize("change", ["drop-v1-rule", "unknown-rule", "empty-rule"])
def test_policies_stay_strict(change: str) -> None:
    value = DEFAULT_POLICY.to_json()
    if change == "drop-v1-rule":
        del value["spend"]
    elif change == "unknown-rule":
        value["redact"] = {"all_of": ["committee"]}
    else:
        value["redaction"] = {}
    with pytest.raises(InvalidInput):
        parse_policy(value)


# -- appending redactions --------------------------------------------------------------------


def test_redaction_withdraws_the_bytes_and_the_log_still_verifies(estate: EstateFactory) -> None:
    data = pdf("one")
    sha = hashlib.sha256(data).hexdigest()
    doc = estate.append(document(estate, data))[0]
    store = estate.service.blobs_for(estate.id)
    assert isinstance(store, FilesystemBlobStore)
    path = store.root / sha[:2] / sha
    assert path.read_bytes() == data

    done = estate.append(redaction(estate, sha, reason="含业主身份证号"))[0]

    assert done.created and done.entry.seq == doc.entry.seq + 1
    assert not path.exists() and store.get(sha) is None and not store.exists(sha)
    with estate.service.session() as s:
        assert estate.service.redaction(s, estate.id, sha) == (done.entry.seq, "含业主身份证号")
        result = verify_estate(s, estate.id)
    assert result.tree.size == done.entry.seq + 1
    assert result.state.redactions == {sha: done.entry.seq}
    # The entry that referenced the voucher is untouched: same leaf, same hash.
    with estate.service.reader(estate.id) as r:
        assert r.leaf(doc.entry.seq) == doc.leaf


def test_a_retried_redaction_is_the_same_entry(estate: EstateFactory) -> None:
    data = pdf("retry")
    estate.append(document(estate, data))
    item = redaction(estate, hashlib.sha256(data).hexdigest())
    first = estate.append(item)[0]
    again = estate.append(item)[0]
    assert not again.created and again.entry.seq == first.entry.seq


def test_an_unreferenced_hash_cannot_be_redacted(estate: EstateFactory) -> None:
    before = size(estate)
    uploaded_only = pdf("never referenced")
    sha = hashlib.sha256(uploaded_only).hexdigest()
    estate.service.blobs_for(estate.id).put(sha, uploaded_only)
    with pytest.raises(LogStateError, match="not referenced") as e:
        estate.append(redaction(estate, sha))
    assert e.value.field == "payload.body.sha256"
    assert size(estate) == before
    assert estate.service.blobs_for(estate.id).exists(sha)


def test_a_voucher_is_redacted_once(estate: EstateFactory) -> None:
    data = pdf("twice")
    sha = hashlib.sha256(data).hexdigest()
    estate.append(document(estate, data))
    first = estate.append(redaction(estate, sha))[0]
    before = size(estate)
    with pytest.raises(LogStateError, match="already redacted") as e:
        estate.append(redaction(estate, sha, reason="再次撤回"))
    assert e.value.data["seq"] == first.entry.seq
    assert size(estate) == before


def test_redaction_needs_the_policy(estate: EstateFactory) -> None:
    data = pdf("policy")
    estate.append(document(estate, data))
    with pytest.raises(MissingSignature) as e:
        estate.append(redaction(estate, hashlib.sha256(data).hexdigest(), estate.trustee))
    assert e.value.data["rule"] == "redaction"
    assert estate.service.blobs_for(estate.id).exists(hashlib.sha256(data).hexdigest())


def test_a_redacted_voucher_cannot_be_referenced_again(estate: EstateFactory) -> None:
    data = pdf("again")
    sha = hashlib.sha256(data).hexdigest()
    estate.append(document(estate, data))
    estate.append(redaction(estate, sha))
    before = size(estate)
    body = {"title": "再次引用", "doc_type": "other"}
    later = estate.signed("document", body, estate.committee, vouchers=[ref(data)])
    with pytest.raises(MissingVoucher):  # the bytes are gone
        estate.append(later)
    # Even with the bytes put back behind the ledger's back, the rules refuse it.
    estate.service.blobs_for(estate.id).put(sha, data)
    with pytest.raises(LogStateError, match="redacted") as e:
        estate.append(later)
    assert e.value.field == "payload.vouchers[0].sha256"
    assert size(estate) == before


def test_a_redaction_cannot_list_the_voucher_it_withdraws(estate: EstateFactory) -> None:
    data = pdf("self")
    sha = hashlib.sha256(data).hexdigest()
    estate.append(document(estate, data))
    item = estate.signed(
        "redaction", {"sha256": sha, "reason": "x"}, estate.committee, vouchers=[ref(data)]
    )
    with pytest.raises(LogStateError, match="cannot reference"):
        estate.append(item)


def test_reference_and_redaction_in_one_batch(estate: EstateFactory) -> None:
    data = pdf("batch")
    sha = hashlib.sha256(data).hexdigest()
    out = estate.append(document(estate, data), redaction(estate, sha))
    assert [a.entry.payload.kind for a in out] == ["document", "redaction"]
    assert not estate.service.blobs_for(estate.id).exists(sha)
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).state.redactions == {sha: out[1].entry.seq}


def test_replay_applies_the_same_rules(estate: EstateFactory) -> None:
    """The in-memory fold used by audits reaches the same verdict as the database."""
    data = pdf("replay")
    sha = hashlib.sha256(data).hexdigest()
    estate.append(document(estate, data), redaction(estate, sha))
    with estate.service.reader(estate.id) as r:
        leaves = r.leaves(0, 1000)
    state = replay(estate.id, leaves).state
    assert state.voucher_state(sha) == (True, len(leaves) - 1)
    assert state.voucher_state("00" * 32) == (False, None)


def test_blob_stores_implement_delete(tmp_path: Any) -> None:
    store = FilesystemBlobStore(tmp_path)
    assert isinstance(store, BlobStore)
    data = pdf("blob")
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, data)
    store.delete(sha)
    store.delete(sha)  # absent bytes are not an error
    assert not store.exists(sha)
    with pytest.raises(InvalidInput):
        store.delete("../" + sha[3:])


@pytest.mark.parametrize(
    "statement", ["UPDATE redactions SET reason = 'x'", "DELETE FROM redactions"]
)
def test_redactions_are_append_only_in_the_database(estate: EstateFactory, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    data = pdf("append-only")
    estate.append(document(estate, data), redaction(estate, hashlib.sha256(data).hexdigest()))
    with pytest.raises(DBAPIError, match="append-only"), estate.service.engine.begin() as conn:
        conn.execute(text(f"{statement} WHERE estate_id = :e"), {"e": estate.id})
