"""The memo of signatures verified ahead (:data:`ledger.signing.VERIFIED`).

It may only make a check faster: a triple is remembered only after it verified, and
whatever is remembered for one (public key, message, signature) never vouches for
another.
"""

from __future__ import annotations

from typing import Any

import pytest

import ledger.signing as signing
from ledger.errors import InvalidSignature
from ledger.signing import (
    VERIFIED,
    AuthorKey,
    VerifiedMemo,
    payload_signing_bytes,
    verify_claimed,
    verify_many,
    verify_payload_signature,
)

RAW: dict[str, Any] = {"v": 1, "estate": "memo-test", "kind": "transaction", "memo": "签名缓存"}


pytestmark = pytest.mark.usefixtures("memo")


def test_verified_ahead_skips_the_cryptography(crypto_calls: list[bytes]) -> None:
    key = AuthorKey.generate()
    sig = key.sign(RAW)
    message = payload_signing_bytes(RAW)
    claim = VERIFIED.claim(key.public_key, message, sig.sig)
    assert not claim.known and len(VERIFIED) == 0
    assert verify_claimed([claim]) == 1 and len(VERIFIED) == 1
    verify_payload_signature(key.public_key, message, sig)
    assert crypto_calls == []
    # Claiming a verified triple again finds it known: nothing to do.
    again = VERIFIED.claim(key.public_key, message, sig.sig)
    assert again.known
    assert verify_claimed([again]) == 0 and len(VERIFIED) == 1 and crypto_calls == []


def test_verified_elsewhere_then_settled() -> None:
    key = AuthorKey.generate()
    good = key.sign(RAW)
    message = payload_signing_bytes(RAW)
    bad = good.sig[:-1] + bytes([good.sig[-1] ^ 1])
    claims = [VERIFIED.claim(key.public_key, message, s) for s in (good.sig, bad)]
    results = verify_many([(c.public_key, c.message, c.sig) for c in claims])
    assert results == [True, False]
    VERIFIED.settle_all(claims, None)  # a job that failed: nothing learnt
    assert len(VERIFIED) == 0
    VERIFIED.settle_all(claims, results)
    assert VERIFIED.verified(key.public_key, message, good.sig)
    assert not VERIFIED.verified(key.public_key, message, bad)


def test_a_check_waits_for_a_triple_being_verified_elsewhere(crypto_calls: list[bytes]) -> None:
    """A triple registered as being verified elsewhere: the check calls its wait first
    (here the "worker" finishes during it) and skips the cryptography; once settled,
    nothing waits for it any more. A forged triple whose wait settles nothing is still
    verified here and refused."""
    key = AuthorKey.generate()
    sig = key.sign(RAW)
    message = payload_signing_bytes(RAW)
    claim = VERIFIED.claim(key.public_key, message, sig.sig)
    waits: list[int] = []

    def worker_finishes() -> None:
        waits.append(1)
        VERIFIED.settle_all([claim], verify_many([(key.public_key, message, sig.sig)]))

    VERIFIED.being_verified([claim], worker_finishes)
    assert VERIFIED.pending(key.public_key, message, sig.sig)
    verify_payload_signature(key.public_key, message, sig)
    assert waits == [1] and crypto_calls == []
    assert not VERIFIED.pending(key.public_key, message, sig.sig)
    verify_payload_signature(key.public_key, message, sig)
    assert waits == [1]  # settled: no second wait

    forged = signing.Signature(sig.key, sig.sig[:-1] + bytes([sig.sig[-1] ^ 1]))
    VERIFIED.being_verified([VERIFIED.claim(key.public_key, message, forged.sig)], lambda: None)
    with pytest.raises(InvalidSignature):
        verify_payload_signature(key.public_key, message, forged)
    assert crypto_calls == [message]


def test_a_remembered_triple_vouches_for_no_other(crypto_calls: list[bytes]) -> None:
    key, other = AuthorKey.generate(), AuthorKey.generate()
    sig = key.sign(RAW)
    message = payload_signing_bytes(RAW)
    VERIFIED.add(key.public_key, message, sig.sig)
    changed = payload_signing_bytes({**RAW, "memo": "改过"})
    with pytest.raises(InvalidSignature) as e:
        verify_payload_signature(key.public_key, changed, sig)  # other message
    assert e.value.data["key"] == sig.key
    with pytest.raises(InvalidSignature):
        verify_payload_signature(other.public_key, message, sig)  # other key
    forged = signing.Signature(sig.key, sig.sig[:-1] + bytes([sig.sig[-1] ^ 1]))
    with pytest.raises(InvalidSignature):
        verify_payload_signature(key.public_key, message, forged)  # other signature
    assert len(crypto_calls) == 3


def test_failures_are_not_remembered(crypto_calls: list[bytes]) -> None:
    key = AuthorKey.generate()
    sig = key.sign(RAW)
    message = payload_signing_bytes(RAW)
    bad = sig.sig[:-1] + bytes([sig.sig[-1] ^ 1])
    not_a_point = b"\xff" * 32  # no valid Ed25519 public key
    claims = [
        VERIFIED.claim(key.public_key, message, bad),
        VERIFIED.claim(not_a_point, message, sig.sig),
        VERIFIED.claim(key.public_key, message + b"x", sig.sig),
    ]
    assert verify_claimed(claims) == 0
    assert len(VERIFIED) == 0
    with pytest.raises(InvalidSignature):
        verify_payload_signature(key.public_key, message, signing.Signature(sig.key, bad))
    assert len(crypto_calls) == 1


def test_bounded_oldest_forgotten_first() -> None:
    memo = VerifiedMemo(capacity=3)
    for i in range(5):
        memo.add(b"k" * 32, b"message %d" % i, b"s" * 64)
    assert len(memo) == 3
    assert not memo.verified(b"k" * 32, b"message 0", b"s" * 64)
    assert not memo.verified(b"k" * 32, b"message 1", b"s" * 64)
    assert all(memo.verified(b"k" * 32, b"message %d" % i, b"s" * 64) for i in (2, 3, 4))
    memo.add(b"k" * 32, b"message 2", b"s" * 64)  # seen again: the newest now
    memo.add(b"k" * 32, b"message 5", b"s" * 64)
    assert memo.verified(b"k" * 32, b"message 2", b"s" * 64)
    assert not memo.verified(b"k" * 32, b"message 3", b"s" * 64)


def test_loaded_public_keys_are_kept_and_unloadable_keys_refused_each_time() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = private.sign(b"message")
    assert signing._verifies(public, b"message", sig)
    assert public in signing._PUBLIC_KEYS
    assert not signing._verifies(public, b"other", sig)
    too_short = b"\x01" * 31  # cannot be loaded at all (ValueError): never kept
    assert not signing._verifies(too_short, b"message", sig)
    assert not signing._verifies(too_short, b"message", sig)
    assert too_short not in signing._PUBLIC_KEYS
