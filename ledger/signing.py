"""Ed25519 signatures by authors over payloads, with the domain prefix.

A signature covers ``PAYLOAD_DOMAIN + JCS(payload)``. The server never holds an
author's private key; :class:`AuthorKey` exists for clients (the CLI, the demo,
tests) that sign on the author's own machine. Keys come in as bytes.

:func:`verify_claimed` (or :func:`verify_many`, anywhere, even in another process)
verifies signatures ahead of an append, and the (public key, message, signature)
triples that verified are remembered in a small process-local memo
(:data:`VERIFIED`); :func:`verify_payload_signature` then skips the cryptography
for a remembered triple. Only a triple that verified is ever remembered, and
verification is a pure function of the triple, so the memo changes how fast a check
is, never its outcome.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature as _CryptoInvalid
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.canonical import b64decode, b64encode, canonical_json, check_text
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


KEY_ID_LENGTH = 16
_SIGNATURE_FIELDS = frozenset({"key", "sig"})


def parse_signatures(value: Any, path: str = "signatures") -> tuple[Signature, ...]:
    """Read ``[{"key", "sig"}]``; order is kept, duplicates are judged by the validator."""
    if not isinstance(value, list):
        raise InvalidInput(f"{path}: expected an array", field=path)
    if len(value) > MAX_SIGNATURES:
        raise InvalidInput(f"{path}: at most {MAX_SIGNATURES} signatures", field=path)
    out = []
    for i, item in enumerate(value):
        if type(item) is dict and item.keys() == _SIGNATURE_FIELDS:  # the usual shape
            key = item["key"]
            if type(key) is str and len(key) == KEY_ID_LENGTH:  # as Obj.str would check
                check_text(key, f"{path}[{i}].key")
                sig = b64decode(item["sig"], f"{path}[{i}].sig", length=64)
                out.append(Signature(key=key, sig=sig))
                continue
        o = Obj(item, f"{path}[{i}]", {"key", "sig"}, set())
        key = o.str("key", max_len=KEY_ID_LENGTH, min_len=KEY_ID_LENGTH)
        out.append(Signature(key=key, sig=b64decode(o.raw("sig"), o.at("sig"), length=64)))
    return tuple(out)


def sort_signatures(sigs: tuple[Signature, ...]) -> tuple[Signature, ...]:
    """The stored order: by key id, so the same set always has the same leaf bytes."""
    return tuple(sorted(sigs, key=lambda s: s.key))


class VerifiedMemo:
    """A bounded memo of (public key, message, signature) triples known to verify.

    Each triple is kept as SHA-256 over ``public key (32 bytes) || signature (64
    bytes) || message``: fixed-length prefixes, so distinct triples have distinct
    inputs. The oldest triples are forgotten first once ``capacity`` is reached (a
    forgotten triple is simply verified again). Thread-safe.

    A check never waits for a verification running elsewhere: a triple not verified
    yet is verified by the check itself (on a busy machine the verifier may be far
    behind; on an idle one it is ahead and the check finds the triple here).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._waits: dict[bytes, Callable[[], object]] = {}  # claims being verified elsewhere
        self._lock = threading.Lock()

    @staticmethod
    def digest(public_key: bytes, message: bytes, sig: bytes) -> bytes:
        h = hashlib.sha256(public_key)
        h.update(sig)
        h.update(message)
        return h.digest()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, public_key: bytes, message: bytes, sig: bytes) -> None:
        """Remember a triple that verified."""
        self._add([self.digest(public_key, message, sig)])

    def _add(self, digests: Iterable[bytes]) -> None:
        with self._lock:
            for digest in digests:
                self._seen[digest] = None
                self._seen.move_to_end(digest)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)

    def claim(self, public_key: bytes, message: bytes, sig: bytes) -> Claim:
        """A triple to verify ahead (:func:`verify_claimed`, or :func:`verify_many`
        elsewhere and then :meth:`settle_all`); ``known`` if it verified already."""
        digest = self.digest(public_key, message, sig)
        return Claim(digest, public_key, message, sig, known=digest in self._seen)

    def settle_all(self, claims: Sequence[Claim], results: Sequence[bool] | None) -> None:
        """Remember the claims :func:`verify_many` found valid (None: none); they are no
        longer being verified elsewhere (:meth:`being_verified`)."""
        if results is not None and len(results) == len(claims):
            self._add(c.digest for c, ok in zip(claims, results, strict=True) if ok)
        if self._waits:
            with self._lock:
                for c in claims:
                    self._waits.pop(c.digest, None)

    def being_verified(self, claims: Sequence[Claim], wait: Callable[[], object]) -> None:
        """These claims are being verified elsewhere until :meth:`settle_all`: a check
        that reaches one first calls ``wait`` (which returns once they may be settled,
        or when it gives up) before it verifies the triple itself (:meth:`settled`)."""
        with self._lock:
            for c in claims:
                self._waits[c.digest] = wait

    def verified(self, public_key: bytes, message: bytes, sig: bytes) -> bool:
        """True when the triple is known to verify."""
        if not self._seen:  # nothing verified ahead: no hashing at all
            return False
        return self.digest(public_key, message, sig) in self._seen

    def pending(self, public_key: bytes, message: bytes, sig: bytes) -> bool:
        """True when the triple is being verified elsewhere and not known to verify yet."""
        if not self._waits:
            return False
        digest = self.digest(public_key, message, sig)
        return digest in self._waits and digest not in self._seen

    def settled(self, public_key: bytes, message: bytes, sig: bytes) -> bool:
        """:meth:`verified`, after waiting for the triple if it is being verified
        elsewhere (a worker already on it finishes sooner than a check could start
        over; the wait is the claimant's, bounded)."""
        if not self._seen and not self._waits:
            return False
        digest = self.digest(public_key, message, sig)
        if digest in self._seen:
            return True
        wait = self._waits.get(digest)
        if wait is None:
            return False
        wait()
        return digest in self._seen

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._waits.clear()


