"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

What it does: key ids and verifier key strings (``name+<hex key id>+<base64(0x01
|| public key)>``), signing a text into a note, strict parsing of a note, and
opening a note against a set of trusted verifiers. Parsing follows the spec's
"Format" section and Go's ``golang.org/x/mod/sumdb/note``: valid UTF-8 without
ASCII control characters other than newline, text ending in newline, the last
blank line separating text from signature lines ``— <name> <base64(key id ||
signature)>``, at most :data:`MAX_SIGNATURES` of them, canonical base64.

Trust, per the spec's "Signatures" section: a signature whose (name, key id)
pair matches no trusted verifier is ignored; one that matches must verify or
the whole note is rejected; a note with no verified signature is rejected.

What it does not: no I/O, no key storage, no signature types other than
Ed25519 (``0x01``), and no meaning for the text (see :mod:`ledger.checkpoint`).
Every failure raises :class:`~ledger.errors.NoteError`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import NoteError

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 in key ids and verifier keys."""

KEY_ID_SIZE = 4
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100
"""Signature lines accepted in one note (the spec asks for at least 16; Go takes 100)."""

SIGNATURE_PREFIX = "\u2014 "
"""Start of a signature line: em dash U+2014 and a space."""

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX = frozenset("0123456789abcdef")


# -- text and names --------------------------------------------------------------------------


def _check_text(text: str, what: str) -> None:
    """Valid UTF-8 (no lone surrogates) and no ASCII control character but newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteError(f"{what} is not valid UTF-8", field=what) from e
    if _CONTROL.search(text):
        raise NoteError(f"{what} contains a control character", field=what)


def _check_name(name: str) -> None:
    """Key names are non-empty, contain no Unicode space and no '+'."""
    if not isinstance(name, str) or not name:
        raise NoteError("key name is empty", field="name")
    _check_text(name, "name")
    if "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name {name!r} contains a space or '+'", field="name")


@functools.lru_cache(maxsize=1024)
def _checked_name(name: str) -> None:
    """:func:`_check_name`, remembered for names that passed (a log key signs a
    checkpoint per append under one name; a refused name raises, which is not cached)."""
    _check_name(name)


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding, and canonical trailing bits."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise NoteError(f"{what} is not valid base64", field=what) from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64", field=what)
    return raw


# -- keys ------------------------------------------------------------------------------------


def key_id(name: str, public_key: bytes) -> bytes:
    """Key id: ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]`` (spec, "Ed25519 signatures")."""
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note key: its name, 4-byte key id and 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise NoteError("an Ed25519 public key is 32 bytes", field="public_key")
        if self.key_id != key_id(self.name, self.public_key):
            raise NoteError(f"key id does not match key {self.name!r}", field="key_id")

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+<hex key id>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check an Ed25519 signature over ``message``; raise :class:`NoteError` if bad."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError) as e:
            raise NoteError(
                f"signature by {self.name!r} does not verify",
                field="signature",
                name=self.name,
                key_id=self.key_id.hex(),
            ) from e


def format_vkey(name: str, public_key: bytes) -> str:
    """The verifier key string of an Ed25519 public key under ``name``."""
    return Verifier(name, key_id(name, public_key), public_key).vkey


def parse_vkey(vkey: str) -> Verifier:
    """Parse ``name+<8 lowercase hex>+<base64(0x01 || 32-byte key)>`` strictly."""
    parts = vkey.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise NoteError("verifier key must be name+id+key", field="vkey")
    name, id_hex, key_b64 = parts
    _check_name(name)
    if len(id_hex) != 2 * KEY_ID_SIZE or not set(id_hex) <= _HEX:
        raise NoteError("verifier key id must be 8 lowercase hex digits", field="vkey")
    raw = _b64decode(key_b64, "vkey")
    if len(raw) != 1 + ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 key", field="vkey")
    public_key = raw[1:]
    if key_id(name, public_key) != bytes.fromhex(id_hex):
        raise NoteError(f"verifier key id does not match key {name!r}", field="vkey")
    return Verifier(name, bytes.fromhex(id_hex), public_key)


