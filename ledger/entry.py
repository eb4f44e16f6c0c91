"""Stored entries and their leaf bytes (DESIGN.md, "The log").

A stored entry is ``{"seq", "prev", "recorded_at", "payload", "signatures"}``; its
RFC 8785 encoding is leaf ``seq`` of the estate's Merkle tree, and ``prev`` (the
leaf hash of entry ``seq - 1``) chains the entries. ``format_entry`` and
``parse_leaf`` are exact inverses: ``parse_leaf`` refuses bytes that are not the
canonical encoding of a well-formed entry. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from ledger.canonical import b64decode, b64encode, canonical_json, parse_json
from ledger.errors import InvalidInput
from ledger.fields import Obj
from ledger.merkle import hash_leaf
from ledger.payload import Payload, parse_payload
from ledger.signing import Signature, parse_signatures

_RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def format_recorded_at(when: dt.datetime) -> str:
    """UTC with milliseconds and a ``Z``: ``2026-11-03T08:15:02.123Z``."""
    utc = when.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_recorded_at(text: str) -> dt.datetime:
    if not _RECORDED_AT.fullmatch(text):
        raise InvalidInput("recorded_at: expected YYYY-MM-DDTHH:MM:SS.mmmZ", field="recorded_at")
    try:
        return dt.datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError as e:  # the pattern admits e.g. month 13 or second 60
        raise InvalidInput(f"recorded_at: {e}", field="recorded_at") from e


@dataclass(frozen=True)
class Entry:
    seq: int
    prev: bytes | None  # leaf hash of entry seq - 1; None for entry 0
    recorded_at: str
    payload: Payload
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "prev": None if self.prev is None else b64encode(self.prev),
            "recorded_at": self.recorded_at,
            "payload": self.payload.raw,
            "signatures": [s.to_json() for s in self.signatures],
        }

    def leaf_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def leaf_hash(self) -> bytes:
        return hash_leaf(self.leaf_bytes())


def parse_entry(value: Any) -> Entry:
    """Read a stored entry object strictly (its payload with :func:`parse_payload`)."""
    o = Obj(value, "entry", {"seq", "prev", "recorded_at", "payload", "signatures"}, set())
    seq = o.int("seq", lo=0, hi=2**53 - 1)
    prev_raw = o.raw("prev")
    if (seq == 0) != (prev_raw is None):
        raise InvalidInput("entry.prev: null exactly for entry 0", field="entry.prev")
    prev = None if prev_raw is None else b64decode(prev_raw, "entry.prev", length=32)
    recorded_at = o.str("recorded_at", max_len=24)
    parse_recorded_at(recorded_at)
    return Entry(
        seq=seq,
        prev=prev,
        recorded_at=recorded_at,
        payload=parse_payload(o.raw("payload")),
        signatures=parse_signatures(o.raw("signatures"), "entry.signatures"),
    )


def parse_leaf(leaf: bytes) -> Entry:
    """Parse leaf bytes; they must be exactly the canonical encoding of the entry."""
    entry = parse_entry(parse_json(leaf))
    if entry.leaf_bytes() != leaf:
        raise InvalidInput("leaf is not the RFC 8785 encoding of its entry")
    return entry
