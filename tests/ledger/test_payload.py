"""Payload parsing (ledger/payload.py): every kind, every refusal, and leaf round trips."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import unicodedata
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.payloads import genesis_body
from ledger.canonical import b64encode
from ledger.entry import Entry, format_recorded_at, parse_leaf
from ledger.errors import InvalidAmount, InvalidInput, LedgerError, NotNFC, UnknownKind
from ledger.fields import MAX_AMOUNT
from ledger.payload import (
    AccountBody,
    BudgetBody,
    DocumentBody,
    GenesisBody,
    KeyBody,
    Payload,
    PolicyBody,
    Posting,
    ReversalBody,
    TransactionBody,
    author_key_id,
    parse_payload,
)
from ledger.policy import DEFAULT_POLICY
from ledger.signing import Signature

ESTATE = "qingliang-2"
PAYLOAD_ID = "0b6f5d0e-8f43-4c59-9d8a-3e1f7b2c4a10"
PK = bytes(range(32))
PK2 = bytes(range(32, 64))
SHA = hashlib.sha256(b"invoice").hexdigest()
SHA2 = hashlib.sha256(b"minutes").hexdigest()
BANK = "Assets:Bank:CoManaged"


def voucher(sha: str = SHA, **kw: Any) -> dict[str, Any]:
    return {"sha256": sha, "media_type": "application/pdf", "size": 48211, "name": "发票.pdf"} | kw


def posting(account: str, amount: Any) -> dict[str, Any]:
    return {"account": account, "amount": amount}


BODIES: dict[str, dict[str, Any]] = {
    "genesis": genesis_body(
        "青凉二村", "常州市 1 号", 640, [(PK, "operator", "平台"), (PK2, "committee", "业委会")]
    ),
    "key": {"action": "register", "public_key": b64encode(PK), "role": "trustee", "holder": "物业"},
    "account": {"action": "open", "name": BANK, "type": "asset", "display_name": "共管账户"},
    "transaction": {
        "postings": [posting(BANK, -150000), posting("Expenses:Elevator", 150000)],
        "counterparty": "常州某电梯公司",
        "category": "电梯维保",
    },
    "reversal": {"target": 17, "reason": "金额录入错误"},
    "budget": {"year": 2026, "lines": [posting("Expenses:Cleaning", 1200000)]},
    "document": {"title": "2026年业主大会决议", "doc_type": "minutes"},
    "policy": {"policy": DEFAULT_POLICY.to_json()},
}


def raw(kind: str = "transaction", **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "v": 1,
        "estate": ESTATE,
        "id": PAYLOAD_ID,
        "kind": kind,
        "date": "2026-11-02",
        "body": copy.deepcopy(BODIES[kind]),
        "vouchers": [voucher()],
        "memo": "10月电梯维保费",
    }
    value.update(overrides)
    return value


def rejects(value: Any, error: type[LedgerError], field: str | None = None) -> LedgerError:
    with pytest.raises(error) as e:
        parse_payload(value)
    assert type(e.value) is error, f"{type(e.value).__name__}: {e.value}"
    if field is not None:
        assert e.value.field == field, str(e.value)
    return e.value


# -- every kind parses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body_type"),
    [
        ("genesis", GenesisBody),
        ("key", KeyBody),
        ("account", AccountBody),
        ("transaction", TransactionBody),
        ("reversal", ReversalBody),
        ("budget", BudgetBody),
        ("document", DocumentBody),
        ("policy", PolicyBody),
    ],
)
def test_every_kind_parses(kind: str, body_type: type) -> None:
    value = raw(kind)
    p = parse_payload(value)
    assert isinstance(p.body, body_type)
    assert (p.estate, p.id, p.kind, p.date) == (ESTATE, PAYLOAD_ID, kind, dt.date(2026, 11, 2))
    assert p.memo == "10月电梯维保费"
    assert p.vouchers[0].sha256 == SHA and p.vouchers[0].size == 48211
    assert p.raw is value


def test_typed_bodies_hold_the_values() -> None:
    t = parse_payload(raw()).body
    assert isinstance(t, TransactionBody)
    assert t.postings == (Posting(BANK, -150000), Posting("Expenses:Elevator", 150000))
    assert t.bank_outflow and t.household is None
    g = parse_payload(raw("genesis")).body
    assert isinstance(g, GenesisBody)
    assert [(k.role, k.key_id) for k in g.keys] == [
        ("operator", author_key_id(PK)),
        ("committee", author_key_id(PK2)),
    ]
    assert g.policy == DEFAULT_POLICY and g.households == 640
    k = parse_payload(raw("key")).body
    assert isinstance(k, KeyBody) and k.key_id == author_key_id(PK) and k.action == "register"
    r = parse_payload(raw("reversal")).body
    assert isinstance(r, ReversalBody) and r.target == 17


def test_optional_fields() -> None:
    value = raw()
    del value["vouchers"], value["memo"]
    p = parse_payload(value)
    assert p.vouchers == () and p.memo == ""
    household = hashlib.sha256(b"salt" + b"3-2-501").digest()
    value["body"]["household"] = b64encode(household)
    body = parse_payload(value).body
    assert isinstance(body, TransactionBody) and body.household == household
    revoke = raw("key", body={"action": "revoke", "key_id": author_key_id(PK), "reason": "离职"})
    kb = parse_payload(revoke).body
    assert isinstance(kb, KeyBody) and kb.action == "revoke" and kb.key is None


def test_income_is_not_a_bank_outflow() -> None:
    body = {
        "postings": [posting(BANK, 5000), posting("Income:PropertyFee", -5000)],
        "counterparty": "业主",
        "category": "物业费",
    }
    t = parse_payload(raw(body=body)).body
    assert isinstance(t, TransactionBody) and not t.bank_outflow


def test_amount_bounds_are_inclusive() -> None:
    body = copy.deepcopy(BODIES["transaction"])
    body["postings"] = [posting(BANK, -MAX_AMOUNT), posting("Expenses:X", MAX_AMOUNT)]
    t = parse_payload(raw(body=body)).body
    assert isinstance(t, TransactionBody) and t.postings[1].amount == MAX_AMOUNT


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transfer", "Transaction", "genesis ", "entry"])
def test_unknown_kind(kind: str) -> None:
    err = rejects(raw() | {"kind": kind}, UnknownKind, "payload.kind")
    assert err.code == "unknown-kind"


@pytest.mark.parametrize("kind", ["", 7, None])
def test_kind_must_be_a_non_empty_string(kind: Any) -> None:
    rejects(raw() | {"kind": kind}, InvalidInput, "payload.kind")


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (lambda p: p.__setitem__("extra", 1), "payload.extra"),
        (lambda p: p["body"].__setitem__("note", "x"), "payload.body.note"),
        (
            lambda p: p["body"]["postings"][1].__setitem__("memo", "x"),
            "payload.body.postings[1].memo",
        ),
        (lambda p: p["vouchers"][0].__setitem__("url", "x"), "payload.vouchers[0].url"),
    ],
    ids=["top", "body", "posting", "voucher"],
)
def test_unknown_field_anywhere(where: Any, field: str) -> None:
    value = raw()
    where(value)
    err = rejects(value, InvalidInput, field)
    assert "unknown field" in str(err)


def test_unknown_field_in_genesis_key_and_policy() -> None:
    value = raw("genesis")
    value["body"]["keys"][0]["expires"] = "2027-01-01"
    rejects(value, InvalidInput, "payload.body.keys[0].expires")
    value = raw("genesis")
    value["body"]["policy"]["spend"]["none_of"] = ["auditor"]
    rejects(value, InvalidInput, "payload.body.policy.spend.none_of")
    value = raw("policy")
    value["body"]["policy"]["refund"] = {"any_of": ["trustee"]}
    rejects(value, InvalidInput, "payload.body.policy.refund")


@pytest.mark.parametrize("name", ["v", "estate", "id", "kind", "date", "body"])
def test_missing_top_level_field(name: str) -> None:
    value = raw()
    del value[name]
    err = rejects(value, InvalidInput, f"payload.{name}")
    assert "required field is missing" in str(err)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("transaction", ["counterparty"]),
        ("transaction", ["category"]),
        ("transaction", ["postings", 0, "amount"]),
        ("account", ["type"]),
        ("reversal", ["reason"]),
        ("budget", ["year"]),
        ("document", ["doc_type"]),
        ("genesis", ["keys", 1, "role"]),
    ],
)
def test_missing_body_field(kind: str, path: list[Any]) -> None:
    value = raw(kind)
    parent: Any = value["body"]
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    field = "payload.body" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
    rejects(value, InvalidInput, field)


def test_missing_policy_rule() -> None:
    value = raw("policy")
    del value["body"]["policy"]["spend"]
    rejects(value, InvalidInput, "payload.body.policy.spend")


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (1.5, InvalidInput),  # floats are refused by the strict string/number walk first
        (100.0, InvalidInput),
        ("100", InvalidAmount),
        ("1.5", InvalidAmount),
        (True, InvalidAmount),
        (False, InvalidAmount),
        (None, InvalidAmount),
        ([100], InvalidAmount),
        (MAX_AMOUNT + 1, InvalidAmount),
        (-MAX_AMOUNT - 1, InvalidAmount),
        (2**64, InvalidAmount),
    ],
)
def test_bad_amount(amount: Any, error: type[LedgerError]) -> None:
    value = raw()
    value["body"]["postings"][0]["amount"] = amount
    rejects(value, error, "payload.body.postings[0].amount")


def test_bad_budget_amounts() -> None:
    value = raw("budget")
    value["body"]["lines"][0]["amount"] = -1
    err = rejects(value, InvalidInput, "payload.body.lines")
    assert "not negative" in str(err)
    value["body"]["lines"][0]["amount"] = "1200000"
    rejects(value, InvalidAmount, "payload.body.lines[0].amount")
    value["body"]["lines"] = [posting("Expenses:Cleaning", 1), posting("Expenses:Cleaning", 2)]
    rejects(value, InvalidInput, "payload.body.lines")


@pytest.mark.parametrize(
    "name",
    [
        "assets:Bank",
        "Assets",
        "Assets:",
        "Assets:bank",
        "Assets::Bank",
        "Assets:Bank:",
        "Asset:Bank",
        "Revenue:Fees",
        "Assets:Bank CoManaged",
        "Assets:银行",
        "Assets:Bank_1",
        " Assets:Bank",
    ],
)
def test_bad_account_names(name: str) -> None:
    value = raw()
    value["body"]["postings"][1]["account"] = name
    rejects(value, InvalidInput, "payload.body.postings[1].account")
    value = raw("account")
    value["body"]["name"] = name
    rejects(value, InvalidInput, "payload.body.name")


@pytest.mark.parametrize(
    ("name", "type_"),
    [
        ("Assets:Bank:CoManaged", "income"),
        ("Income:Parking", "asset"),
        ("Expenses:Cleaning", "equity"),
        ("Equity:Opening", "liability"),
        ("Liabilities:Deposits", "expense"),
    ],
)
def test_account_type_must_match_root(name: str, type_: str) -> None:
    value = raw("account")
    value["body"].update(name=name, type=type_)
    rejects(value, InvalidInput, "payload.body.type")


def test_account_type_unknown() -> None:
    value = raw("account")
    value["body"]["type"] = "revenue"
    rejects(value, InvalidInput, "payload.body.type")


@pytest.mark.parametrize(
    "bad_id",
    [
        PAYLOAD_ID.upper(),
        PAYLOAD_ID.replace("-", ""),
        "{" + PAYLOAD_ID + "}",
        "urn:uuid:" + PAYLOAD_ID,
        PAYLOAD_ID[:-1],
        PAYLOAD_ID[:-1] + "g",
        "",
        17,
    ],
    ids=["upper", "no-dashes", "braces", "urn", "short", "non-hex", "empty", "int"],
)
def test_bad_uuid(bad_id: Any) -> None:
    rejects(raw(id=bad_id), InvalidInput, "payload.id")


def test_any_lowercase_uuid_is_accepted() -> None:
    ident = str(uuid.uuid4())
    assert parse_payload(raw(id=ident)).id == ident


@pytest.mark.parametrize(
    "date",
    [
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "2026-2-3",
        "26-02-03",
        "2026-02-03T00:00",
        "２０２６-01-01",
    ],
)
def test_bad_date(date: str) -> None:
    rejects(raw(date=date), InvalidInput, "payload.date")


def test_leap_day() -> None:
    assert parse_payload(raw(date="2028-02-29")).date == dt.date(2028, 2, 29)
    rejects(raw(date="2026-02-29"), InvalidInput, "payload.date")


@pytest.mark.parametrize(
    "estate", ["Qingliang-2", "-qingliang", "q", "qing_liang", "qing liang", "a" * 64, "清凉", ""]
)
def test_bad_estate_id(estate: str) -> None:
    rejects(raw(estate=estate), InvalidInput, "payload.estate")


def test_version_must_be_one() -> None:
    rejects(raw(v=2), InvalidInput, "payload.v")
    rejects(raw(v=True), InvalidInput, "payload.v")


def test_duplicate_vouchers() -> None:
    value = raw(vouchers=[voucher(), voucher(SHA2), voucher(name="另一个名字.pdf")])
    err = rejects(value, InvalidInput, "payload.vouchers")
    assert "listed twice" in str(err)


@pytest.mark.parametrize(
    "sha", [SHA.upper(), SHA[:-1], SHA + "0", "g" * 64, hashlib.sha256(b"x").digest().hex()[:32]]
)
def test_bad_sha256(sha: str) -> None:
    rejects(raw(vouchers=[voucher(sha)]), InvalidInput, "payload.vouchers[0].sha256")


def test_bad_voucher_fields() -> None:
    rejects(raw(vouchers=[voucher(size=-1)]), InvalidInput, "payload.vouchers[0].size")
    rejects(
        raw(vouchers=[voucher(media_type="PDF")]), InvalidInput, "payload.vouchers[0].media_type"
    )
    rejects(raw(vouchers=[voucher(name="")]), InvalidInput, "payload.vouchers[0].name")


def test_non_nfc_memo() -> None:
    err = rejects(raw(memo="cafe\u0301"), NotNFC, "payload.memo")
    assert err.code == "not-nfc"


def test_non_nfc_counterparty() -> None:
    value = raw()
    value["body"]["counterparty"] = "A\u030angström"
    rejects(value, NotNFC, "payload.body.counterparty")


def test_control_character_in_memo() -> None:
    from ledger.errors import InvalidText

    rejects(raw(memo="a\u001bb"), InvalidText, "payload.memo")


def test_genesis_key_listed_twice_and_currency() -> None:
    value = raw("genesis")
    value["body"]["keys"][1]["public_key"] = value["body"]["keys"][0]["public_key"]
    rejects(value, InvalidInput, "payload.body.keys")
    value = raw("genesis")
    value["body"]["currency"] = "USD"
    rejects(value, InvalidInput, "payload.body.currency")


def test_bad_public_key() -> None:
    value = raw("key")
    value["body"]["public_key"] = b64encode(PK[:31])
    rejects(value, InvalidInput, "payload.body.public_key")
    value["body"]["public_key"] = b64encode(PK)
    value["body"]["role"] = "owner"
    rejects(value, InvalidInput, "payload.body.role")


def test_transaction_needs_two_postings() -> None:
    value = raw()
    value["body"]["postings"] = value["body"]["postings"][:1]
    rejects(value, InvalidInput, "payload.body.postings")


def test_reversal_target_bounds() -> None:
    rejects(raw("reversal", body={"target": 0, "reason": "x"}), InvalidInput, "payload.body.target")
    rejects(
        raw("reversal", body={"target": -3, "reason": "x"}), InvalidInput, "payload.body.target"
    )


def test_payload_must_be_an_object() -> None:
    rejects([raw()], InvalidInput, "payload")
    rejects(raw(body=[]), InvalidInput, "payload.body")


# -- properties: leaf round trip and bit flips --------------------------------------------


def _nfc_text(max_size: int) -> st.SearchStrategy[str]:
    chars = st.characters(exclude_categories=("Cc", "Cs"))
    return (
        st.text(chars, min_size=1, max_size=max_size)
        .map(lambda s: unicodedata.normalize("NFC", s))
        .filter(lambda s: 1 <= len(s) <= max_size)
    )


_segment = st.from_regex(r"[A-Z0-9][A-Za-z0-9-]{0,12}", fullmatch=True)
_account = st.builds(
    lambda root, segs: ":".join([root, *segs]),
    st.sampled_from(["Assets", "Liabilities", "Equity", "Income", "Expenses"]),
    st.lists(_segment, min_size=1, max_size=3),
)
_amount = st.integers(-MAX_AMOUNT, MAX_AMOUNT)
_voucher = st.fixed_dictionaries(
    {
        "sha256": st.binary(min_size=32, max_size=32).map(bytes.hex),
        "media_type": st.sampled_from(["application/pdf", "image/jpeg", "text/csv"]),
        "size": st.integers(0, MAX_AMOUNT),
        "name": _nfc_text(40),
    }
)


@st.composite
def transaction_payloads(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "postings": draw(st.lists(st.builds(posting, _account, _amount), min_size=2, max_size=6)),
        "counterparty": draw(_nfc_text(60)),
        "category": draw(_nfc_text(20)),
    }
    if draw(st.booleans()):
        body["household"] = b64encode(draw(st.binary(min_size=32, max_size=32)))
    value: dict[str, Any] = {
        "v": 1,
        "estate": draw(st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}", fullmatch=True)),
        "id": str(uuid.UUID(bytes=draw(st.binary(min_size=16, max_size=16)), version=4)),
        "kind": "transaction",
        "date": draw(st.dates(dt.date(2000, 1, 1), dt.date(2199, 12, 31))).isoformat(),
        "body": body,
    }
    vouchers = draw(st.lists(_voucher, max_size=3, unique_by=lambda v: v["sha256"]))
    if vouchers:
        value["vouchers"] = vouchers
    if draw(st.booleans()):
        value["memo"] = draw(_nfc_text(80))
    return value


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    payload: Payload = parse_payload(draw(transaction_payloads()))
    seq = draw(st.integers(0, 2**40))
    prev = None if seq == 0 else draw(st.binary(min_size=32, max_size=32))
    when = draw(
        st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))
    )
    keys = draw(st.lists(st.binary(min_size=8, max_size=8).map(bytes.hex), max_size=3, unique=True))
    sigs = tuple(Signature(k, draw(st.binary(min_size=64, max_size=64))) for k in sorted(keys))
    return Entry(seq, prev, format_recorded_at(when), payload, sigs)


@settings(max_examples=150, deadline=None)
@given(entries())
def test_leaf_round_trip_is_lossless(entry: Entry) -> None:
    leaf = entry.leaf_bytes()
    parsed = parse_leaf(leaf)
    assert parsed.leaf_bytes() == leaf
    assert parsed.leaf_hash() == entry.leaf_hash()
    assert parsed.to_json() == entry.to_json()
    assert (parsed.seq, parsed.prev, parsed.recorded_at) == (
        entry.seq,
        entry.prev,
        entry.recorded_at,
    )
    assert parsed.signatures == entry.signatures
    assert parsed.payload.body == entry.payload.body
    assert parsed.payload.vouchers == entry.payload.vouchers


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(entries(), st.data())
def test_a_flipped_bit_never_parses_to_the_same_leaf(entry: Entry, data: st.DataObject) -> None:
    leaf = entry.leaf_bytes()
    pos = data.draw(st.integers(0, len(leaf) * 8 - 1), label="bit")
    flipped = bytearray(leaf)
    flipped[pos // 8] ^= 1 << (pos % 8)
    try:
        parsed = parse_leaf(bytes(flipped))
    except LedgerError:
        return  # refused: the only other acceptable outcome
    assert parsed.leaf_bytes() == bytes(flipped) != leaf
    assert parsed.leaf_hash() != entry.leaf_hash()
    assert parsed.to_json() != entry.to_json()


@pytest.mark.parametrize(
    "recorded_at",
    [
        "2026-11-03T08:15:60.123Z",
        "2026-13-03T08:15:02.123Z",
        "2026-02-30T08:15:02.123Z",
        "2026-11-03T24:15:02.123Z",
        "2026-11-03T08:15:02.123+00:00",
        "2026-11-03 08:15:02.123Z",
        "2026-11-03T08:15:02Z",
        "２０２６-11-03T08:15:02.123Z",
    ],
)
def test_parse_leaf_rejects_impossible_recorded_at(recorded_at: str) -> None:
    # A flipped bit can turn "59" into "79": that must be a refusal, not a ValueError.
    entry = Entry(0, None, recorded_at, parse_payload(raw()), ())
    with pytest.raises(InvalidInput) as e:
        parse_leaf(entry.leaf_bytes())
    assert (e.value.field or "").endswith("recorded_at")


def test_parse_leaf_rejects_non_canonical_encodings() -> None:
    entry = Entry(0, None, "2026-11-03T08:15:02.123Z", parse_payload(raw()), ())
    leaf = entry.leaf_bytes()
    assert parse_leaf(leaf) == entry
    for variant in (
        leaf + b"\n",
        b" " + leaf,
        leaf.replace(b'"seq":0', b'"seq": 0'),
        leaf.replace(b"\xe7\x94\xb5", b"\\u7535"),  # 电 escaped instead of raw UTF-8
    ):
        assert variant != leaf
        with pytest.raises(InvalidInput):
            parse_leaf(variant)
