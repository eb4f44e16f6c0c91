"""Links printed on a statement: the QR code's check URL.

The QR code on a printed statement opens ``{public base URL}/e/{estate}/check``
with the statement's checkpoint in the query: ``size=N&root=<base64url root>``.
The root is base64url (RFC 4648 §5) without ``=`` padding, so the URL needs no
percent-encoding and the QR code stays small; everywhere else (the statement
JSON, the API) hashes are standard base64. Pure functions, no I/O.
"""

from __future__ import annotations

import base64

from ledger.canonical import b64decode
from ledger.errors import InvalidInput
from ledger.payload import ESTATE_ID

HASH_SIZE = 32


def root_to_base64url(root_b64: str) -> str:
    """Standard base64 of a 32-byte root (strict) → base64url without padding."""
    root = b64decode(root_b64, "checkpoint.root", length=HASH_SIZE)
    return base64.urlsafe_b64encode(root).rstrip(b"=").decode("ascii")


def root_from_base64url(text: str) -> str:
    """The inverse of :func:`root_to_base64url` (what the check page reads back)."""
    padded = text + "=" * (-len(text) % 4)
    try:
        root = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise InvalidInput("root: not base64url", field="root") from e
    if len(root) != HASH_SIZE or root_to_base64url(base64.b64encode(root).decode()) != text:
        raise InvalidInput("root: not a canonical base64url 32-byte hash", field="root")
    return base64.b64encode(root).decode("ascii")


def check_url(public_base_url: str, estate: str, size: int, root_b64: str) -> str:
    """The URL in a statement's QR code: the resident's check of the printed checkpoint."""
    if not ESTATE_ID.fullmatch(estate):
        raise InvalidInput(f"not an estate id: {estate!r}", field="estate")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInput(f"tree size must be a non-negative integer, not {size!r}", field="size")
    base = public_base_url.rstrip("/")
    return f"{base}/e/{estate}/check?size={size}&root={root_to_base64url(root_b64)}"
