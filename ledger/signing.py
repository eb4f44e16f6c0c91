"""Ed25519 signatures by authors over payloads, with the domain prefix.

A signature covers ``PAYLOAD_DOMAIN + JCS(payload)``. The server never holds an
author's private key; :class:`AuthorKey` exists for clients (the CLI, the demo,
tests) that sign on the author's own machine. Pure: keys come in as bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature as _CryptoInvalid
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.canonical import b64decode, b64encode, canonical_json
from ledger.errors import InvalidInput, InvalidSignature
from ledger.fields import Obj
from ledger.payload import author_key_id

PAYLOAD_DOMAIN = b"trustledger/payload/v1\n"
MAX_SIGNATURES = 16


def payload_signing_bytes(payload: Mapping[str, Any]) -> bytes:
    return PAYLOAD_DOMAIN + canonical_json(payload)


@dataclass(frozen=True)
class Signature:
    key: str  # author key id
    sig: bytes  # 64-byte Ed25519 signature

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "sig": b64encode(self.sig)}


def parse_signatures(value: Any, path: str = "signatures") -> tuple[Signature, ...]:
    """Read ``[{"key", "sig"}]``; order is kept, duplicates are judged by the validator."""
    if not isinstance(value, list):
        raise InvalidInput(f"{path}: expected an array", field=path)
    if len(value) > MAX_SIGNATURES:
        raise InvalidInput(f"{path}: at most {MAX_SIGNATURES} signatures", field=path)
    out = []
    for i, item in enumerate(value):
        o = Obj(item, f"{path}[{i}]", {"key", "sig"}, set())
        key = o.str("key", max_len=16, min_len=16)
        out.append(Signature(key=key, sig=b64decode(o.raw("sig"), o.at("sig"), length=64)))
    return tuple(out)


def sort_signatures(sigs: tuple[Signature, ...]) -> tuple[Signature, ...]:
    """The stored order: by key id, so the same set always has the same leaf bytes."""
    return tuple(sorted(sigs, key=lambda s: s.key))


def verify_payload_signature(public_key: bytes, message: bytes, sig: Signature) -> None:
    """Raise :class:`InvalidSignature` unless ``sig`` verifies over ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig.sig, message)
    except (_CryptoInvalid, ValueError) as e:
        raise InvalidSignature(
            f"signature by key {sig.key} does not verify over this payload",
            field="signatures",
            key=sig.key,
        ) from e


class AuthorKey:
    """An author's Ed25519 key pair, for signing on the author's side."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise InvalidInput("an Ed25519 seed is 32 bytes")
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = author_key_id(self.public_key)

    @classmethod
    def generate(cls) -> AuthorKey:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        return cls(raw)

    @property
    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, payload: Mapping[str, Any]) -> Signature:
        return Signature(self.key_id, self._private.sign(payload_signing_bytes(payload)))
