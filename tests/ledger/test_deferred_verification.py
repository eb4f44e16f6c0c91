"""Signatures being verified elsewhere, settled just before the commit
(``LedgerService.append(defer_verified_elsewhere=True)``, the batch import's path).

Worker processes are played by claims registered as being verified elsewhere
(``VERIFIED.being_verified``) whose wait returns at once without settling them:
the append defers them, and ``settle_deferred`` verifies them itself before the
commit. Every outcome must be the one of an append without deferral.
"""

from __future__ import annotations

import pytest

from ledger.errors import InvalidSignature, UnknownAccount
from ledger.signing import PAYLOAD_DOMAIN, VERIFIED, Signature
from ledger.storage.appender import SignedPayload
from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory

pytestmark = pytest.mark.usefixtures("memo")


def elsewhere(estate: EstateFactory, items: list[SignedPayload]) -> int:
    """Register every signature of ``items`` as being verified elsewhere; how many."""
    keys = {k.key_id: k.public_key for k in (estate.trustee, estate.committee)}
    claims = [
        VERIFIED.claim(keys[s.key], PAYLOAD_DOMAIN + item.payload.canonical(), s.sig)
        for item in items
        for s in item.signatures
    ]
    VERIFIED.being_verified(claims, lambda: None)
    return len(claims)


def forge(item: SignedPayload) -> SignedPayload:
    sig = item.signatures[0]
    bad = Signature(sig.key, sig.sig[:-1] + bytes([sig.sig[-1] ^ 1]))
    return SignedPayload(item.payload, (bad, *item.signatures[1:]))


def size(estate: EstateFactory) -> int:
    with estate.service.reader(estate.id) as r:
        return r.size


def test_deferred_signatures_are_verified_before_the_commit(
    estate: EstateFactory, crypto_calls: list[bytes]
) -> None:
    items = [estate.income(100 + i) for i in range(6)] + [estate.spend(50)]
    n = elsewhere(estate, items)
    crypto_calls.clear()
    out = estate.service.append(estate.id, items, verify_ahead=False, defer_verified_elsewhere=True)
    assert [a.created for a in out] == [True] * len(items)
    assert len(crypto_calls) == n  # each verified once, at the end, none skipped
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == size(estate)


def test_a_deferred_forgery_is_refused_as_without_deferral(estate: EstateFactory) -> None:
    items = [estate.income(100 + i) for i in range(6)]
    items[3] = forge(items[3])
    elsewhere(estate, items)
    before = size(estate)
    with pytest.raises(InvalidSignature) as refused:
        estate.service.append(estate.id, items, verify_ahead=False, defer_verified_elsewhere=True)
    assert refused.value.data["index"] == 3
    assert size(estate) == before
    assert not VERIFIED.verified(
        estate.trustee.public_key,
        PAYLOAD_DOMAIN + items[3].payload.canonical(),
        items[3].signatures[0].sig,
    )
    good = [estate.income(100 + i) for i in range(3)]
    assert estate.service.append(estate.id, good)[0].entry.seq == before


def test_a_deferred_forgery_before_another_refusal_is_the_one_refused(
    estate: EstateFactory,
) -> None:
    """Without deferral the forged item 1 is refused first; with it, the refusal of item
    4 must not come out instead."""
    items = [estate.income(100 + i) for i in range(6)]
    items[1] = forge(items[1])
    items[4] = estate.income(5, account="Income:NoSuchAccount")
    elsewhere(estate, items)
    before = size(estate)
    with pytest.raises(InvalidSignature) as refused:
        estate.service.append(estate.id, items, verify_ahead=False, defer_verified_elsewhere=True)
    assert refused.value.data["index"] == 1
    items[1] = estate.income(101)
    elsewhere(estate, items)
    with pytest.raises(UnknownAccount) as unknown:
        estate.service.append(estate.id, items, verify_ahead=False, defer_verified_elsewhere=True)
    assert unknown.value.data["index"] == 4
    assert size(estate) == before
