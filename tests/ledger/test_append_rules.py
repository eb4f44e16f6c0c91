"""Append rules through LedgerService, on SQLite and PostgreSQL.

Every refusal is checked twice: the specific error (class, code, data), and that
the database is exactly as before (every row of the estate, the head, the latest
checkpoint) with no entry for the refused payload id.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from ledger.canonical import b64encode
from ledger.entry import parse_leaf
from ledger.errors import (
    AccountState,
    Conflict,
    DuplicateSignature,
    InvalidReversal,
    InvalidSignature,
    LedgerError,
    LogStateError,
    MissingSignature,
    RevokedKey,
    UnbalancedPostings,
    UnknownAccount,
    UnknownKey,
    WrongEstate,
)
from ledger.signing import AuthorKey, Signature
from ledger.storage.appender import SignedPayload
from ledger.storage.models import Base, EntryRow, KeyRow
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate
from tests.factories import BANK, EstateFactory

TABLES = (
    "entries",
    "postings",
    "tree_hashes",
    "checkpoints",
    "author_keys",
    "accounts",
    "reversals",
    "voucher_refs",
)


def snapshot(f: EstateFactory) -> dict[str, Any]:
    """Every row the estate owns, and its head and latest checkpoint."""
    out: dict[str, Any] = {}
    with f.service.session() as s:
        estates = Base.metadata.tables["estates"]
        out["estates"] = s.execute(select(estates).where(estates.c.id == f.id)).all()
        for name in TABLES:
            table = Base.metadata.tables[name]
            rows = s.execute(select(table).where(table.c.estate_id == f.id)).all()
            out[name] = sorted(tuple(r) for r in rows)
    with f.service.reader(f.id) as r:
        cp = r.latest_checkpoint()
        out["size"] = r.size
        out["checkpoint"] = (cp.size, cp.root, cp.note)
    return out


def has_entry(f: EstateFactory, payload_id: str) -> bool:
    with f.service.session() as s:
        found = s.scalar(
            select(EntryRow.seq).where(
                EntryRow.estate_id == f.id, EntryRow.payload_id == payload_id
            )
        )
    return found is not None


def rejected(f: EstateFactory, *items: SignedPayload, error: type[LedgerError]) -> LedgerError:
    """Append ``items``, expect exactly ``error``, and check nothing was written."""
    before = snapshot(f)
    known = {item.payload.id for item in items if has_entry(f, item.payload.id)}
    with pytest.raises(error) as e:
        f.append(*items)
    assert type(e.value) is error, f"{type(e.value).__name__}: {e.value}"
    assert snapshot(f) == before
    for item in items:
        # No row for a refused payload id (a conflicting id keeps only its first entry).
        assert has_entry(f, item.payload.id) == (item.payload.id in known)
    return e.value


def known_ids(f: EstateFactory) -> list[str]:
    with f.service.session() as s:
        return list(s.scalars(select(EntryRow.payload_id).where(EntryRow.estate_id == f.id)))


def income_body(fen: int, account: str = "Income:PropertyFee") -> dict[str, Any]:
    return {
        "postings": [{"account": BANK, "amount": fen}, {"account": account, "amount": -fen}],
        "counterparty": "业主",
        "category": "物业费",
    }


def resigned(raw: dict[str, Any], *sigs: Signature) -> SignedPayload:
    return SignedPayload.parse(raw, [s.to_json() for s in sigs])


def register_key(f: EstateFactory, key: AuthorKey, role: str = "trustee") -> SignedPayload:
    body = {
        "action": "register",
        "public_key": b64encode(key.public_key),
        "role": role,
        "holder": "新物业公司",
    }
    return f.signed("key", body, f.committee, f.operator)


def revoke_key(f: EstateFactory, key: AuthorKey, *signers: AuthorKey) -> SignedPayload:
    body = {"action": "revoke", "key_id": key.key_id, "reason": "合同到期"}
    return f.signed("key", body, *(signers or (f.committee, f.operator)))


def reversal(f: EstateFactory, target: int) -> SignedPayload:
    return f.signed("reversal", {"target": target, "reason": "重复录入"}, f.trustee, f.committee)


# -- a baseline: what is accepted -----------------------------------------------------------


def test_valid_appends_are_written(estate: EstateFactory) -> None:
    before = snapshot(estate)
    out = estate.append(estate.income(10_000), estate.spend(2_500))
    assert [a.entry.seq for a in out] == [before["size"], before["size"] + 1]
    assert all(a.created for a in out)
    after = snapshot(estate)
    assert after["size"] == before["size"] + 2
    assert after["checkpoint"][0] == after["size"]
    assert len(after["checkpoints"]) == len(before["checkpoints"]) + 1
    assert len(after["postings"]) == len(before["postings"]) + 4
    for a in out:
        assert has_entry(estate, a.entry.payload.id)


# -- signatures -----------------------------------------------------------------------------


def test_no_signatures(estate: EstateFactory) -> None:
    err = rejected(estate, resigned(estate.income(100).payload.raw), error=MissingSignature)
    assert err.code == "missing-signature"
    assert "no signature" in str(err)


def test_forged_signature_one_bit_flipped(estate: EstateFactory) -> None:
    good = estate.income(100)
    sig = good.signatures[0]
    for bit in (0, 255, 511):
        forged = bytearray(sig.sig)
        forged[bit // 8] ^= 1 << (bit % 8)
        err = rejected(
            estate,
            resigned(good.payload.raw, Signature(sig.key, bytes(forged))),
            error=InvalidSignature,
        )
        assert err.data["key"] == estate.trustee.key_id
    assert estate.append(good)[0].created  # the untouched signature is fine


def test_signature_over_a_different_payload(estate: EstateFactory) -> None:
    signed_one = estate.income(100)
    other_raw = estate.income(100).payload.raw  # same content, other id
    err = rejected(estate, resigned(other_raw, *signed_one.signatures), error=InvalidSignature)
    assert err.code == "invalid-signature"
    # An amount changed after signing is the same failure.
    tampered = dict(signed_one.payload.raw, memo="改过的备注")
    rejected(estate, resigned(tampered, *signed_one.signatures), error=InvalidSignature)


def test_key_not_registered(estate: EstateFactory) -> None:
    stranger = AuthorKey.generate()
    err = rejected(
        estate, estate.signed("transaction", income_body(100), stranger), error=UnknownKey
    )
    assert err.data["key"] == stranger.key_id
    assert estate.id in str(err)


def test_key_of_another_estate(estate: EstateFactory) -> None:
    other = EstateFactory.create(estate.service, f"o-{uuid.uuid4().hex[:12]}", accounts=False)
    item = estate.signed("transaction", income_body(100), other.trustee)
    err = rejected(estate, item, error=UnknownKey)
    assert err.data["key"] == other.trustee.key_id


def test_payload_for_another_estate_is_refused(estate: EstateFactory) -> None:
    other = EstateFactory.create(estate.service, f"o-{uuid.uuid4().hex[:12]}")
    replayed = other.income(5_000)
    other_before = snapshot(other)
    err = rejected(estate, replayed, error=WrongEstate)
    assert err.field == "payload.estate"
    assert snapshot(other) == other_before
    # Accepted where it belongs, and still refused when replayed afterwards.
    assert other.append(replayed)[0].created
    rejected(estate, replayed, error=WrongEstate)


def test_same_key_signing_twice(estate: EstateFactory) -> None:
    item = estate.income(100)
    sig = item.signatures[0]
    err = rejected(estate, resigned(item.payload.raw, sig, sig), error=DuplicateSignature)
    assert err.data["key"] == estate.trustee.key_id


def test_spending_by_trustee_only_needs_committee(estate: EstateFactory) -> None:
    err = rejected(estate, estate.spend(500, estate.trustee), error=MissingSignature)
    assert err.data["rule"] == "spend" and err.data["role"] == "committee"
    assert "committee" in str(err) and "业委会" in str(err)


def test_spending_by_committee_only_needs_trustee(estate: EstateFactory) -> None:
    err = rejected(estate, estate.spend(500, estate.committee), error=MissingSignature)
    assert err.data["rule"] == "spend" and err.data["role"] == "trustee"


def test_spending_by_two_committee_keys_needs_trustee(estate: EstateFactory) -> None:
    err = rejected(
        estate, estate.spend(500, estate.committee, estate.committee2), error=MissingSignature
    )
    assert err.data["role"] == "trustee"
    assert estate.append(estate.spend(500, estate.committee2, estate.trustee))[0].created


def test_supervisor_cannot_sign_income(estate: EstateFactory) -> None:
    item = estate.signed("transaction", income_body(100), estate.supervisor)
    err = rejected(estate, item, error=MissingSignature)
    assert err.data["rule"] == "income"
    assert set(err.data["role"].split("|")) == {"trustee", "committee"}


def test_operator_cannot_sign_income(estate: EstateFactory) -> None:
    item = estate.signed("transaction", income_body(100), estate.operator)
    rejected(estate, item, error=MissingSignature)


def test_key_changes_need_committee_and_operator(estate: EstateFactory) -> None:
    new = AuthorKey.generate()
    body = {
        "action": "register",
        "public_key": b64encode(new.public_key),
        "role": "trustee",
        "holder": "x",
    }
    err = rejected(estate, estate.signed("key", body, estate.committee), error=MissingSignature)
    assert err.data["role"] == "operator"
    err = rejected(estate, estate.signed("key", body, estate.operator), error=MissingSignature)
    assert err.data["role"] == "committee"


# -- key lifecycle --------------------------------------------------------------------------


def test_key_works_only_between_registration_and_revocation(estate: EstateFactory) -> None:
    new = AuthorKey.generate()
    early = estate.signed("transaction", income_body(100), new)
    rejected(estate, early, error=UnknownKey)

    registered = estate.append(register_key(estate, new))[0]
    accepted = estate.append(estate.signed("transaction", income_body(200), new))[0]
    assert accepted.created and accepted.entry.seq == registered.entry.seq + 1
    assert [s.key for s in accepted.entry.signatures] == [new.key_id]

    revoked = estate.append(revoke_key(estate, new))[0]
    err = rejected(estate, estate.signed("transaction", income_body(300), new), error=RevokedKey)
    assert err.data["key"] == new.key_id
    assert str(revoked.entry.seq) in str(err)

    # The entry it signed while valid still verifies after the revocation.
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == revoked.entry.seq + 1


def test_key_registered_and_revoked_in_one_batch(estate: EstateFactory) -> None:
    """The revocation updates a row inserted by the same batch (on PostgreSQL the
    batch's inserts are one statement, whose rows its own updates could not see)."""
    new = AuthorKey.generate()
    out = estate.append(register_key(estate, new), revoke_key(estate, new))
    registered, revoked = (a.entry.seq for a in out)
    with estate.service.session() as s:
        row = s.get_one(KeyRow, (estate.id, new.key_id))
        assert (row.added_seq, row.revoked_seq) == (registered, revoked)
        assert verify_estate(s, estate.id).tree.size == revoked + 1
    rejected(estate, estate.signed("transaction", income_body(300), new), error=RevokedKey)


def test_key_registered_and_used_in_one_batch(estate: EstateFactory) -> None:
    new = AuthorKey.generate()
    out = estate.append(
        register_key(estate, new), estate.signed("transaction", income_body(1), new)
    )
    assert [a.created for a in out] == [True, True]


def test_revoked_key_cannot_be_revoked_or_registered_again(estate: EstateFactory) -> None:
    new = AuthorKey.generate()
    estate.append(register_key(estate, new))
    rejected(estate, register_key(estate, new), error=LogStateError)
    estate.append(revoke_key(estate, new))
    rejected(estate, revoke_key(estate, new), error=LogStateError)
    rejected(estate, register_key(estate, new), error=LogStateError)


def test_revoking_a_founding_key(estate: EstateFactory) -> None:
    estate.append(revoke_key(estate, estate.committee2))
    err = rejected(estate, estate.spend(10, estate.trustee, estate.committee2), error=RevokedKey)
    assert err.data["key"] == estate.committee2.key_id


def test_revocation_needs_key_policy(estate: EstateFactory) -> None:
    err = rejected(
        estate, revoke_key(estate, estate.trustee, estate.committee), error=MissingSignature
    )
    assert err.data["rule"] == "key" and err.data["role"] == "operator"


# -- double entry ---------------------------------------------------------------------------


def test_unbalanced_postings(estate: EstateFactory) -> None:
    body = income_body(100)
    body["postings"][1]["amount"] = -99
    err = rejected(
        estate, estate.signed("transaction", body, estate.trustee), error=UnbalancedPostings
    )
    assert err.data["total"] == 1
    assert err.field == "payload.body.postings"


def test_posting_to_an_unknown_account(estate: EstateFactory) -> None:
    item = estate.signed("transaction", income_body(100, "Income:Unknown"), estate.trustee)
    err = rejected(estate, item, error=UnknownAccount)
    assert err.field == "payload.body.postings[1].account"
    assert "Income:Unknown" in str(err)


def test_posting_to_a_closed_account(estate: EstateFactory) -> None:
    close = {
        "action": "close",
        "name": "Income:Public:Parking",
        "type": "income",
        "display_name": "停车收益",
    }
    estate.append(estate.signed("account", close, estate.committee))
    item = estate.signed("transaction", income_body(100, "Income:Public:Parking"), estate.trustee)
    rejected(estate, item, error=UnknownAccount)
    rejected(estate, estate.signed("account", close, estate.committee), error=AccountState)


def test_opening_an_account_twice(estate: EstateFactory) -> None:
    rejected(estate, estate.open_account(BANK, "asset", "共管账户"), error=AccountState)


def test_zero_amount(estate: EstateFactory) -> None:
    item = estate.signed("transaction", income_body(0), estate.trustee)
    err = rejected(estate, item, error=UnbalancedPostings)
    assert err.field == "payload.body.postings[0].amount"
    body = income_body(100)
    body["postings"].append({"account": "Income:Public:Parking", "amount": 0})
    err = rejected(
        estate, estate.signed("transaction", body, estate.trustee), error=UnbalancedPostings
    )
    assert err.field == "payload.body.postings[2].amount"


# -- reversals ------------------------------------------------------------------------------


def test_reversal_of_a_non_transaction(estate: EstateFactory) -> None:
    err = rejected(estate, reversal(estate, 1), error=InvalidReversal)  # entry 1 opens an account
    assert err.field == "payload.body.target"


def test_reversal_beyond_the_log(estate: EstateFactory) -> None:
    size = snapshot(estate)["size"]
    rejected(estate, reversal(estate, size), error=InvalidReversal)  # its own seq
    rejected(estate, reversal(estate, size + 10), error=InvalidReversal)
    rejected(estate, reversal(estate, 2**53 - 1), error=InvalidReversal)


def test_reversed_twice(estate: EstateFactory) -> None:
    target = estate.append(estate.income(700))[0].entry.seq
    first = estate.append(reversal(estate, target))[0]
    assert first.created
    err = rejected(estate, reversal(estate, target), error=InvalidReversal)
    assert str(first.entry.seq) in str(err)
    # A reversal is not itself a transaction that can be reversed.
    rejected(estate, reversal(estate, first.entry.seq), error=InvalidReversal)
    with estate.service.session() as s:
        from ledger.storage.queries import balances

        assert {b.name: b.balance for b in balances(s, estate.id)}[BANK] == 0


def test_reversal_twice_in_one_batch(estate: EstateFactory) -> None:
    target = estate.append(estate.income(700))[0].entry.seq
    err = rejected(
        estate, reversal(estate, target), reversal(estate, target), error=InvalidReversal
    )
    assert err.data["index"] == 1


def test_reversal_needs_both_sides(estate: EstateFactory) -> None:
    target = estate.append(estate.income(700))[0].entry.seq
    item = estate.signed("reversal", {"target": target, "reason": "x"}, estate.trustee)
    err = rejected(estate, item, error=MissingSignature)
    assert err.data["role"] == "committee"


# -- the log's state ------------------------------------------------------------------------


def test_second_genesis(estate: EstateFactory) -> None:
    err = rejected(estate, estate.genesis(), error=LogStateError)
    assert "genesis" in str(err)
    before = snapshot(estate)
    with pytest.raises(LogStateError):
        estate.service.create_estate(estate.genesis())
    assert snapshot(estate) == before


def test_create_estate_is_idempotent_for_the_same_genesis(service: LedgerService) -> None:
    f = EstateFactory(service, f"g-{uuid.uuid4().hex[:12]}")
    genesis = f.genesis()
    first = service.create_estate(genesis)
    again = service.create_estate(genesis)
    assert first.created and not again.created
    assert again.entry.seq == 0 and again.leaf == first.leaf


def test_same_id_same_payload_returns_the_first_entry(estate: EstateFactory) -> None:
    item = estate.income(1_000)
    first = estate.append(item)[0]
    before = snapshot(estate)
    again = estate.append(item)[0]
    assert not again.created
    assert again.entry.seq == first.entry.seq
    assert again.leaf == first.leaf and again.entry == first.entry
    assert snapshot(estate) == before
    # A retry inside a batch with a new entry: the retry is not re-appended.
    out = estate.append(item, estate.income(5))
    assert [a.created for a in out] == [False, True]
    assert out[1].entry.seq == first.entry.seq + 1


def test_same_id_twice_in_one_batch(estate: EstateFactory) -> None:
    item = estate.income(1_000)
    out = estate.append(item, item)
    assert [a.created for a in out] == [True, False]
    assert out[0].entry.seq == out[1].entry.seq


def test_same_id_different_payload_is_a_conflict(estate: EstateFactory) -> None:
    first = estate.append(estate.income(1_000))[0]
    raw = dict(first.entry.payload.raw, body=income_body(1_001))
    err = rejected(
        estate,
        estate.signed("transaction", raw["body"], estate.trustee, id=raw["id"]),
        error=Conflict,
    )
    assert err.data["seq"] == first.entry.seq
    assert err.code == "id-conflict"
    assert raw["id"] in known_ids(estate)
    # Same in a batch: the conflicting second item names its index.
    clash = estate.signed("transaction", income_body(2), estate.trustee, id=raw["id"])
    err = rejected(estate, estate.income(3), clash, error=Conflict)
    assert err.data["index"] == 1


def test_batch_with_a_bad_third_entry_writes_nothing(estate: EstateFactory) -> None:
    bad = income_body(100)
    bad["postings"][0]["amount"] = 101
    items = (estate.income(1), estate.spend(2), estate.signed("transaction", bad, estate.trustee))
    err = rejected(estate, *items, error=UnbalancedPostings)
    assert err.data["index"] == 2
    # The first two alone are fine.
    assert [a.created for a in estate.append(*items[:2])] == [True, True]


def test_batch_error_index_for_signature_and_estate_failures(estate: EstateFactory) -> None:
    stranger = estate.signed("transaction", income_body(5), AuthorKey.generate())
    err = rejected(estate, estate.income(1), estate.income(2), stranger, error=UnknownKey)
    assert err.data["index"] == 2
    foreign = EstateFactory(estate.service, "never-created").income(1)
    err = rejected(estate, foreign, estate.income(2), error=WrongEstate)
    assert err.data["index"] == 0


# -- recorded_at ----------------------------------------------------------------------------

RECORDED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def _recorded(f: EstateFactory) -> list[str]:
    with f.service.reader(f.id) as r:
        return [parse_leaf(leaf).recorded_at for _, leaf in r.leaves(0, 1000)]


def test_recorded_at_is_utc_ms_and_non_decreasing(estate: EstateFactory) -> None:
    for fen in (1, 2, 3):
        estate.append(estate.income(fen))
    estate.append(estate.income(4), estate.income(5))
    stamps = _recorded(estate)
    assert len(stamps) == snapshot(estate)["size"]
    for stamp in stamps:
        assert RECORDED_AT.fullmatch(stamp), stamp
    assert stamps == sorted(stamps)


def test_recorded_at_never_goes_back_with_the_clock(estate: EstateFactory) -> None:
    last = _recorded(estate)[-1]
    service = estate.service
    original = service.clock
    try:
        service.clock = lambda: dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
        back = estate.append(estate.income(9))[0]
        assert back.entry.recorded_at == last
        service.clock = lambda: dt.datetime(2099, 5, 6, 7, 8, 9, 123_999, tzinfo=dt.UTC)
        ahead = estate.append(estate.income(10))[0]
        assert ahead.entry.recorded_at == "2099-05-06T07:08:09.123Z"
        tz8 = dt.timezone(dt.timedelta(hours=8))
        service.clock = lambda: dt.datetime(2099, 5, 7, 8, 0, 0, 5_000, tzinfo=tz8)
        local = estate.append(estate.income(11))[0]
        assert local.entry.recorded_at == "2099-05-07T00:00:00.005Z"
    finally:
        service.clock = original
    with service.session() as s:
        verify_estate(s, estate.id)
