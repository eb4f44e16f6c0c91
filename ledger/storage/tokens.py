"""Operator bearer tokens: shown once, stored only as SHA-256, checked in constant time.

A token is ``tlop_`` followed by 43 characters of URL-safe base64 (32 random
bytes from :mod:`secrets`). The database keeps its SHA-256 in hex, never the
token: a dump of the database does not let anyone act as the operator. Checking a
token compares its hash with every stored hash using :func:`hmac.compare_digest`
and no early exit, so the time taken says nothing about how close a guess was.

Repository functions in the caller's transaction; nothing here logs or returns a
token except :func:`create`, once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.canonical import check_text
from ledger.errors import InvalidInput, NotFound
from ledger.storage.models import OperatorTokenRow

TOKEN_PREFIX = "tlop_"  # noqa: S105 -- a public prefix, not a secret
TOKEN_PATTERN = re.compile(r"tlop_[A-Za-z0-9_-]{43}")
TOKEN_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class OperatorToken:
    id: str
    name: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    return TOKEN_PATTERN.fullmatch(token) is not None


def _record(row: OperatorTokenRow) -> OperatorToken:
    return OperatorToken(row.id, row.name, row.created_at, row.revoked_at)


def create(session: Session, name: str, now: str) -> tuple[OperatorToken, str]:
    """A new token named ``name``: (its record, the token itself — shown once)."""
    check_text(name, "name")
    if not 0 < len(name) <= 100:
        raise InvalidInput("a token's name has 1 to 100 characters", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = OperatorTokenRow(
        id=secrets.token_hex(8), token_hash=token_hash(token), name=name, created_at=now
    )
    session.add(row)
    return _record(row), token


def revoke(session: Session, token_id: str, now: str) -> OperatorToken:
    """Revoke a token by id (revoking it again changes nothing)."""
    row = session.get(OperatorTokenRow, token_id) if TOKEN_ID.fullmatch(token_id) else None
    if row is None:
        raise NotFound(f"no operator token {token_id!r}", field="id")
    if row.revoked_at is None:
        row.revoked_at = now
    return _record(row)


def list_all(session: Session) -> list[OperatorToken]:
    rows = session.scalars(select(OperatorTokenRow).order_by(OperatorTokenRow.created_at))
    return [_record(r) for r in rows]


def find(session: Session, token: str) -> OperatorToken | None:
    """The record of ``token`` (active or revoked), or None; constant time per stored token."""
    digest = token_hash(token)
    found = None
    for row in session.scalars(select(OperatorTokenRow)):
        if hmac.compare_digest(row.token_hash, digest):
            found = row
    return None if found is None else _record(found)
