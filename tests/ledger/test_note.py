"""Tests of ledger.note: the C2SP signed-note vector, round trips and rejections."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import NoteError
from ledger.note import (
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    NoteSigner,
    Signer,
    Verifier,
    format_vkey,
    key_id,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)
from tests.vectors import VECTORS

VECTOR: dict[str, Any] = json.loads((VECTORS / "signed-note.json").read_text("utf-8"))
SIGNER = Signer.from_seed(VECTOR["name"], bytes.fromhex(VECTOR["ed25519_seed_hex"]))
TEXT: str = VECTOR["text"]
SIGNED: str = VECTOR["signed_note"]
OTHER = Signer.from_seed("other.example/log", bytes(range(32)))


# -- the vector --------------------------------------------------------------------------------


def test_vector_key() -> None:
    public_key = bytes.fromhex(VECTOR["public_key_hex"])
    assert SIGNER.verifier.public_key == public_key
    assert key_id(VECTOR["name"], public_key).hex() == VECTOR["key_id_hex"]
    assert SIGNER.key_id.hex() == VECTOR["key_id_hex"]
    assert SIGNER.vkey == VECTOR["vkey"]
    assert format_vkey(VECTOR["name"], public_key) == VECTOR["vkey"]


def test_vector_parse_vkey() -> None:
    verifier = parse_vkey(VECTOR["vkey"])
    assert verifier == Verifier(
        VECTOR["name"], bytes.fromhex(VECTOR["key_id_hex"]), bytes.fromhex(VECTOR["public_key_hex"])
    )
    assert verifier.vkey == VECTOR["vkey"]


def test_vector_sign() -> None:
    assert sign_note(TEXT, SIGNER) == SIGNED


def test_vector_open() -> None:
    note = open_note(SIGNED, [parse_vkey(VECTOR["vkey"])])
    assert note.text == TEXT
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [
        (VECTOR["name"], VECTOR["key_id_hex"])
    ]
    assert open_note(SIGNED.encode("utf-8"), [SIGNER.verifier]) == note


def test_vector_parse() -> None:
    note = parse_note(SIGNED)
    assert note.text == TEXT
    (sig,) = note.signatures
    assert sig.name == VECTOR["name"]
    assert sig.key_id.hex() == VECTOR["key_id_hex"]
    assert len(sig.signature) == 64


def test_signer_is_a_note_signer_and_hides_its_key() -> None:
    signer: NoteSigner = SIGNER
    assert signer.name == VECTOR["name"]
    assert VECTOR["ed25519_seed_hex"] not in repr(SIGNER)


# -- round trips -------------------------------------------------------------------------------

names = st.text(
    st.characters(blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], blacklist_characters="+"),
    min_size=1,
    max_size=40,
).filter(lambda s: not any(c.isspace() for c in s))
lines = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=60)
texts = st.lists(lines, min_size=1, max_size=6).map(lambda ls: "".join(f"{x}\n" for x in ls))


@given(names, texts, st.binary(min_size=32, max_size=32))
def test_sign_open_round_trip(name: str, text: str, seed: bytes) -> None:
    signer = Signer.from_seed(name, seed)
    signed = sign_note(text, signer)
    assert parse_vkey(signer.vkey) == signer.verifier
    opened = open_note(signed, [parse_vkey(signer.vkey)])
    assert opened.text == text
    assert parse_note(signed).text == text
    assert opened.signatures == parse_note(signed).signatures


# -- opening: trust rules ------------------------------------------------------------------------


def add_signature(note: str, signer: NoteSigner, text: str = TEXT) -> str:
    """Append ``signer``'s signature line over ``text`` to a signed note."""
    line = sign_note(text, signer)[len(text) + 1 :]
    return note + line


def test_unknown_key_only_is_rejected() -> None:
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(SIGNED, [OTHER.verifier])
    with pytest.raises(NoteError):
        open_note(SIGNED, [])


def test_second_signature_by_unknown_key_is_ignored() -> None:
    cosigned = add_signature(SIGNED, OTHER)
    note = open_note(cosigned, [SIGNER.verifier])
    assert [s.name for s in note.signatures] == [SIGNER.name]
    assert len(parse_note(cosigned).signatures) == 2
    both = open_note(cosigned, [SIGNER.verifier, OTHER.verifier])
    assert [s.name for s in both.signatures] == [SIGNER.name, OTHER.name]


def test_bad_signature_by_known_key_fails_even_next_to_a_good_one() -> None:
    bad = add_signature(SIGNED, SIGNER, text="something else\n")
    with pytest.raises(NoteError, match="does not verify"):
        open_note(bad, [SIGNER.verifier])
    unknown_bad = add_signature(SIGNED, OTHER, text="something else\n")
    assert open_note(unknown_bad, [SIGNER.verifier]).text == TEXT


