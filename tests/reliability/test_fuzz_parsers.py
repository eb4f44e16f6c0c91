"""Fuzzing every parser: whatever the input, only the project's own error types escape.

The per-module property tests (``tests/ledger/test_*.py``) check round trips and
that specific malformations are refused; these feed each parser arbitrary input —
random bytes and text, random JSON values (deep, wide, huge integers), and valid
documents with one part replaced by something random — and check that it either
returns or raises the error type it documents: :class:`~ledger.errors.LedgerError`
for the core, :class:`~audits.bankcsv.StatementError` for bank CSV files, a
:class:`~api.problems.Problem` at the HTTP edge. Anything else (``ValueError``,
``IndexError``, ``KeyError``, ``RecursionError``, ``decimal.InvalidOperation`` …)
would reach a client as a 500 or stop a command with a stack trace.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.payloads import genesis_body, payload, sign
from api.problems import Problem
from audits.bankcsv import Mapping, StatementError, read_statement
from ledger.canonical import b64decode, parse_json
from ledger.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint, verify_checkpoint
from ledger.entry import parse_entry, parse_leaf
from ledger.errors import LedgerError
from ledger.household import check_unit_id, format_receipt_code, parse_receipt_code
from ledger.merkle import (
    MemoryHashStore,
    hash_leaf,
    prove_consistency,
    prove_inclusion,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from ledger.note import Signer, open_note, parse_note, parse_vkey
from ledger.payload import parse_payload
from ledger.signing import AuthorKey, parse_signatures
from ledger.statement import parse_period, sign_statement, verify_statement
from tests.factories import BANK, DAY

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)

# -- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["", "transaction", "genesis", BANK, "2026-10-15", "\u0000", "e\u0301"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
json_texts = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 12_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 12_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(1, 10_000).map(lambda n: b'{"amount": ' + b"9" * n + b"}"),
    st.integers(1, 10_000).map(lambda n: b"-" + b"1" * n),
)

KEY = AuthorKey(bytes(range(32)))
OTHER = AuthorKey(bytes(range(1, 33)))


def _valid_payload() -> dict[str, Any]:
    body = {
        "postings": [{"account": BANK, "amount": 1200}, {"account": "Income:Fee", "amount": -1200}],
        "counterparty": "业主",
        "category": "物业费",
        "household": base64.b64encode(b"\1" * 32).decode(),
    }
    return payload(
        "fuzz-estate",
        "transaction",
        body,
        date=DAY,
        memo="十月物业费",
        vouchers=[
            {
                "sha256": "ab" * 32,
                "media_type": "application/pdf",
                "size": 1000,
                "name": "发票.pdf",
            }
        ],
        id="0b6f5e1e-4a53-4c1e-9d2a-3b1f2f6a7c11",
    )


def _valid_genesis() -> dict[str, Any]:
    body = genesis_body(
        "小区",
        "地址",
        10,
        [(KEY.public_key, "operator", "平台"), (OTHER.public_key, "committee", "甲")],
    )
    return payload(
        "fuzz-estate", "genesis", body, date=DAY, id="0b6f5e1e-4a53-4c1e-9d2a-3b1f2f6a7c12"
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(doc)
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = new
    return doc


@st.composite
def mutated(draw: st.DrawFn, make: Callable[[], Any]) -> Any:
    """A valid document with one part replaced by a random value (or deleted)."""
    doc = make()
    path = draw(st.sampled_from(_paths(doc)))
    if path and draw(st.integers(0, 4)) == 0:
        doc = copy.deepcopy(doc)
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        del parent[path[-1]]
        return doc
    return _replace(doc, path, draw(json_values))


def only(errors: tuple[type[BaseException], ...], fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn``: it may return or raise one of ``errors``; anything else fails the test."""
    with contextlib.suppress(errors):
        fn(*args)


# -- JSON and payloads -----------------------------------------------------------------------


@FUZZ
@given(json_texts)
@example(b'{"a": ' + b"1" * 5000 + b"}")  # more digits than int() converts by default
def test_parse_json(data: bytes) -> None:
    only((LedgerError,), parse_json, data)


@FUZZ
@given(st.one_of(json_values, mutated(_valid_payload), mutated(_valid_genesis)))
def test_parse_payload(value: Any) -> None:
    only((LedgerError,), parse_payload, value)


@FUZZ
@given(
    st.one_of(
        json_values,
        mutated(
            lambda: {
                "payload": _valid_payload(),
                "signatures": [KEY.sign(_valid_payload()).to_json()],
            }
        ),
    )
)
def test_signed_body_of_a_post(value: Any) -> None:
    """``POST /entries`` and each batch item: the body the API reads with ``signed_from``."""
    from api.routes_write import signed_from

    only((LedgerError,), signed_from, value, "$")


@FUZZ
@given(st.one_of(json_values, mutated(lambda: [KEY.sign({"a": 1}).to_json()])))
def test_parse_signatures(value: Any) -> None:
    only((LedgerError,), parse_signatures, value)


