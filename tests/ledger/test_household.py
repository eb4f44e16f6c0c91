"""Household commitments and receipt codes: format → parse is lossless, the parser strict."""

from __future__ import annotations

import base64
import hashlib
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.household import (
    MAX_SEQ,
    MAX_UNIT_ID,
    SALT_SIZE,
    format_receipt_code,
    make_commitment,
    parse_receipt_code,
)

SALT = bytes(range(16))


def _unit_char(ch: str) -> bool:
    return ch.isalnum() or ch in "-_."


unit_ids = st.text(
    alphabet=st.characters(categories=("Lu", "Ll", "Lo", "Nd")) | st.sampled_from("-_."),
    min_size=1,
    max_size=MAX_UNIT_ID,
).filter(lambda u: unicodedata.is_normalized("NFC", u) and all(map(_unit_char, u)))
salts = st.binary(min_size=SALT_SIZE, max_size=SALT_SIZE)
seqs = st.integers(min_value=0, max_value=MAX_SEQ)


def test_commitment_is_base64_sha256_of_salt_and_unit() -> None:
    expected = hashlib.sha256(SALT + "3栋-2-501".encode()).digest()
    assert make_commitment(SALT, "3栋-2-501") == base64.b64encode(expected).decode()
    assert len(make_commitment(SALT, "x")) == 44  # fits household_salts.commitment


def test_code_format() -> None:
    code = format_receipt_code(1234, SALT, "3-2-501")
    seq, salt32, unit = code.split("-", 2)
    assert (seq, unit) == ("1234", "3-2-501")
    assert len(salt32) == 26 and salt32 == salt32.lower() and "=" not in salt32
    assert parse_receipt_code(code) == (1234, SALT, "3-2-501")


@given(seqs, salts, unit_ids)
def test_round_trip(seq: int, salt: bytes, unit_id: str) -> None:
    code = format_receipt_code(seq, salt, unit_id)
    assert parse_receipt_code(code) == (seq, salt, unit_id)


def assert_strict(text: str) -> None:
    """Whatever parses formats back to the same text: one code per (seq, salt, unit)."""
    try:
        parsed = parse_receipt_code(text)
    except InvalidInput:
        return
    assert format_receipt_code(*parsed) == text


@given(st.text(max_size=120))
def test_parse_is_strict(text: str) -> None:
    assert_strict(text)


@given(seqs, salts, unit_ids, st.integers(min_value=0), st.characters())
def test_one_character_changed(seq: int, salt: bytes, unit_id: str, at: int, ch: str) -> None:
    code = format_receipt_code(seq, salt, unit_id)
    i = at % len(code)
    assert_strict(code[:i] + ch + code[i + 1 :])


GOOD = format_receipt_code(7, SALT, "3-2-501")
SALT32 = GOOD.split("-")[1]


@pytest.mark.parametrize(
    "code",
    [
        "",
        "7",
        f"7-{SALT32}",
        f"7-{SALT32}-",  # empty unit
        f"-{SALT32}-1",
        f"07-{SALT32}-1",  # leading zero
        f"+7-{SALT32}-1",
        f"７-{SALT32}-1",  # full-width digit
        f"{MAX_SEQ + 1}-{SALT32}-1",
        f"7-{SALT32.upper()}-1",
        f"7-{SALT32}======-1",
        f"7-{SALT32[:-1]}-1",  # 15.6 bytes
        f"7-{SALT32}a-1",
        f"7-{SALT32[:-1]}b-1",  # non-zero trailing bits: not canonical
        f"7-{SALT32[:-1]}1-1",  # not a base32 digit
        f"7-{SALT32}-3 2 501",
        f"7-{SALT32}-3/2/501",
        f"7-{SALT32}-3%2F2",
        f"7-{SALT32}-e\u0301",  # not NFC
        f"7-{SALT32}-a\x00",
        f"7-{SALT32}-" + "1" * (MAX_UNIT_ID + 1),
    ],
)
def test_malformed_codes(code: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_receipt_code(code)
    assert e.value.field == "code"


def test_format_refuses_what_it_cannot_print() -> None:
    for seq, salt, unit in [
        (-1, SALT, "1"),
        (MAX_SEQ + 1, SALT, "1"),
        (1, SALT[:15], "1"),
        (1, SALT + b"\0", "1"),
        (1, SALT, ""),
        (1, SALT, "3 2"),
        (1, SALT, "3/2"),
        (1, SALT, "x" * (MAX_UNIT_ID + 1)),
    ]:
        with pytest.raises(InvalidInput):
            format_receipt_code(seq, salt, unit)


def test_chinese_unit_ids() -> None:
    code = format_receipt_code(3, SALT, "3栋2单元501室")
    assert parse_receipt_code(code) == (3, SALT, "3栋2单元501室")
