"""Household commitments and receipt codes (DESIGN.md, "Household privacy").

A fee receipt in the log carries only ``household = base64(SHA-256(salt || unit_id))``
with a random 16-byte salt. The household's printed receipt carries a *receipt
code* from which anyone holding it can recompute that commitment and find the entry::

    <seq>-<salt: lowercase base32, no padding>-<unit_id>

for example ``1234-mfrggzdfmztwq2lknnwg23tpoa-3-2-501``. The seq and the salt never
contain ``-`` (decimal digits; base32 ``a-z2-7``), so a code splits at its first two
hyphens and ``unit_id`` may contain more of them. A unit id is 1 to 64 characters,
NFC, each a letter or digit (Chinese included) or one of ``- _ .``: it must survive
being printed, typed and put in a URL path.

Pure: values in, values out; no I/O. Whether a code matches an entry of the log is
decided by the caller, which reads the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata

from ledger.errors import InvalidInput

SALT_SIZE = 16
"""Bytes of a household salt (the ``household_salts.salt`` column)."""
MAX_UNIT_ID = 64
"""Longest unit id, in characters (the ``household_salts.unit_id`` column)."""
MAX_SEQ = 2**53
UNIT_PUNCTUATION = frozenset("-_.")

_SEQ = re.compile(r"0|[1-9][0-9]{0,15}")
_SALT_B32 = re.compile(r"[a-z2-7]{26}")  # 16 bytes = 128 bits = 26 base32 digits (+ 2 zero bits)


def make_commitment(salt: bytes, unit_id: str) -> str:
    """``base64(SHA-256(salt || UTF-8(unit_id)))``: the value of a receipt's ``household``."""
    return base64.b64encode(hashlib.sha256(salt + unit_id.encode("utf-8")).digest()).decode()


def check_unit_id(unit_id: str) -> str:
    """Return ``unit_id`` if it may appear in a receipt code, else raise :class:`InvalidInput`."""
    if not 1 <= len(unit_id) <= MAX_UNIT_ID:
        raise InvalidInput(f"unit id must be 1 to {MAX_UNIT_ID} characters", field="unit_id")
    if not unicodedata.is_normalized("NFC", unit_id):
        raise InvalidInput("unit id is not in Unicode NFC form", field="unit_id")
    if not all(ch.isalnum() or ch in UNIT_PUNCTUATION for ch in unit_id):
        raise InvalidInput(
            "unit id has characters other than letters, digits, - _ .", field="unit_id"
        )
    return unit_id


def format_receipt_code(seq: int, salt: bytes, unit_id: str) -> str:
    """The receipt code of the fee entry ``seq`` committed to by ``salt`` and ``unit_id``."""
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidInput(f"seq must be within 0..{MAX_SEQ}", field="seq")
    if len(salt) != SALT_SIZE:
        raise InvalidInput(f"salt must be {SALT_SIZE} bytes", field="salt")
    salt32 = base64.b32encode(salt).decode("ascii").rstrip("=").lower()
    return f"{seq}-{salt32}-{check_unit_id(unit_id)}"


def parse_receipt_code(code: str) -> tuple[int, bytes, str]:
    """Strictly read a code into ``(seq, salt, unit_id)``; undoes :func:`format_receipt_code`.

    Anything :func:`format_receipt_code` would not have produced is refused: leading
    zeros, upper-case or padded base32, non-zero trailing bits, a bad unit id.
    """
    parts = code.split("-", 2)
    if len(parts) != 3:
        raise InvalidInput("a receipt code is <seq>-<salt>-<unit>", field="code")
    seq_text, salt_text, unit_id = parts
    if not _SEQ.fullmatch(seq_text) or int(seq_text) > MAX_SEQ:
        raise InvalidInput("receipt code: bad seq", field="code")
    if not _SALT_B32.fullmatch(salt_text):
        raise InvalidInput("receipt code: bad salt", field="code")
    try:
        salt = base64.b32decode(salt_text.upper() + "======")
    except binascii.Error as e:  # pragma: no cover - the pattern admits only valid digits
        raise InvalidInput("receipt code: bad salt", field="code") from e
    if base64.b32encode(salt).decode("ascii").rstrip("=").lower() != salt_text:
        raise InvalidInput("receipt code: salt is not canonical base32", field="code")
    try:
        check_unit_id(unit_id)
    except InvalidInput as e:
        raise InvalidInput(f"receipt code: {e.message}", field="code") from e
    return int(seq_text), salt, unit_id
