"""Canonical bytes and strict parsing (ledger/canonical.py): RFC 8785 output, refusals."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    MAX_DEPTH,
    _plain,
    b64decode,
    b64encode,
    canonical_json,
    check_strings,
    check_text,
    parse_json,
)
from ledger.errors import InvalidInput, InvalidText, NotNFC


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- parse_json: what it accepts ------------------------------------------------------------


def test_parse_json_accepts_strict_json() -> None:
    doc = parse_json(
        '{"a": [1, -2, true, null], "b": "物业费 é", "c": {"d": "\\ud83d\\ude00"}}'.encode()
    )
    assert doc == {"a": [1, -2, True, None], "b": "物业费 é", "c": {"d": "\U0001f600"}}


def test_parse_json_accepts_the_deepest_allowed_nesting() -> None:
    # The outermost array is depth 0, so MAX_DEPTH + 1 arrays put the innermost at MAX_DEPTH.
    value = parse_json(_nested(MAX_DEPTH + 1))
    for _ in range(MAX_DEPTH):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == []


# -- parse_json: what it refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"\xff", b'"\xc3"', b'"\xed\xa0\x80"', b'{"a": "\xe9"}', b'"\xc0\xaf"'],
    ids=["ff", "truncated", "encoded-surrogate", "latin1", "overlong"],
)
def test_parse_json_rejects_invalid_utf8(data: bytes) -> None:
    with pytest.raises(InvalidText) as e:
        parse_json(data)
    assert type(e.value) is InvalidText
    assert e.value.code == "invalid-text"


def test_parse_json_rejects_duplicate_keys() -> None:
    with pytest.raises(InvalidInput, match="duplicate key 'a'") as e:
        parse_json(b'{"a": 1, "b": {"a": 2}, "a": 1}')
    assert e.value.field == "a"


def test_parse_json_rejects_nested_duplicate_keys() -> None:
    with pytest.raises(InvalidInput, match="duplicate key 'x'"):
        parse_json(b'{"a": [{"x": 1, "x": 2}]}')


@pytest.mark.parametrize("number", [b"1.5", b"100.0", b"0.0", b"-0.5", b"1e5", b"1E2", b"-0e0"])
def test_parse_json_rejects_floats(number: bytes) -> None:
    with pytest.raises(InvalidInput, match="not an integer") as e:
        parse_json(b'{"amount": ' + number + b"}")
    assert type(e.value) is InvalidInput


@pytest.mark.parametrize("const", [b"NaN", b"Infinity", b"-Infinity"])
def test_parse_json_rejects_nan_and_infinity(const: bytes) -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_json(b"[" + const + b"]")


@pytest.mark.parametrize(
    "data", [b"", b"{", b"[1,]", b"{'a': 1}", b"01", b"\xef\xbb\xbf{}", b"{} {}", b'{"a" 1}']
)
def test_parse_json_rejects_malformed_json(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_json(data)


def test_parse_json_rejects_too_deep_nesting() -> None:
    with pytest.raises(InvalidInput, match=f"nested deeper than {MAX_DEPTH}"):
        parse_json(_nested(MAX_DEPTH + 2))
    with pytest.raises(InvalidInput, match=f"nested deeper than {MAX_DEPTH}"):
        parse_json(b'{"a":' * (MAX_DEPTH + 2) + b"1" + b"}" * (MAX_DEPTH + 2))


def test_parse_json_rejects_pathological_nesting_without_crashing() -> None:
    # Deep enough to exhaust the recursion limit of the json module itself.
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse_json(_nested(200_000))


@pytest.mark.parametrize(
    "text",
    ['"e\\u0301"', '"e\u0301"', '{"e\\u0301": 1}', '["ok", "A\\u030a"]', '"\\u212b"'],
    ids=["escaped", "raw", "key", "in-array", "angstrom-sign"],
)
def test_parse_json_rejects_non_nfc(text: str) -> None:
    with pytest.raises(NotNFC) as e:
        parse_json(text.encode())
    assert e.value.code == "not-nfc"


def test_parse_json_accepts_nfc_composed_form() -> None:
    assert parse_json(b'"\\u00e9"') == "é"


@pytest.mark.parametrize("escape", ["\\u0000", "\\u0007", "\\u001b", "\\u007f", "\\u0085", "\\n"])
def test_parse_json_rejects_escaped_control_characters(escape: str) -> None:
    with pytest.raises(InvalidText, match="control character") as e:
        parse_json(f'{{"memo": "a{escape}b"}}'.encode())
    assert type(e.value) is InvalidText
    assert e.value.field == "$.memo"


@pytest.mark.parametrize("raw", [b"\x00", b"\x07", b"\x1b", b"\n"])
def test_parse_json_rejects_raw_control_characters_in_strings(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_json(b'"a' + raw + b'b"')


@pytest.mark.parametrize(
    "text", ['"\\ud800"', '"\\udfff"', '"x\\ud83d"', '"\\ude00\\ud83d"', '{"\\ud800": 1}']
)
def test_parse_json_rejects_lone_surrogates(text: str) -> None:
    with pytest.raises(InvalidText, match="lone surrogate") as e:
        parse_json(text.encode())
    assert type(e.value) is InvalidText


# -- check_text / check_strings -------------------------------------------------------------


def test_check_text_returns_valid_text() -> None:
    assert check_text("10月电梯维保费 – ok", "payload.memo") == "10月电梯维保费 – ok"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("e\u0301", NotNFC),
        ("a\u0000", InvalidText),
        ("\u0007", InvalidText),
        ("\u001b[0m", InvalidText),
        ("\ud800", InvalidText),
    ],
)
def test_check_text_names_the_field(value: str, error: type[InvalidText]) -> None:
    with pytest.raises(error) as e:
        check_text(value, "payload.body.counterparty")
    assert type(e.value) is error
    assert e.value.field == "payload.body.counterparty"
    assert str(e.value).startswith("payload.body.counterparty: ")


def test_check_strings_gives_the_path_of_the_bad_string() -> None:
    with pytest.raises(NotNFC) as e:
        check_strings({"body": {"postings": [{"account": "ok"}, {"account": "e\u0301"}]}}, "p")
    assert e.value.field == "p.body.postings[1].account"


def test_check_strings_rejects_floats_with_their_path() -> None:
    with pytest.raises(InvalidInput) as e:
        check_strings({"a": [1, 2.0]}, "p")
    assert e.value.field == "p.a[1]"


# -- base64 --------------------------------------------------------------------------------


def test_b64_round_trip() -> None:
    for n in range(0, 70):
        data = bytes(range(n))
        assert b64decode(b64encode(data), "f", length=n) == data


@pytest.mark.parametrize(
    "text",
    ["AB==", "AAB=", "/x==", "AA9=", "AAAAAB=="],
)
def test_b64decode_rejects_non_canonical_padding_bits(text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        b64decode(text, "payload.body.household")
    assert e.value.field == "payload.body.household"


@pytest.mark.parametrize(
    "text",
    ["AA", "AAA", "AA=", "AA===", "AAA==", "=AAA", "A"],
    ids=["no-padding-2", "no-padding-3", "short-padding", "long-padding", "bad-pad", "lead", "one"],
)
def test_b64decode_rejects_wrong_padding(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"not valid base64|not canonical"):
        b64decode(text, "f")


@pytest.mark.parametrize("text", ["AA AA", " AAAA", "AAAA\n", "AA\r\nAA", "AAAA\t"])
def test_b64decode_rejects_whitespace(text: str) -> None:
    with pytest.raises(InvalidInput):
        b64decode(text, "f")


@pytest.mark.parametrize("text", ["-_8=", "AA*A", "ÀAAA", "AAAA\u00a0"])
def test_b64decode_rejects_foreign_characters(text: str) -> None:
    with pytest.raises(InvalidInput):
        b64decode(text, "f")


def test_b64decode_rejects_wrong_length() -> None:
    text = b64encode(b"\x00" * 31)
    with pytest.raises(InvalidInput, match="expected 32 bytes, got 31") as e:
        b64decode(text, "entry.prev", length=32)
    assert e.value.field == "entry.prev"
    assert b64decode(b64encode(b"\x00" * 32), "entry.prev", length=32) == b"\x00" * 32


@pytest.mark.parametrize("value", [None, 1, b"AAAA", ["AAAA"]])
def test_b64decode_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidInput, match="expected a base64 string"):
        b64decode(value, "f")  # type: ignore[arg-type]


# -- RFC 8785 output ------------------------------------------------------------------------


def test_canonical_json_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3's example: U+1F600 (UTF-16 D83D DE00) sorts before U+FB33,
    # although it comes after it in code point order.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode()
    assert canonical_json(value) == expected


def test_canonical_json_integers_literals_and_whitespace() -> None:
    value = {"b": [0, -1, 10**12, 2**53 - 1, -(2**53 - 1)], "a": {"z": True, "y": None, "x": False}}
    assert canonical_json(value) == (
        b'{"a":{"x":false,"y":null,"z":true},'
        b'"b":[0,-1,1000000000000,9007199254740991,-9007199254740991]}'
    )


def test_canonical_json_string_escapes() -> None:
    # Only ", \ and U+0000..U+001F are escaped (short forms where JSON has them,
    # else lowercase \u00xx); everything else, "/" and U+2028 included, is raw UTF-8.
    value = ['"\\/', "\b\t\n\f\r", "\u0000\u001f", "\u007f\u2028é物😀"]
    assert canonical_json(value) == (
        b'["\\"\\\\/","\\b\\t\\n\\f\\r","\\u0000\\u001f","' + "\u007f\u2028é物😀".encode() + b'"]'
    )


def test_canonical_json_known_bytes_of_a_payload() -> None:
    payload = {
        "v": 1,
        "memo": "10月电梯维保费",
        "kind": "transaction",
        "body": {"postings": [{"amount": -150000, "account": "Assets:Bank:CoManaged"}]},
    }
    assert (
        canonical_json(payload)
        == (
            '{"body":{"postings":[{"account":"Assets:Bank:CoManaged","amount":-150000}]},'
            '"kind":"transaction","memo":"10月电梯维保费","v":1}'
        ).encode()
    )


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**20, {"a": object()}, {1: "x"}])
def test_canonical_json_refuses_what_it_cannot_encode(value: object) -> None:
    with pytest.raises(InvalidInput, match="cannot be canonicalised"):
        canonical_json(value)


def test_canonical_json_round_trips_through_parse_json() -> None:
    value = {"é": ["物业费", 1, None], "a": {"b": -5, "\U0001f600": True}}
    data = canonical_json(value)
    assert parse_json(data) == value
    assert canonical_json(parse_json(data)) == data


# -- the standard-library fast path writes exactly what rfc8785 writes ----------------------

_text = st.text(
    st.characters(codec="utf-8"), max_size=12
)  # astral planes, controls, quotes, backslashes, U+2028 …
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.integers()
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1500)
@given(_json)
def test_fast_path_equals_rfc8785(value):
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        expected = None
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017 - both refuse; ours as InvalidInput
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_keys_beyond_the_bmp_sort_by_utf16_and_take_the_slow_path():
    value = {"\U0001f600": 1, "\uffee": 2}  # code points and UTF-16 units disagree
    assert not _plain(value)
    out = canonical_json(value)
    assert out == rfc8785.dumps(value)
    # UTF-16: U+1F600 is D83D DE00, below FFEE; by code point it would come last.
    assert out.index("\U0001f600".encode()) < out.index("\uffee".encode())


def _outcome(read: object) -> object:
    try:
        return ("ok", read())  # type: ignore[operator]
    except InvalidInput as e:
        return ("error", type(e), str(e))


@pytest.mark.parametrize("depth", range(MAX_DEPTH - 2, MAX_DEPTH + 4))
def test_parse_json_judges_depth_and_text_as_check_strings_does(depth: int) -> None:
    """parse_json skips check_strings when the bytes show the strings are text and the
    nesting shallow; every shape around the limit must be judged as check_strings would."""
    import json

    docs = [
        _nested(depth),
        b"[" * depth + b"1" + b"]" * depth,
        b'{"a":' * depth + b'"x"' + b"}" * depth,
        b'{"a":' * depth + b'"\xe7\x89\xa9 e\xcc\x81"' + b"}" * depth,  # not NFC
        b'[{"k":"[[[{{","v":' * depth + b"0" + b"}]" * depth,  # brackets inside strings
    ]
    for doc in docs:
        value = json.loads(doc)
        expected = _outcome(lambda value=value: (check_strings(value), value)[1])
        assert _outcome(lambda doc=doc: parse_json(doc)) == expected, doc