class NoteSigner(Protocol):
    """Anything that signs notes: a name, a key id and a signing operation."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Signer:
    """An Ed25519 note signing key (implements :class:`NoteSigner`).

    A plain class rather than a dataclass so the private key never shows in a
    ``repr`` or an equality test.
    """

    __slots__ = ("_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        public_key = private_key.public_key().public_bytes_raw()
        self._verifier = Verifier(name, key_id(name, public_key), public_key)
        self._key = private_key

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        """The signer for a 32-byte Ed25519 seed (RFC 8032 private key)."""
        if len(seed) != ED25519_KEY_SIZE:
            raise NoteError("an Ed25519 seed is 32 bytes", field="seed")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    @property
    def verifier(self) -> Verifier:
        return self._verifier

    @property
    def vkey(self) -> str:
        return self._verifier.vkey

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()!r})"


# -- notes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A note's text (ending in newline) and signatures.

    From :func:`parse_note`, ``signatures`` holds every signature line; from
    :func:`open_note`, only those that verified under a trusted key.
    """

    text: str
    signatures: tuple[NoteSignature, ...]


def sign_note(text: str, signer: NoteSigner) -> str:
    """Sign ``text`` into a note: ``text``, a blank line, ``— name base64(key id || sig)``."""
    return sign_note_multi(text, [signer])


def sign_note_multi(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` into a note carrying one signature line per signer, in order.

    Each line verifies on its own, so a verifier that trusts any one of the keys
    accepts the note (spec, "Signatures"). Two signers with the same name and key
    id would be ambiguous and are refused.
    """
    _check_text(text, "text")
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline", field="text")
    if not 0 < len(signers) <= MAX_SIGNATURES:
        raise NoteError(f"a note has 1 to {MAX_SIGNATURES} signatures", field="signers")
    message = text.encode("utf-8")
    seen: set[tuple[str, bytes]] = set()
    lines = []
    for signer in signers:
        _checked_name(signer.name)
        if len(signer.key_id) != KEY_ID_SIZE:
            raise NoteError("a key id is 4 bytes", field="key_id")
        if (signer.name, signer.key_id) in seen:
            raise NoteError(f"key {signer.name!r} would sign twice", field="signers")
        seen.add((signer.name, signer.key_id))
        encoded = base64.b64encode(signer.key_id + signer.sign(message)).decode("ascii")
        lines.append(f"{SIGNATURE_PREFIX}{signer.name} {encoded}\n")
    return f"{text}\n" + "".join(lines)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("signature line must start with an em dash and a space", field="note")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not encoded:
        raise NoteError("signature line has no signature", field="note")
    _check_name(name)
    raw = _b64decode(encoded, "signature")
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError("signature is too short", field="signature")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into its text and signature lines, strictly; verify nothing."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError("note is not valid UTF-8", field="note") from e
    _check_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures", field="note")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note must end with a signature line and a newline", field="note")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures", field="note")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _index_verifiers(verifiers: Sequence[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) != v:
            raise NoteError(f"two verifiers share name {v.name!r} and key id", field="verifiers")
    return known


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a note and verify it against trusted ``verifiers`` (spec, "Signatures").

    Signatures by unknown keys are ignored; a signature by a known (name, key id)
    that fails rejects the note, and so does a note with no verified signature.
    Returns the note with its verified signatures only (each once).
    """
    known = _index_verifiers(verifiers)
    parsed = parse_note(note)
    message = parsed.text.encode("utf-8")
    verified: list[NoteSignature] = []
    for sig in parsed.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        verifier.verify(message, sig.signature)
        if sig not in verified:
            verified.append(sig)
    if not verified:
        raise NoteError("note has no signature by a trusted key", field="signatures")
    return Note(parsed.text, tuple(verified))
