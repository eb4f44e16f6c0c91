"""Tests of ledger.checkpoint: format/parse round trip, strict parsing, signing and verifying."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    format_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from ledger.errors import InvalidInput, NoteError
from ledger.merkle import EMPTY_ROOT
from ledger.note import Signer, sign_note

ORIGIN = "trustledger.example/estates/qingliang-2"
LOG_KEY = Signer.from_seed(ORIGIN, hashlib.sha256(b"test log key").digest())
ROOT = hashlib.sha256(b"root").digest()
CP = Checkpoint(ORIGIN, 1234, ROOT)
ROOT_B64 = base64.b64encode(ROOT).decode()

# The example in the C2SP tlog-checkpoint spec.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_spec_example() -> None:
    cp = parse_checkpoint(SPEC_TEXT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert format_checkpoint(cp) == SPEC_TEXT


def test_format() -> None:
    assert format_checkpoint(CP) == f"{ORIGIN}\n1234\n{ROOT_B64}\n"
    with_ext = Checkpoint(ORIGIN, 0, EMPTY_ROOT, ("ext one", "ext two"))
    assert format_checkpoint(with_ext) == (
        f"{ORIGIN}\n0\n{base64.b64encode(EMPTY_ROOT).decode()}\next one\next two\n"
    )


# -- round trip --------------------------------------------------------------------------------

line_text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=50)
checkpoints = st.builds(
    Checkpoint,
    origin=line_text,
    size=st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=3).map(tuple),
)


@given(checkpoints)
def test_format_parse_format_is_lossless(cp: Checkpoint) -> None:
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    assert format_checkpoint(parse_checkpoint(text)) == text


key_names = st.text(
    st.characters(blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], blacklist_characters="+"),
    min_size=1,
    max_size=40,
).filter(lambda s: not any(c.isspace() for c in s))


@given(
    key_names,
    st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    st.binary(min_size=32, max_size=32),
)
def test_sign_verify_round_trip(origin: str, size: int, root: bytes) -> None:
    signer = Signer.from_seed(origin, hashlib.sha256(origin.encode()).digest())
    cp = Checkpoint(origin, size, root)
    note = sign_checkpoint(cp, signer)
    assert verify_checkpoint(note, signer.verifier) == cp
    assert verify_checkpoint(note, signer.vkey, origin=origin) == cp


# -- strict parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size_line",
    [
        "",
        "01",
        "00",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1_000",
        "1.0",
        "1e3",
        "0x10",
        "\u0661",
        "１",
        str(MAX_TREE_SIZE + 1),
        "9" * 21,
    ],
)
def test_non_canonical_sizes_are_rejected(size_line: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(f"{ORIGIN}\n{size_line}\n{ROOT_B64}\n")


def test_largest_size_is_accepted() -> None:
    assert parse_checkpoint(f"{ORIGIN}\n{MAX_TREE_SIZE}\n{ROOT_B64}\n").size == MAX_TREE_SIZE


@pytest.mark.parametrize(
    "root_line",
    [
        pytest.param("", id="empty"),
        pytest.param(ROOT_B64[:-1], id="no padding"),
        pytest.param(ROOT_B64.replace("=", "A"), id="padding replaced"),
        pytest.param(base64.b64encode(ROOT[:31]).decode(), id="31 bytes"),
        pytest.param(base64.b64encode(ROOT + b"\x00").decode(), id="33 bytes"),
        pytest.param(base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), id="url-safe alphabet"),
        pytest.param(ROOT_B64[:42] + "B=", id="non-canonical trailing bits"),
        pytest.param(ROOT_B64[:20] + "*" + ROOT_B64[21:], id="bad character"),
        pytest.param(" " + ROOT_B64[1:], id="space"),
        pytest.param(ROOT.hex(), id="hex"),
    ],
)
def test_bad_roots_are_rejected(root_line: str) -> None:
    assert root_line != ROOT_B64
    with pytest.raises(NoteError):
        parse_checkpoint(f"{ORIGIN}\n1\n{root_line}\n")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(f"{ORIGIN}\n1\n{ROOT_B64}", id="no final newline"),
        pytest.param(f"{ORIGIN}\n1\n", id="no root"),
        pytest.param(f"\n1\n{ROOT_B64}\n", id="empty origin"),
        pytest.param(f"{ORIGIN}\n1\n{ROOT_B64}\n\n", id="empty extension line"),
        pytest.param(f"{ORIGIN}\n1\n{ROOT_B64}\next\n\n", id="trailing blank line"),
        pytest.param(f"{ORIGIN}\r\n1\n{ROOT_B64}\n", id="CR in origin"),
        pytest.param(f"{ORIGIN}\n1\n{ROOT_B64}\nex\tt\n", id="tab in extension"),
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": MAX_TREE_SIZE + 1},
        {"size": True},
        {"root": ROOT[:31]},
        {"root": ROOT_B64},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
    ],
)
def test_checkpoint_values_are_checked(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(InvalidInput):
        Checkpoint(**fields)  # type: ignore[arg-type]


# -- signing and verifying -----------------------------------------------------------------------


def test_sign_and_verify() -> None:
    note = sign_checkpoint(CP, LOG_KEY)
    assert note.startswith(format_checkpoint(CP) + "\n\u2014 " + ORIGIN + " ")
    assert verify_checkpoint(note, LOG_KEY.verifier) == CP
    assert verify_checkpoint(note, LOG_KEY.vkey) == CP
    assert verify_checkpoint(note.encode(), LOG_KEY.vkey, origin=ORIGIN) == CP


def test_signer_must_be_named_after_the_origin() -> None:
    other = Signer.from_seed("someone.example/else", bytes(32))
    with pytest.raises(InvalidInput):
        sign_checkpoint(CP, other)


def test_key_name_must_equal_origin() -> None:
    other = Signer.from_seed("someone.example/else", bytes(32))
    note = sign_note(format_checkpoint(CP), other)
    with pytest.raises(NoteError, match="origin"):
        verify_checkpoint(note, other.verifier)


def test_expected_origin_is_checked() -> None:
    note = sign_checkpoint(CP, LOG_KEY)
    with pytest.raises(NoteError, match="origin"):
        verify_checkpoint(note, LOG_KEY.verifier, origin="trustledger.example/estates/other")


def test_wrong_key_fails() -> None:
    impostor = Signer.from_seed(ORIGIN, bytes(32))
    note = sign_checkpoint(CP, LOG_KEY)
    with pytest.raises(NoteError):
        verify_checkpoint(note, impostor.verifier)
    with pytest.raises(NoteError):
        verify_checkpoint(sign_checkpoint(CP, impostor), LOG_KEY.vkey)


@pytest.mark.parametrize(
    ("old", "new"),
    [("\n1234\n", "\n1235\n"), (ROOT_B64, base64.b64encode(EMPTY_ROOT).decode())],
)
def test_tampered_checkpoint_fails(old: str, new: str) -> None:
    note = sign_checkpoint(CP, LOG_KEY)
    with pytest.raises(NoteError, match="does not verify"):
        verify_checkpoint(note.replace(old, new), LOG_KEY.verifier)


def test_signed_text_that_is_not_a_checkpoint_fails() -> None:
    note = sign_note(f"{ORIGIN}\nnot a size\n", LOG_KEY)
    with pytest.raises(NoteError):
        verify_checkpoint(note, LOG_KEY.verifier)


def test_bad_vkey_fails() -> None:
    with pytest.raises(NoteError):
        verify_checkpoint(sign_checkpoint(CP, LOG_KEY), LOG_KEY.vkey + "x")


def test_cosigned_checkpoint_verifies_with_the_log_key() -> None:
    witness = Signer.from_seed("witness.example/w1", bytes(32))
    note = sign_checkpoint(CP, LOG_KEY)
    cosig = sign_note(format_checkpoint(CP), witness).split("\n\n")[-1]
    assert verify_checkpoint(note + cosig, LOG_KEY.verifier) == CP