@dataclass(frozen=True)
class Claim:
    """A triple to verify ahead of the ledger's check (``known``: it verified already)."""

    digest: bytes
    public_key: bytes
    message: bytes
    sig: bytes
    known: bool = False


VERIFIED = VerifiedMemo(capacity=1 << 14)
"""Triples verified ahead of the ledger's check (16,384: the signatures of a few batches)."""


_PUBLIC_KEYS: dict[bytes, Ed25519PublicKey] = {}
"""Loaded public keys by their raw bytes (an estate has a handful; loading one costs
about as much as hashing a leaf). Cleared when it grows past 4,096."""


def _public_key(raw: bytes) -> Ed25519PublicKey:
    """The key object for ``raw``; ``ValueError`` if it cannot be loaded (not kept)."""
    key = _PUBLIC_KEYS.get(raw)
    if key is None:
        key = Ed25519PublicKey.from_public_bytes(raw)
        if len(_PUBLIC_KEYS) >= 4096:
            _PUBLIC_KEYS.clear()
        _PUBLIC_KEYS[raw] = key
    return key


def _verifies(public_key: bytes, message: bytes, sig: bytes) -> bool:
    """Ed25519 verification; ``False`` also for a public key that is not a valid point."""
    try:
        _public_key(public_key).verify(sig, message)
    except (_CryptoInvalid, ValueError):
        return False
    return True


def _valid(public_key: bytes, message: bytes, sig: bytes) -> bool:
    """Known to verify (after waiting for it if it is being verified elsewhere), or
    verified here."""
    return VERIFIED.settled(public_key, message, sig) or _verifies(public_key, message, sig)


Deferred = list[tuple[bytes, bytes, Signature]]
_DEFERRED: ContextVar[Deferred | None] = ContextVar("trustledger_deferred", default=None)


class DeferredSignatureFailed(Exception):
    """A signature whose check was deferred (:func:`deferred_verification`) does not
    verify: what was done since must be undone and checked again without deferral,
    which refuses it with its error, in its order. Not a :class:`LedgerError`."""


@contextmanager
def deferred_verification() -> Iterator[Deferred]:
    """Inside the block (this thread or task), a signature being verified elsewhere
    (:meth:`VerifiedMemo.being_verified`) is not waited for but taken as valid and
    recorded, so that the caller goes on with its work while the workers finish; the
    caller must call :func:`settle_deferred` on the list before acting on the outcome
    (before committing), and undo everything if it raises."""
    deferred: Deferred = []
    token = _DEFERRED.set(deferred)
    try:
        yield deferred
    finally:
        _DEFERRED.reset(token)


def settle_deferred(deferred: Deferred) -> None:
    """Check every deferred signature (waiting for those a worker has started, verifying
    the others here); raise :class:`DeferredSignatureFailed` if one does not verify.

    Last first: the workers take their chunks in order, so this thread starts where
    they will come last, and the two meet in the middle instead of one waiting."""
    for public_key, message, sig in reversed(deferred):
        if not _valid(public_key, message, sig.sig):
            raise DeferredSignatureFailed(sig.key)
    deferred.clear()


def verify_payload_signature(public_key: bytes, message: bytes, sig: Signature) -> None:
    """Raise :class:`InvalidSignature` unless ``sig`` verifies over ``message`` (inside
    :func:`deferred_verification`, one being verified elsewhere is settled later)."""
    deferred = _DEFERRED.get()
    if deferred is not None and VERIFIED.pending(public_key, message, sig.sig):
        deferred.append((public_key, message, sig))
        return
    if _valid(public_key, message, sig.sig):
        return
    raise InvalidSignature(
        f"signature by key {sig.key} does not verify over this payload",
        field="signatures",
        key=sig.key,
    )


def verify_many(triples: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Which (public key, message, signature) triples verify (a public key that is not
    a valid point does not). Pure, so it runs anywhere: in a worker process, off the
    GIL of the process that serves requests (:mod:`api.preverify`)."""
    out = []
    for public_key, message, sig in triples:  # _verifies is the check's own (counted apart)
        try:
            _public_key(public_key).verify(sig, message)
        except (_CryptoInvalid, ValueError):
            out.append(False)
        else:
            out.append(True)
    return out


def verify_claimed(claims: Sequence[Claim]) -> int:
    """Verify claimed triples here and remember those that verify; how many did.

    Nothing is refused here: a signature that does not verify is not remembered, and
    the ledger's own check refuses it with the error it would give anyway, in its order.
    """
    todo = [c for c in claims if not c.known]
    results = verify_many([(c.public_key, c.message, c.sig) for c in todo])
    VERIFIED.settle_all(todo, results)
    return sum(results)


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