def _valid_entry() -> dict[str, Any]:
    signed = sign(_valid_payload(), [KEY])
    return {
        "seq": 3,
        "prev": base64.b64encode(b"\2" * 32).decode(),
        "recorded_at": "2026-10-15T08:00:00.000Z",
        "payload": dict(signed.payload.raw),
        "signatures": [s.to_json() for s in signed.signatures],
    }


@FUZZ
@given(st.one_of(json_values, mutated(_valid_entry)))
def test_parse_entry(value: Any) -> None:
    only((LedgerError,), parse_entry, value)


@FUZZ
@given(st.one_of(json_texts, mutated(_valid_entry).map(lambda v: json.dumps(v).encode())))
def test_parse_leaf(data: bytes) -> None:
    only((LedgerError,), parse_leaf, data)


@FUZZ
@given(st.one_of(st.text(max_size=80), st.from_regex(r"[A-Za-z0-9+/=]{0,60}", fullmatch=True)))
def test_b64decode(text: str) -> None:
    only((LedgerError,), lambda t: b64decode(t, "field", length=32), text)


# -- checkpoints, notes, proofs --------------------------------------------------------------

ORIGIN = "trustledger.example/estates/fuzz"
LOG = Signer.from_seed(ORIGIN, bytes(range(32)))
NOTE = sign_checkpoint(Checkpoint(ORIGIN, 42, b"\3" * 32), LOG)


@st.composite
def note_texts(draw: st.DrawFn) -> str:
    """A real signed checkpoint with characters changed, inserted or cut; or any text."""
    if draw(st.booleans()):
        return draw(st.text(max_size=300))
    text = NOTE
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = draw(st.sampled_from(["\n", " ", "—", "0", "A", "+", "/", "=", "\x00", "é"]))
        if how == "insert":
            text = text[:at] + ch + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + ch + text[at + 1 :]
    return text


@FUZZ
@given(note_texts())
def test_checkpoint_and_note_parsers(text: str) -> None:
    only((LedgerError,), parse_checkpoint, text)
    only((LedgerError,), parse_note, text)
    only((LedgerError,), parse_note, text.encode("utf-8", "surrogatepass"))
    only((LedgerError,), open_note, text, [LOG.verifier])
    only((LedgerError,), verify_checkpoint, text, LOG.vkey)
    only((LedgerError,), verify_checkpoint, text, LOG.vkey, ORIGIN)


@FUZZ
@given(st.one_of(st.text(max_size=200), note_texts().map(lambda _: LOG.vkey[:-3] + "AAA")))
def test_parse_vkey(text: str) -> None:
    only((LedgerError,), parse_vkey, text)


STORE = MemoryHashStore.from_leaves([bytes([i]) for i in range(37)])
hashes = st.binary(min_size=0, max_size=40)
sizes = st.one_of(st.integers(-5, 80), st.integers(-(2**70), 2**70))


@FUZZ
@given(hashes, sizes, sizes, st.lists(hashes, max_size=12), hashes)
def test_verify_inclusion_with_random_input(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    only((LedgerError,), verify_inclusion, leaf, index, size, proof, root)


@FUZZ
@given(sizes, sizes, hashes, hashes, st.lists(hashes, max_size=12))
def test_verify_consistency_with_random_input(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    only((LedgerError,), verify_consistency, old, new, old_root, new_root, proof)


@FUZZ
@given(st.integers(0, 36), st.integers(1, 37), st.data())
def test_real_proofs_with_one_hash_changed(index: int, size: int, data: st.DataObject) -> None:
    """Real proofs from a real tree, one hash or parameter altered: a ProofError, never else."""
    index = min(index, size - 1)
    root = tree_root(size, STORE)
    proof = prove_inclusion(index, size, STORE)
    if proof:
        proof[data.draw(st.integers(0, len(proof) - 1))] = data.draw(hashes)
    leaf = data.draw(st.one_of(st.just(hash_leaf(bytes([index]))), hashes))
    only((LedgerError,), verify_inclusion, leaf, index, size, proof, root)
    old = data.draw(st.integers(1, size))
    cproof = prove_consistency(old, size, STORE)
    if cproof:
        cproof[data.draw(st.integers(0, len(cproof) - 1))] = data.draw(hashes)
    old_root = data.draw(st.one_of(st.just(tree_root(old, STORE)), hashes))
    only((LedgerError,), verify_consistency, old, size, old_root, root, cproof)


# -- receipt codes, periods, statements ------------------------------------------------------


@FUZZ
@given(
    st.one_of(
        st.text(max_size=120),
        st.from_regex(r"[0-9]{1,30}-[a-z2-7]{20,30}-.{0,80}", fullmatch=True),
        st.builds(
            lambda seq, salt, unit: (
                f"{seq}-{base64.b32encode(salt).decode().rstrip('=').lower()}-{unit}"
            ),
            st.integers(-(2**60), 2**60),
            st.binary(min_size=0, max_size=20),
            st.text(max_size=70),
        ),
    )
)
def test_parse_receipt_code(code: str) -> None:
    only((LedgerError,), parse_receipt_code, code)


@FUZZ
@given(st.integers(-(2**60), 2**60), st.binary(max_size=20), st.text(max_size=70))
def test_format_receipt_code_and_unit_ids(seq: int, salt: bytes, unit: str) -> None:
    only((LedgerError,), check_unit_id, unit)
    only((LedgerError,), format_receipt_code, seq, salt, unit)


@FUZZ
@given(
    st.one_of(st.text(max_size=30), st.from_regex(r"[0-9]{1,6}(-Q?[0-9]{1,3})?", fullmatch=True))
)
def test_parse_period(text: str) -> None:
    only((LedgerError,), parse_period, text)


def _valid_statement() -> dict[str, Any]:
    statement = {
        "version": 1,
        "estate": {"id": "fuzz-estate", "name": "小区"},
        "period": {"id": "2026-10", "start": "2026-10-01", "end": "2026-10-31"},
        "checkpoint": {"size": 42, "root": base64.b64encode(b"\3" * 32).decode()},
        "figures": [1, 2, 3],
    }
    return sign_statement(statement, LOG)


@FUZZ
@given(st.one_of(json_values, mutated(_valid_statement)))
def test_verify_statement(value: Any) -> None:
    only((LedgerError,), verify_statement, value)
    only((LedgerError,), verify_statement, value, [LOG.vkey])


# -- bank CSV --------------------------------------------------------------------------------

CSV_HEADER = "交易日期,交易金额,对方户名,摘要,余额\n"
cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["2026-10-15", "2026/10/15", "20261015", "2026年10月15日", "2026-13-40", "9999-99-99"]
    ),
    st.sampled_from(
        ["1,234.56", "-12.3", "￥88", "(5.00)", "1.234", "NaN", "sNaN", "Infinity", "1e999999999"]
    ),
    st.sampled_from(["", "-", "合计", "1e-999999999", "٢٠٢٦-١٠-١٥"]),
)
csv_rows = st.lists(st.lists(cells, min_size=0, max_size=7), max_size=6)


