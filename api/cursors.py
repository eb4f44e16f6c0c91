"""Opaque page cursors: base64url (no padding) of a short text.

A cursor is refused unless it is exactly what :func:`encode_text` would have produced
(the ``invalid-input`` problem on ``cursor``), so a client cannot page from a position
it made up in another spelling.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re

from ledger.errors import InvalidInput

_CURSOR = re.compile(r"[A-Za-z0-9_-]+")


def not_a_cursor() -> InvalidInput:
    return InvalidInput("cursor: not a cursor from a previous page", field="cursor")


def encode_text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def decode_text(cursor: str, max_len: int) -> str:
    """The text behind ``cursor`` (at most ``max_len`` characters of cursor)."""
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        if len(cursor) <= max_len and _CURSOR.fullmatch(cursor):
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
            if encode_text(text) == cursor:
                return text
    raise not_a_cursor()  # malformed, or not in encode_text's spelling
