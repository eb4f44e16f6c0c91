"""Canonical bytes and strict text: the one encoding every signature and hash covers.

What it does: RFC 8785 (JCS) canonical JSON through ``rfc8785``; strict parsing of
JSON bytes (valid UTF-8, no duplicate keys, no floats, no NaN, bounded depth);
validation that every string is NFC without control characters; strict base64.

What it does not: repair input. Text that is not NFC, carries control characters or
is not valid UTF-8 is refused with an error that names the field, never normalised
silently, because a silently changed string would no longer be what its author signed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from typing import Any

import rfc8785

from ledger.errors import InvalidInput, InvalidText, NotNFC

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in any JSON document."""


_JSON_SAFE_INT = 2**53
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _plain(value: Any, depth: int = 0) -> bool:
    """True when the standard library's JSON encoder writes ``value`` exactly as JCS does.

    That holds for dicts, lists, strings, booleans, ``None`` and integers within
    ±2^53, as long as no object key holds a character beyond U+FFFF: JCS sorts keys
    by UTF-16 code units and Python by code points, which agree on the BMP. String
    escapes agree too (``\\" \\\\ \\b \\f \\n \\r \\t``, other controls as lowercase
    ``\\u00xx``, nothing else escaped). Anything else takes ``rfc8785``'s path.
    """
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return bool(-_JSON_SAFE_INT < value < _JSON_SAFE_INT)
    if depth > MAX_DEPTH:
        return False
    if t is dict:
        return all(
            type(k) is str and (not k or max(k) <= "\uffff") and _plain(v, depth + 1)
            for k, v in value.items()
        )
    if t is list:
        return all(_plain(v, depth + 1) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value`` (dicts, lists, str, int, bool, None).

    The usual values (every payload and entry) go through the standard library's C
    encoder, which writes the same bytes (:func:`_plain`; tested against ``rfc8785``
    with Hypothesis); the rest through ``rfc8785``.
    """
    if _plain(value):
        try:
            return _dumps(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it with its own error below
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise InvalidInput(f"value cannot be canonicalised: {e}") from e


_NOT_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Every character :func:`check_text` refuses outright: the control characters (Unicode
category ``Cc`` is exactly U+0000–U+001F and U+007F–U+009F) and the surrogates (which
cannot be encoded as UTF-8: in a Python string every surrogate is a lone one)."""


def _is_text(value: str) -> bool:
    """True when :func:`check_text` accepts ``value`` (one regex search, in C).

    ASCII is always NFC; other text is asked of ``unicodedata`` (its quick check).
    """
    return _NOT_TEXT.search(value) is None and (
        value.isascii() or unicodedata.is_normalized("NFC", value)
    )


def check_text(value: str, field: str) -> str:
    """Return ``value`` if it is NFC, encodable as UTF-8 and free of control characters."""
    if _is_text(value):
        return value
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


def check_strings(value: Any, field: str = "$", depth: int = 0) -> None:
    """Check every string (keys included) inside a decoded JSON value, and its depth."""
    if _strings_ok(value, depth):
        return
    _check_strings(value, field, depth)


def _strings_ok(value: Any, depth: int = 0) -> bool:
    """True when :func:`check_strings` would pass (no paths built: the usual case)."""
    if depth > MAX_DEPTH:
        return False
    t = type(value)
    if t is str:
        return _is_text(value)
    if t is dict:
        return all(
            type(k) is str and _is_text(k) and _strings_ok(v, depth + 1) for k, v in value.items()
        )
    if t is list:
        return all(_strings_ok(v, depth + 1) for v in value)
    return t is int or t is bool or value is None


def plain_text(value: Any, depth: int = 0) -> bool:
    """True when ``value`` passes :func:`check_strings` *and* is written by the standard
    library's encoder exactly as JCS writes it (see :func:`_plain`), in one pass.

    Then :func:`encode_plain` gives its canonical bytes without checking again.
    """
    if depth > MAX_DEPTH:
        return False
    t = type(value)
    if t is str:
        return _is_text(value)
    if t is int:
        return bool(-_JSON_SAFE_INT < value < _JSON_SAFE_INT)
    if t is dict:
        return all(
            type(k) is str
            and _is_text(k)
            and (k.isascii() or max(k) <= "\uffff")
            and plain_text(v, depth + 1)
            for k, v in value.items()
        )
    if t is list:
        return all(plain_text(v, depth + 1) for v in value)
    return t is bool or value is None


_ASCII = bytes(range(128))
_INERT = re.compile(r"[\u3001-\u3029\u4e00-\u9fff\uff01-\uff5e]*")
"""Characters beyond ASCII that never take part in normalisation: CJK ideographs, CJK
punctuation and full-width forms (no canonical decomposition, combining class 0, never
the second character of a composition: their NFC quick check is Yes). Text made of
them and ASCII is NFC, and so is every piece of it (the tests check the ranges)."""


def strings_ok_in(data: bytes) -> bool:
    """True when every string (keys included) of the JSON document ``data`` (UTF-8)
    passes :func:`check_text`, judged from the bytes without decoding the document;
    False when a string fails *or* this cannot tell (then ask :func:`check_strings`
    of the decoded value). Only for bytes that decode strictly and that the standard
    library's JSON decoder accepts (which refuses raw control characters in strings).

    Without a backslash the strings are the text between quotes, character for
    character, and cannot hold U+007F; without C1 controls (they are not in the inert
    set) and with only inert characters beyond ASCII every string is NFC. Other text
    beyond ASCII is checked string by string.
    """
    if b"\\" in data or b"\x7f" in data:
        return False
    beyond = data.translate(None, _ASCII)
    if not beyond:
        return True
    try:
        if _INERT.fullmatch(beyond.decode("utf-8")):
            return True
        strings = data.decode("utf-8").split('"')[1::2]
    except UnicodeDecodeError:
        return False
    return all(_is_text(s) for s in strings)


def encode_plain(value: Any) -> bytes:
    """:func:`canonical_json` of a value :func:`plain_text` accepted (no second check)."""
    return _dumps(value).encode("utf-8")


def _check_strings(value: Any, field: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{field}: nested deeper than {MAX_DEPTH} levels", field=field)
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(f"{field}: object keys must be strings", field=field)
            check_text(k, f"{field}.{k}")
            _check_strings(v, f"{field}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_strings(v, f"{field}[{i}]", depth + 1)
    elif isinstance(value, float):
        raise InvalidInput(f"{field}: numbers must be integers", field=field)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InvalidInput(f"duplicate key {k!r} in JSON object", field=k)
        out[k] = v
    return out


def _no_float(text: str) -> Any:
    raise InvalidInput(f"number {text} is not an integer; amounts are integer fen")


def _no_constant(text: str) -> Any:
    raise InvalidInput(f"{text} is not valid JSON")


def parse_json(data: bytes) -> Any:
    """Decode JSON bytes strictly; every string is checked with :func:`check_text`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidText(f"body is not valid UTF-8 (byte {e.start})") from e
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except RecursionError as e:
        raise InvalidInput("JSON nested too deeply") from e
    except json.JSONDecodeError as e:
        raise InvalidInput(f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except ValueError as e:  # an integer longer than int() converts (4300 digits)
        raise InvalidInput("JSON number has too many digits") from e
    if not (strings_ok_in(data) and _shallow(data)):  # else: judged from the bytes
        check_strings(value)
    return value


_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_INNERMOST = re.compile(rb"\[\]|\{\}")


def _shallow(data: bytes) -> bool:
    """True when the JSON document ``data`` (without backslashes: every string is the
    bytes between two quotes) nests at most :data:`MAX_DEPTH` levels, so that
    :func:`check_strings` would not refuse it for depth; False when it might."""
    # Keep quotes and brackets only; then every other piece between quotes was a string.
    brackets = b"".join(data.translate(None, _STRUCTURE).split(b'"')[::2])
    for _ in range(MAX_DEPTH):  # each pass removes the innermost level
        if not brackets:
            return True
        brackets = _INNERMOST.sub(b"", brackets)
    return not brackets


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (the encoding of every hash in the API)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, field: str, *, length: int | None = None) -> bytes:
    """Strict standard base64: canonical padding, no whitespace, optional exact length."""
    if type(text) is str:  # the usual case, decoded once and checked by re-encoding it
        try:
            data = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            pass  # the path below says what is wrong
        else:
            if binascii.b2a_base64(data, newline=False) == text.encode("ascii") and (
                length is None or len(data) == length
            ):
                return data
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