def _csv(header: str, rows: list[list[str]]) -> bytes:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return (header + out.getvalue()).encode("utf-8")


def only_bank(data: bytes, mapping: Mapping | None = None) -> None:
    """Like :func:`only`, for :func:`read_statement`: only StatementError escapes."""
    with contextlib.suppress(StatementError):
        read_statement(data, mapping)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        csv_rows.map(lambda rows: _csv(CSV_HEADER, rows)),
        csv_rows.map(lambda rows: _csv("日期,收入,支出\n", rows)),
        csv_rows.map(lambda rows: _csv("", rows)).map(lambda b: b.decode().encode("gb18030")),
    )
)
def test_read_bank_statement(data: bytes) -> None:
    only_bank(data)


@FUZZ
@given(
    st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
    csv_rows,
)
def test_bank_mapping(data: bytes, rows: list[list[str]]) -> None:
    try:
        mapping = Mapping.from_json(data)
    except StatementError:
        return
    only_bank(_csv(CSV_HEADER, rows), mapping)


@pytest.mark.parametrize(
    "data",
    [
        "交易日期,交易金额\n2026-10-15\n",  # the row has no amount cell
        "交易日期,交易金额\n2026-10-15,sNaN\n",
        "交易日期,交易金额\n2026-10-15,1e999999999\n",
    ],
)
def test_bank_statement_rows_that_once_escaped(data: str) -> None:
    """A short row, sNaN and 1e999999999 once escaped as IndexError/InvalidOperation."""
    with pytest.raises(StatementError):
        read_statement(data.encode("utf-8"))


def test_a_row_without_its_trailing_empty_cells_reads_as_empty() -> None:
    lines = read_statement("日期,收入,支出\n2026-10-15,1\n".encode())
    assert [line.amount for line in lines] == [100]  # the money-out cell is simply empty


# -- the HTTP edge's own little parsers ------------------------------------------------------


@FUZZ
@given(st.text(max_size=40))
def test_query_cursor_and_dates(text: str) -> None:
    from api.routes_query import decode_cursor, parse_date

    only((LedgerError, Problem), decode_cursor, text)
    only((LedgerError, Problem), parse_date, text, "from")


@FUZZ
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(
            st.sampled_from(["x000", "x123", "000", "1", "entries", ".p", "255"]), max_size=8
        ).map("/".join),
        st.integers(4000, 6000).map(lambda n: "1" * n + "/000"),
        st.integers(1500, 2000).map(lambda n: "0/" + "x000/" * n + "000"),
    )
)
def test_tile_paths(path: str) -> None:
    from api.routes_tiles import parse_tile_path

    only((Problem,), parse_tile_path, path)


@pytest.mark.parametrize("n", [5000])
def test_huge_integer_in_a_post_body_is_a_ledger_error(n: int) -> None:
    """The case the fuzzer above finds first, spelled out (a 500 over HTTP otherwise)."""
    with pytest.raises(LedgerError):
        parse_json(b'{"payload": {"v": ' + b"1" * n + b'}, "signatures": []}')