def test_same_name_other_key_is_unknown_and_ignored() -> None:
    impostor = Signer.from_seed(SIGNER.name, bytes(32))
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(sign_note(TEXT, impostor), [SIGNER.verifier])
    assert open_note(add_signature(SIGNED, impostor), [SIGNER.verifier]).text == TEXT


def test_duplicate_signature_is_listed_once() -> None:
    twice = add_signature(SIGNED, SIGNER)
    assert len(open_note(twice, [SIGNER.verifier]).signatures) == 1


def test_colliding_verifiers_are_refused() -> None:
    v = SIGNER.verifier
    clash = Verifier.__new__(Verifier)
    object.__setattr__(clash, "name", v.name)
    object.__setattr__(clash, "key_id", v.key_id)
    object.__setattr__(clash, "public_key", bytes(32))
    with pytest.raises(NoteError, match="share name"):
        open_note(SIGNED, [v, clash])
    assert open_note(SIGNED, [v, v]).text == TEXT


def test_tampered_text_fails() -> None:
    tampered = SIGNED.replace("cryptography", "cryptographY")
    with pytest.raises(NoteError, match="does not verify"):
        open_note(tampered, [SIGNER.verifier])


@given(st.integers(min_value=32, max_value=68 * 8 - 1))
def test_any_flipped_signature_bit_fails(bit: int) -> None:
    note = parse_note(SIGNED)
    raw = bytearray(note.signatures[0].key_id + note.signatures[0].signature)
    raw[bit // 8] ^= 1 << bit % 8
    head, _, _ = SIGNED.rpartition(SIGNER.name + " ")
    forged = f"{head}{SIGNER.name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError):
        open_note(forged, [SIGNER.verifier])


@given(st.integers(min_value=0, max_value=31))
def test_flipped_key_id_bit_makes_the_signature_unknown(bit: int) -> None:
    sig = parse_note(SIGNED).signatures[0]
    key = bytearray(sig.key_id)
    key[bit // 8] ^= 1 << bit % 8
    forged = SIGNED.replace(
        base64.b64encode(sig.key_id + sig.signature).decode(),
        base64.b64encode(bytes(key) + sig.signature).decode(),
    )
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(forged, [SIGNER.verifier])


# -- parsing: malformed notes ------------------------------------------------------------------

SIG_LINE = SIGNED[len(TEXT) + 1 :]


@pytest.mark.parametrize(
    "note",
    [
        pytest.param(TEXT + SIG_LINE, id="missing blank line"),
        pytest.param(TEXT + "\n", id="no signatures"),
        pytest.param(SIGNED[:-1], id="no final newline"),
        pytest.param(SIGNED + "\n", id="trailing blank line"),
        pytest.param(SIGNED + "extra\n", id="garbage after signatures"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("\u2014", "-"), id="hyphen not em dash"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("\u2014 ", "\u2014"), id="no space after dash"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("n x08", "n  x08"), id="two spaces"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("M=\n", "M\n"), id="bad padding"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("M=\n", "N=\n"), id="non-canonical base64"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("x08", "x*8"), id="bad base64 alphabet"),
        pytest.param(TEXT + "\n" + SIG_LINE.replace("M=\n", "M= \n"), id="trailing space"),
        pytest.param(TEXT + "\n" + "\u2014 PeterNeumann AAAAAA==\n", id="signature too short"),
        pytest.param(TEXT + "\n" + "\u2014 PeterNeumann\n", id="no signature"),
        pytest.param(TEXT + "\n" + "\u2014  x08go/ZJ\n", id="empty name"),
        pytest.param(SIGNED.replace("If", "I\tf"), id="tab in text"),
        pytest.param(SIGNED.replace("\n", "\r\n"), id="CRLF"),
        pytest.param(SIGNED.replace("If", "I\x00f"), id="NUL in text"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(NoteError):
        parse_note(note)
    with pytest.raises(NoteError):
        open_note(note, [SIGNER.verifier])


def test_note_bytes_must_be_utf8() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        parse_note(SIGNED.encode("utf-8").replace(b"If", b"I\xff"))


def test_signature_count_limit() -> None:
    block = SIG_LINE * MAX_SIGNATURES
    assert len(parse_note(TEXT + "\n" + block).signatures) == MAX_SIGNATURES
    with pytest.raises(NoteError, match="more than"):
        parse_note(TEXT + "\n" + block + SIG_LINE)


def test_text_may_contain_blank_lines() -> None:
    text = "first\n\nsecond\n\n"
    assert open_note(sign_note(text, SIGNER), [SIGNER.verifier]).text == text


@pytest.mark.parametrize("text", ["", "no newline", "tab\there\n", "nul\x00\n", "\ud800\n"])
def test_sign_rejects_bad_text(text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, SIGNER)


def test_note_values() -> None:
    sig = NoteSignature("a", b"\x00" * 4, b"s")
    assert Note("t\n", (sig,)).signatures == (sig,)


# -- verifier keys -----------------------------------------------------------------------------

VKEY: str = VECTOR["vkey"]


@pytest.mark.parametrize(
    "vkey",
    [
        pytest.param("", id="empty"),
        pytest.param(VKEY.replace("PeterNeumann", ""), id="empty name"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter Neumann"), id="space in name"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter\u3000Neumann"), id="ideographic space"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter\x01Neumann"), id="control in name"),
        pytest.param("Peter+" + VKEY, id="plus in name"),
        pytest.param(VKEY.replace("c74f20a3", "c74f20a4"), id="wrong key id"),
        pytest.param(VKEY.replace("c74f20a3", "C74F20A3"), id="uppercase key id"),
        pytest.param(VKEY.replace("c74f20a3", "c74f20a"), id="short key id"),
        pytest.param(VKEY.replace("c74f20a3", "0xc74f20a3"), id="0x key id"),
        pytest.param(VKEY.replace("+ARpc", "+AhpC"), id="wrong algorithm byte"),
        pytest.param(VKEY[:-4], id="short key"),
        pytest.param(VKEY + "AAAA", id="long key"),
        pytest.param(VKEY.replace("W", "X"), id="non-canonical base64"),
        pytest.param(VKEY.replace("+ARpc", "+ARp*"), id="bad base64"),
        pytest.param(VKEY + "+extra", id="four parts"),
        pytest.param(VKEY.replace("+c74f20a3", ""), id="two parts"),
    ],
)
def test_bad_vkeys_are_rejected(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_vkey(vkey)


def test_wrong_algorithm_byte_with_matching_id_is_rejected() -> None:
    public_key = bytes.fromhex(VECTOR["public_key_hex"])
    encoded = base64.b64encode(b"\x02" + public_key).decode()
    with pytest.raises(NoteError, match="not an Ed25519 key"):
        parse_vkey(f"PeterNeumann+{key_id('PeterNeumann', public_key).hex()}+{encoded}")


def test_verifier_checks_its_fields() -> None:
    v = SIGNER.verifier
    with pytest.raises(NoteError):
        Verifier(v.name, b"\x00\x00\x00\x00", v.public_key)
    with pytest.raises(NoteError):
        Verifier(v.name, v.key_id, v.public_key[:31])
    with pytest.raises(NoteError):
        Verifier("a b", key_id("a b", v.public_key), v.public_key)


def test_signer_checks_name_and_seed() -> None:
    with pytest.raises(NoteError):
        Signer.from_seed("bad name", bytes(32))
    with pytest.raises(NoteError):
        Signer.from_seed("good", bytes(31))
    assert Signer.generate("fresh").name == "fresh"


def test_vkey_whose_base64_contains_plus() -> None:
    signer = Signer.from_seed("0", bytes([8]) * 32)
    assert signer.vkey.count("+") > 2
    assert parse_vkey(signer.vkey) == signer.verifier


# -- several signers (log key hand-over) -------------------------------------------------


def test_sign_note_multi_makes_one_line_per_signer() -> None:
    from ledger.note import sign_note_multi

    old = Signer.from_seed("log.example/e", bytes(range(32)))
    new = Signer.from_seed("log.example/e", bytes(range(1, 33)))
    text = "log.example/e\n5\n" + base64.b64encode(bytes(32)).decode() + "\n"
    note = sign_note_multi(text, [old, new])
    assert note.startswith(text + "\n") and note.count("\n— ") == 2
    assert sign_note_multi(text, [old]) == sign_note(text, old)
    for trusted in ([old.verifier], [new.verifier]):
        assert open_note(note, trusted).signatures[0].key_id == trusted[0].key_id
    assert len(open_note(note, [old.verifier, new.verifier]).signatures) == 2
    assert [s.key_id for s in parse_note(note).signatures] == [old.key_id, new.key_id]


def test_sign_note_multi_refuses_no_signer_and_a_repeated_signer() -> None:
    from ledger.note import sign_note_multi

    text = "log.example/e\n1\n" + base64.b64encode(bytes(32)).decode() + "\n"
    with pytest.raises(NoteError):
        sign_note_multi(text, [])
    with pytest.raises(NoteError):
        sign_note_multi(text, [OTHER, OTHER])
    with pytest.raises(NoteError):
        sign_note_multi("no newline", [OTHER])
