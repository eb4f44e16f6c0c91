"""Stored entries and their leaf bytes (DESIGN.md, "The log").

A stored entry is ``{"seq", "prev", "recorded_at", "payload", "signatures"}``; its
RFC 8785 encoding is leaf ``seq`` of the estate's Merkle tree, and ``prev`` (the
leaf hash of entry ``seq - 1``) chains the entries. ``format_entry`` and
``parse_leaf`` are exact inverses: ``parse_leaf`` refuses bytes that are not the
canonical encoding of a well-formed entry. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ledger.canonical import (
    b64decode,
    b64encode,
    encode_plain,
    parse_json,
    plain_text,
    strings_ok_in,
)
from ledger.errors import InvalidInput
from ledger.fields import Obj
from ledger.merkle import hash_leaf
from ledger.payload import Payload, parse_payload
from ledger.signing import MAX_SIGNATURES, Signature, parse_signatures

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
        """``canonical_json(self.to_json())``, with the payload's canonical bytes spliced
        in as they are (JCS encodes a member's value on its own; ``payload`` sorts first)."""
        return b"".join((_PAYLOAD_FIRST, self.payload.canonical(), b",", self._tail()))

    def _tail(self) -> bytes:
        """The members after ``payload`` and the closing brace: written directly when
        each value is one JCS writes as it is (an integer seq, a time in the stored
        format, key ids of ASCII letters and digits; base64 never needs escaping),
        else through the encoder."""
        sigs = self.signatures
        if (
            type(self.seq) is int
            and _RECORDED_AT.fullmatch(self.recorded_at)
            and all(s.key.isascii() and s.key.isalnum() for s in sigs)
        ):
            prev = "null" if self.prev is None else f'"{b64encode(self.prev)}"'
            signatures = ",".join(f'{{"key":"{s.key}","sig":"{b64encode(s.sig)}"}}' for s in sigs)
            return (
                f'"prev":{prev},"recorded_at":"{self.recorded_at}","seq":{self.seq},'
                f'"signatures":[{signatures}]}}'
            ).encode()  # UTF-8: \d of the time's pattern is any Unicode digit
        tail = encode_plain(  # a seq below 2^53, ASCII names, strings checked or ours
            {
                "seq": self.seq,
                "prev": None if self.prev is None else b64encode(self.prev),
                "recorded_at": self.recorded_at,
                "signatures": [s.to_json() for s in sigs],
            }
        )
        return tail[1:]

    def leaf_hash(self) -> bytes:
        return hash_leaf(self.leaf_bytes())


def parse_entry(value: Any, *, strings_checked: bool = False) -> Entry:
    """Read a stored entry object strictly (its payload with :func:`parse_payload`).

    ``strings_checked``: every string of ``value`` was already checked (see
    :func:`ledger.canonical.check_strings`), so the payload's are not checked again.
    """
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
        payload=parse_payload(o.raw("payload"), strings_checked=strings_checked),
        signatures=parse_signatures(o.raw("signatures"), "entry.signatures"),
    )


def parse_leaf(leaf: bytes) -> Entry:
    """Parse leaf bytes; they must be exactly the canonical encoding of the entry."""
    entry = _canonical_leaf(leaf)
    if entry is not None:
        return entry
    entry = parse_entry(parse_json(leaf))
    if entry.leaf_bytes() != leaf:
        raise InvalidInput("leaf is not the RFC 8785 encoding of its entry")
    return entry


_PAYLOAD_FIRST = b'{"payload":'
"""How a canonical entry starts: ``payload`` sorts before every other member's name."""
_ENTRY_FIELDS = frozenset({"seq", "prev", "recorded_at", "payload", "signatures"})
_SIGNATURE_FIELDS = frozenset({"key", "sig"})
_MAX_SEQ = 2**53 - 1


class _NotPlain(Exception):
    """A number JCS writes otherwise than the standard library's encoder."""


def _not_plain(text: str) -> Any:
    raise _NotPlain(text)


_decode = json.JSONDecoder(parse_float=_not_plain, parse_constant=_not_plain).decode
"""``json.loads`` with these hooks, without building a decoder per call."""


def _canonical_leaf(leaf: bytes) -> Entry | None:
    """:func:`parse_leaf` for a leaf that is canonical and well formed (the usual case);
    None for anything else, which then takes the strict path for its exact error.

    The entry it returns is the one the strict path would. The strict parser's
    extra checks follow from the leaf re-encoding to itself, which is compared here:
    duplicate member names (the decoder keeps the last one) cannot re-encode to the
    same bytes. Strings are checked from the text in one pass where it has no
    escapes (:func:`~ledger.canonical.strings_ok_in`), else value by value. Numbers:
    a fraction or exponent is refused while decoding, and every integer and member
    name of a well-formed entry is range- and name-checked by its reader, so the
    standard library's encoder writes the JCS bytes. The payload's canonical bytes
    are the leaf's own slice: encoded once, and kept for signature verification
    (:meth:`~ledger.payload.Payload.canonical`).
    """
    try:
        text = leaf.decode("utf-8")
        value = _decode(text)
        if type(value) is not dict or not (strings_ok_in(leaf) or plain_text(value)):
            return None
        entry = _usual_entry(value)
    except Exception:  # whatever it is, the strict path says it exactly
        return None
    if entry is None:
        return None
    payload = encode_plain(value["payload"])
    if not leaf.startswith(_PAYLOAD_FIRST) or not leaf.startswith(payload, len(_PAYLOAD_FIRST)):
        return None
    tail = encode_plain({k: v for k, v in value.items() if k != "payload"})  # '{"prev":…}'
    if leaf[len(_PAYLOAD_FIRST) + len(payload) :] != b"," + tail[1:]:
        return None
    entry.payload.with_canonical(payload)
    return entry


def _usual_entry(value: dict[str, Any]) -> Entry | None:
    """:func:`parse_entry` (strings checked) without field readers; None where it would
    refuse (its exact error is then the strict reader's to give)."""
    if value.keys() != _ENTRY_FIELDS:
        return None
    seq, prev_raw, recorded_at = value["seq"], value["prev"], value["recorded_at"]
    if type(seq) is not int or not 0 <= seq <= _MAX_SEQ or (seq == 0) != (prev_raw is None):
        return None
    if type(recorded_at) is not str or not 1 <= len(recorded_at) <= 24:
        return None
    parse_recorded_at(recorded_at)
    prev = None if prev_raw is None else b64decode(prev_raw, "entry.prev", length=32)
    items = value["signatures"]
    if type(items) is not list or len(items) > MAX_SIGNATURES:
        return None
    signatures = []
    for item in items:
        if type(item) is not dict or item.keys() != _SIGNATURE_FIELDS:
            return None
        key = item["key"]
        if type(key) is not str or len(key) != 16:
            return None
        signatures.append(Signature(key, b64decode(item["sig"], "entry.signatures", length=64)))
    payload = parse_payload(value["payload"], strings_checked=True)
    return Entry(seq, prev, recorded_at, payload, tuple(signatures))
