"""The fast readers give exactly what the strict readers give, on valid and broken input.

:func:`ledger.entry.parse_leaf` first tries a reader that skips the checks following
from a leaf re-encoding to itself and reads the usual shapes without ``Obj``
(``_canonical_leaf``, ``ledger.payload._read_usual``); anything it does not accept
takes the strict path. Here both read thousands of variants of valid leaves of every
kind — every node replaced by odd values (floats, huge integers, control characters,
text not in NFC, surrogates, wrong types), members added and removed, and byte-level
edits (duplicate members, escapes, whitespace, bad UTF-8) — and must agree on the
entry (and its payload's canonical bytes) or on the error (type and message). The
text and base64 checks are compared with their plain definitions the same way.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import functools
import json
import random
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger.entry
import ledger.payload
import ledger.signing
from ledger.canonical import (
    _INERT,
    b64decode,
    canonical_json,
    check_strings,
    check_text,
    strings_ok_in,
)
from ledger.entry import parse_leaf
from ledger.errors import InvalidInput, InvalidText, NotNFC
from ledger.payload import parse_payload
from ledger.policy import DEFAULT_POLICY, Rule

ESTATE = "fast-parse"
KEY = base64.b64encode(bytes(range(32))).decode()
SIG = [{"key": "0123456789abcdef", "sig": base64.b64encode(bytes(64)).decode()}]
SHA = "ab" * 32


def payload(kind: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {
        "v": 1,
        "estate": ESTATE,
        "id": "0b9f3c52-5d2e-4c8e-9a4b-7f1d2e3c4b5a",
        "kind": kind,
        "date": "2026-10-15",
        "body": body,
    }
    return {**out, **extra}


POSTINGS = [
    {"account": "Assets:Bank:CoManaged", "amount": 1200},
    {"account": "Income:PropertyFee", "amount": -1200},
]
VOUCHER = {"sha256": SHA, "media_type": "application/pdf", "size": 10, "name": "发票.pdf"}
PAYLOADS = [
    payload("transaction", {"postings": POSTINGS, "counterparty": "业主", "category": "物业费"}),
    payload(
        "transaction",
        {
            "postings": POSTINGS,
            "counterparty": "Café Müller",
            "category": "保洁",
            "household": KEY,
        },
        memo="第 1 笔",
        vouchers=[VOUCHER],
    ),
    payload(
        "genesis",
        {
            "name": "小区",
            "address": "路 1 号",
            "currency": "CNY",
            "households": 10,
            "keys": [{"public_key": KEY, "role": "operator", "holder": "平台"}],
            "policy": DEFAULT_POLICY.to_json(),
        },
    ),
    payload(
        "account",
        {"action": "open", "name": "Expenses:Cleaning", "type": "expense", "display_name": "保洁"},
    ),
    payload(
        "key",
        {
            "action": "register",
            "public_key": KEY,
            "role": "trustee",
            "holder": "物业",
            "reason": "",
        },
    ),
    payload("reversal", {"target": 3, "reason": "错账"}),
    payload("budget", {"year": 2026, "lines": [{"account": "Expenses:Cleaning", "amount": 5}]}),
    payload("document", {"title": "合同", "doc_type": "contract"}, vouchers=[VOUCHER]),
    payload("redaction", {"sha256": SHA, "reason": "个人信息"}),
]


def entry(seq: int, p: dict[str, Any]) -> dict[str, Any]:
    prev = None if seq == 0 else base64.b64encode(bytes([seq]) * 32).decode()
    return {
        "seq": seq,
        "prev": prev,
        "recorded_at": "2026-10-15T08:00:00.000Z",
        "payload": p,
        "signatures": SIG,
    }


ENTRIES = [entry(0 if p["kind"] == "genesis" else 7, p) for p in PAYLOADS]

ODD: list[Any] = [
    None,
    True,
    0,
    -1,
    2**53,
    2**60,
    1.5,
    "",
    "x" * 300,
    "e\u0301",
    "\x07",
    "\u0085",
    "\ud800",
    "\U0001f600",
    "Ａ",
    "中",
    [],
    {},
    [1],
    {"a": 1},
]


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*at, i))


def replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    out = copy.deepcopy(value)
    node = out
    for step in at[:-1]:
        node = node[step]
    node[at[-1]] = new
    return out


def variants(value: dict[str, Any]) -> Iterator[Any]:
    """Values near ``value``: each node replaced, members added and removed."""
    for at in paths(value):
        for odd in ODD:
            yield replaced(value, at, odd)
        node = value
        for step in at:
            node = node[step]
        if isinstance(node, dict):
            for k in node:
                yield replaced(value, at, {m: v for m, v in node.items() if m != k})
            yield replaced(value, at, {**node, "extra": 1})
        if isinstance(node, list) and node:
            yield replaced(value, at, [*node, node[0]])


def encodings(value: Any) -> Iterator[bytes]:
    yield json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )
    yield json.dumps(value, sort_keys=True, separators=(",", ":")).encode()  # \\u escapes
    with contextlib.suppress(InvalidInput):
        yield canonical_json(value)


def byte_edits(leaf: bytes) -> Iterator[bytes]:
    yield leaf + b"\n"
    yield b" " + leaf
    yield b"\xef\xbb\xbf" + leaf
    yield leaf.replace(b'"seq":', b'"seq":5,"seq":', 1)
    yield leaf.replace(b'{"payload":', b'{"seq":1,"payload":', 1)
    yield leaf.replace(b'"v":1', b'"v":1.0')
    yield leaf.replace(b'"v":1', b'"v":1e0')
    yield leaf.replace(b'"v":1', b'"v":01')
    yield leaf.replace(b":", b": ", 1)
    yield leaf.replace(b"CNY", b"\\u0043NY")
    yield leaf.replace(b"2026", b"\xed\xa0\x80")
    yield leaf.replace(b"2026", b"\xff")
    yield leaf.replace(b"2026", b"\x7f026")
    yield leaf.replace(b"2026", b"\xc2\x85026")
    yield leaf.replace("物".encode(), "物\u0301".encode())
    yield leaf.replace(b'"estate":', b'"estate":"x","estate":')


def strict(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], Any]:
    """Run a reader with the fast paths off: the strict readers alone."""

    def run(read: Callable[[], Any]) -> Any:
        with monkeypatch.context() as m:
            m.setattr(ledger.entry, "_canonical_leaf", lambda leaf: None)
            m.setattr(ledger.payload, "_read_usual", lambda value: None)
            return outcome(read)

    return run


def outcome(read: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        got = read()
    except Exception as e:
        return ("error", type(e), str(e))
    canonical = got.payload.canonical() if hasattr(got, "payload") else got.canonical()
    return ("ok", got, canonical)


def test_leaves_read_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = strict(monkeypatch)
    seen = accepted = 0
    for value in ENTRIES:
        leaves = [canonical_json(value)]
        leaves += list(byte_edits(leaves[0]))
        leaves += [data for v in variants(value) for data in encodings(v)]
        for leaf in leaves:
            fast = outcome(lambda leaf=leaf: parse_leaf(leaf))
            assert fast == slow(lambda leaf=leaf: parse_leaf(leaf)), leaf
            seen += 1
            accepted += fast[0] == "ok"
    assert seen > 5000 and accepted > len(ENTRIES)


def test_payloads_read_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = strict(monkeypatch)
    for value in PAYLOADS:
        for v in variants(value):
            fast = outcome(lambda v=v: parse_payload(v))
            assert fast == slow(lambda v=v: parse_payload(v)), v


def test_the_fast_leaf_reader_reads_the_usual_leaves() -> None:
    for value in ENTRIES:
        leaf = canonical_json(value)
        assert ledger.entry._canonical_leaf(leaf) == parse_leaf(leaf)
    assert ledger.payload._read_usual(PAYLOADS[0]) is not None


# -- the text and base64 checks against their plain definitions ------------------------------


def plain_check_text(value: str, field: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidText(f"{field}: not valid UTF-8 (lone surrogate)", field=field) from e
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            raise InvalidText(
                f"{field}: control character U+{ord(ch):04X} is not allowed", field=field
            )
    if not unicodedata.is_normalized("NFC", value):
        raise NotNFC(f"{field}: text is not in Unicode NFC form", field=field)
    return value


def plain_b64decode(text: str, field: str, *, length: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: expected a base64 string", field=field)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise InvalidInput(f"{field}: not valid base64", field=field) from e
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidInput(f"{field}: base64 is not canonical", field=field)
    if length is not None and len(data) != length:
        raise InvalidInput(f"{field}: expected {length} bytes, got {len(data)}", field=field)
    return data


ALPHABET = (
    "aé\u0301\u0300\u0323e中、Ａ\x00\x1f\x7f\x85\x9f\xa0\ud800\udfff\U0001f600\u302a\u3099가\u1161"
)


def test_check_text_is_its_plain_definition() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 6)))
        fast = outcome_of(lambda t: check_text(t, "f"), text)
        assert fast == outcome_of(lambda t: plain_check_text(t, "f"), text), repr(text)


def test_strings_ok_in_never_passes_what_check_strings_refuses() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        keys = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 4))) for _ in "ab"]
        value = {keys[0]: ["".join(rng.choice(ALPHABET) for _ in range(3)), 1], keys[1]: None}
        data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
        try:
            check_strings(value)
        except InvalidInput:
            assert not strings_ok_in(data), data
        else:
            if "\\" not in data.decode("utf-8", "surrogatepass"):
                assert strings_ok_in(data) or not data.isascii(), data


def test_inert_characters_never_take_part_in_normalisation() -> None:
    pairs = set()
    for code in range(0x110000):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            pairs.add(int(parts[1], 16))
    inert = [chr(c) for c in range(0x110000) if _INERT.fullmatch(chr(c))]
    assert len(inert) > 20_000
    for ch in inert:
        assert unicodedata.combining(ch) == 0, hex(ord(ch))
        assert not unicodedata.decomposition(ch) or unicodedata.decomposition(ch).startswith("<")
        assert ord(ch) not in pairs and unicodedata.category(ch) != "Cc"


def test_b64decode_is_its_plain_definition() -> None:
    rng = random.Random(11)
    alphabet = "AQgw+/=Zz09\n -_é"
    texts: list[Any] = [None, 5, b"AAAA", "", "AA==", "AQ==", "AB==", "AAA=", "AAAA", "A==="]
    texts += [
        base64.b64encode(bytes(rng.randrange(256) for _ in range(n))).decode() for n in range(70)
    ]
    texts += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(5000)
    ]
    for text in texts:
        for length in (None, 1, 32):
            a = outcome_of(functools.partial(b64decode, field="f", length=length), text)
            b = outcome_of(functools.partial(plain_b64decode, field="f", length=length), text)
            assert a == b, (text, length)


def test_rule_check_is_what_missing_says() -> None:
    roles = ["committee", "trustee", "supervisor", "auditor", "operator"]
    rng = random.Random(13)
    for _ in range(2_000):
        rule = Rule(
            all_of=tuple(rng.sample(roles, rng.randrange(0, 3))),  # type: ignore[arg-type]
            any_of=tuple(rng.sample(roles, rng.randrange(0, 3))),  # type: ignore[arg-type]
        )
        have = rng.sample(roles, rng.randrange(0, 4))
        refused = outcome_of(functools.partial(rule.check, "spend"), have)[0] == "error"
        assert refused == bool(rule.missing(have))


def outcome_of(f: Callable[[Any], Any], arg: Any) -> tuple[Any, ...]:
    try:
        return ("ok", f(arg))
    except Exception as e:
        return ("error", type(e), str(e))


def test_leaf_bytes_splice_is_the_canonical_encoding() -> None:
    """:meth:`Entry.leaf_bytes` splices the payload's canonical bytes into the entry;
    it must equal JCS of the whole entry object, for every entry the readers accept."""
    seen = 0
    for value in ENTRIES:
        for v in [value, *variants(value)]:
            try:
                entry = ledger.entry.parse_entry(v)
            except Exception:
                continue
            fresh = ledger.entry.Entry(
                entry.seq,
                entry.prev,
                entry.recorded_at,
                parse_payload(v["payload"]),
                entry.signatures,
            )
            assert fresh.leaf_bytes() == canonical_json(fresh.to_json()), v
            seen += 1
    assert seen > len(ENTRIES)


@settings(max_examples=400, deadline=None)
@given(
    seq=st.integers(0, 2**53 - 1),
    prev=st.none() | st.binary(min_size=32, max_size=32),
    recorded_at=st.sampled_from(
        [
            "2026-11-03T08:15:02.123Z",
            "2026-11-03 08:15:02",
            "\uff12\uff10\uff12\uff16-11-03T08:15:02.123Z",
        ]
    )
    | st.text(),
    keys=st.lists(
        st.sampled_from(["0123456789abcdef", "ABCDEFGHijklmnop"])
        | st.text(min_size=16, max_size=16)
        | st.text(alphabet='"\\\u00e9\u4e00\x01a', min_size=16, max_size=16),
        max_size=3,
    ),
)
def test_leaf_bytes_written_directly_are_the_canonical_encoding(
    seq: int, prev: bytes | None, recorded_at: str, keys: list[str]
) -> None:
    """The members after ``payload`` are written without the encoder when their values
    need no escaping (``Entry._tail``); for any values — key ids and times with quotes,
    backslashes, controls or text beyond ASCII included — the leaf is still JCS."""
    entry = ledger.entry.Entry(
        seq,
        prev,
        recorded_at,
        parse_payload(PAYLOADS[1]),
        tuple(ledger.signing.Signature(k, bytes([i]) * 64) for i, k in enumerate(keys)),
    )
    assert entry.leaf_bytes() == canonical_json(entry.to_json())


def _strict_signatures(value: Any, path: str = "signatures") -> tuple[Any, ...]:
    """parse_signatures as written before its fast path: every item through ``Obj``."""
    from ledger.fields import Obj
    from ledger.signing import Signature

    if len(value) > 16:
        raise InvalidInput("unused")  # not reached: the inputs below are short
    out = []
    for i, item in enumerate(value):
        o = Obj(item, f"{path}[{i}]", {"key", "sig"}, set())
        key = o.str("key", max_len=16, min_len=16)
        out.append(Signature(key=key, sig=b64decode(o.raw("sig"), o.at("sig"), length=64)))
    return tuple(out)


def test_signatures_read_alike() -> None:
    from ledger.signing import parse_signatures

    good = {"key": "0123456789abcdef", "sig": base64.b64encode(bytes(range(64))).decode()}
    keys: list[Any] = [
        "0123456789abcdef",
        "0123456789abcde",
        "0123456789abcdefg",
        5,
        None,
        "0123456789abcd\x00f",
        "0123456789abcdé",
        "0123456789abcde\u0301",
        "é123456789abcdef",
        "\ud800123456789abcde",
    ]
    sigs: list[Any] = [good["sig"], good["sig"][:-4], "!" * 88, 5, None, good["sig"] + "="]
    items: list[Any] = [good, {**good, "x": 1}, {"key": good["key"]}, [good], "s", None]
    items += [{"key": k, "sig": s} for k in keys for s in sigs]
    for item in items:
        for value in ([item], [good, item]):
            assert outcome_of(parse_signatures, value) == outcome_of(_strict_signatures, value), (
                value
            )
