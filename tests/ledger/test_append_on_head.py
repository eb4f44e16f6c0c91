"""Appending on the head this process left (no reads; PostgreSQL: one round trip).

The batch is built from the head remembered after this process's last append and
checked, under the estate's lock, against the database: whenever the log moved in
between (another process appended, revoked a key, redacted a voucher, rotated the
log key, parked a proposal under the same id), nothing of the attempt is written
and the append goes the usual way. "Another process" is played by giving this one
a head it remembers from earlier (``_heads``), as after a writer elsewhere.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ledger.errors import LogStateError, RevokedKey
from ledger.signing import AuthorKey
from ledger.storage import appender
from ledger.storage.appender import SignedPayload
from ledger.storage.verify import verify_estate
from tests.factories import BANK, EstateFactory
from tests.ledger.test_append_rules import income_body, register_key, revoke_key
from tests.ledger.test_redaction import document, redaction


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each attempt on a remembered head: True if it appended, False if it fell back."""
    seen: list[bool] = []
    real = appender.Appender._append_on_head

    def spy(self: appender.Appender, *args: Any) -> Any:
        out = real(self, *args)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(appender.Appender, "_append_on_head", spy)
    return seen


def size(estate: EstateFactory) -> int:
    with estate.service.reader(estate.id) as r:
        return r.size


def verified(estate: EstateFactory) -> int:
    with estate.service.session() as s:
        return verify_estate(s, estate.id).tree.size


def test_appends_on_its_own_head_in_one_round_trip(
    estate: EstateFactory, attempts: list[bool]
) -> None:
    estate.append(estate.income(100))
    attempts.clear()
    out = [estate.append(estate.income(200 + i))[0] for i in range(3)]
    assert [a.entry.seq for a in out] == [out[0].entry.seq + i for i in range(3)]
    assert attempts == [True] * 3
    assert verified(estate) == out[-1].entry.seq + 1


def test_another_writers_entries_send_it_the_usual_way(
    estate: EstateFactory, attempts: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.append(estate.income(100))
    stale = dict(appender._heads)
    estate.append(estate.income(200), estate.spend(50))
    monkeypatch.setattr(appender, "_heads", stale)
    attempts.clear()
    last = estate.append(estate.income(300))[0]
    assert attempts == [False]
    assert last.entry.seq == size(estate) - 1 == verified(estate) - 1
    again = estate.append(estate.income(400))[0]  # and from there, on its own head again
    assert again.entry.seq == last.entry.seq + 1
    assert attempts == [False, True]


def test_a_key_revoked_by_another_writer_is_refused(
    estate: EstateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = AuthorKey.generate()
    estate.append(register_key(estate, key))
    estate.append(estate.signed("transaction", income_body(100), key))  # known valid here
    stale = dict(appender._heads)
    estate.append(revoke_key(estate, key))
    before = size(estate)
    monkeypatch.setattr(appender, "_heads", stale)
    with pytest.raises(RevokedKey):
        estate.append(estate.signed("transaction", income_body(200), key))
    assert size(estate) == before == verified(estate)


def test_a_voucher_redacted_by_another_writer_is_refused(
    estate: EstateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"%PDF-1.7\n% invoice\n%%EOF\n"
    sha = hashlib.sha256(data).hexdigest()
    estate.append(document(estate, data))
    estate.append(estate.income(100))
    stale = dict(appender._heads)
    estate.append(redaction(estate, sha))
    monkeypatch.setattr(appender, "_heads", stale)
    # The bytes are still on disk (the redacting process has not deleted them yet).
    estate.service.blobs_for(estate.id).put(sha, data)
    before = size(estate)
    body = {
        "postings": [
            {"account": BANK, "amount": -10},
            {"account": "Expenses:Cleaning", "amount": 10},
        ],
        "counterparty": "保洁公司",
        "category": "保洁",
    }
    voucher = {"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": "票.pdf"}
    spend = estate.signed("transaction", body, estate.trustee, estate.committee, vouchers=[voucher])
    with pytest.raises(LogStateError, match="redacted"):
        estate.append(spend)
    assert size(estate) == before == verified(estate)


def test_a_rotated_log_key_signs_the_next_checkpoint(
    estate: EstateFactory, attempts: list[bool]
) -> None:
    estate.append(estate.income(100))
    _, key = estate.service.rotate_log_key(estate.id)
    attempts.clear()
    last = estate.append(estate.income(200))[0]
    assert attempts == [False]
    with estate.service.reader(estate.id) as r:
        assert r.row.vkey == key.vkey
    assert verified(estate) == last.entry.seq + 1


def test_a_pending_proposal_of_the_same_payload_is_marked_appended(
    estate: EstateFactory, attempts: list[bool]
) -> None:
    estate.append(estate.income(100))
    spend = estate.spend(70)
    half = SignedPayload(spend.payload, spend.signatures[:1])
    parked = estate.service.propose(estate.id, half)
    assert parked.proposal.status == "pending"
    attempts.clear()
    appended = estate.append(spend)[0]
    assert attempts == [False]
    (listed,) = estate.service.list_proposals(estate.id, proposal_id=spend.payload.id)
    assert (listed.proposal.status, listed.proposal.seq) == ("appended", appended.entry.seq)


def test_a_repeated_payload_is_answered_with_its_entry(
    estate: EstateFactory, attempts: list[bool]
) -> None:
    item = estate.income(100)
    first = estate.append(item)[0]
    attempts.clear()
    again = estate.append(item)[0]
    assert not again.created and again.entry.seq == first.entry.seq
    assert attempts == [False]
    assert size(estate) == first.entry.seq + 1
