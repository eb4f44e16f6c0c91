"""Payloads: what authors write and sign, with a typed, validated body per kind.

``parse_payload`` reads a decoded JSON object strictly (unknown fields refused,
strings checked for NFC and control characters, amounts integer fen) and returns
a :class:`Payload` that keeps the exact object the authors signed (``raw``) beside
its typed view. The signing bytes are ``PAYLOAD_DOMAIN + JCS(raw)``.

Pure: no I/O. Whether a payload fits the log (keys, accounts, policy) is decided by
:mod:`ledger.validate`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ledger.canonical import b64decode, check_strings, encode_plain
from ledger.errors import InvalidInput, UnknownKind
from ledger.fields import MAX_AMOUNT, Obj, read_date
from ledger.policy import ROLES, Policy, Role, parse_policy

PAYLOAD_VERSION = 1
KINDS = (
    "genesis",
    "key",
    "account",
    "transaction",
    "reversal",
    "budget",
    "document",
    "policy",
    "redaction",
)
ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
ACCOUNT_ROOTS: Mapping[str, str] = {
    "Assets": "asset",
    "Liabilities": "liability",
    "Equity": "equity",
    "Income": "income",
    "Expenses": "expense",
}
BANK_PREFIX = "Assets:Bank"
TRUST_ACCOUNT = "Assets:Bank:CoManaged"
"""The co-managed trust account (共管账户) whose running balance queries show."""
DOC_TYPES = ("contract", "minutes", "audit_report", "notice", "other")
MAX_POSTINGS = 200
MAX_VOUCHERS = 50

ESTATE_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
ACCOUNT_NAME = re.compile(r"(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MEDIA_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]+")
PAYLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A lowercase hyphenated UUID: exactly the strings ``str(uuid.UUID(s)) == s`` holds for."""


def is_bank_account(name: str) -> bool:
    """``Assets:Bank`` or an account below it (not merely a name that starts alike)."""
    return name == BANK_PREFIX or name.startswith(BANK_PREFIX + ":")


def author_key_id(public_key: bytes) -> str:
    """An author key's id: the first 16 hex digits of SHA-256 of its raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Voucher:
    sha256: str
    media_type: str
    size: int
    name: str


@dataclass(frozen=True)
class Posting:
    account: str
    amount: int  # fen: positive debits, negative credits (Beancount's sign convention)


@dataclass(frozen=True)
class KeySpec:
    public_key: bytes
    role: Role
    holder: str

    @property
    def key_id(self) -> str:
        return author_key_id(self.public_key)


@dataclass(frozen=True)
class GenesisBody:
    name: str
    address: str
    currency: str
    households: int
    keys: tuple[KeySpec, ...]
    policy: Policy


@dataclass(frozen=True)
class KeyBody:
    action: str  # "register" | "revoke"
    key: KeySpec | None  # register
    key_id: str  # the key registered or revoked
    reason: str


@dataclass(frozen=True)
class AccountBody:
    action: str  # "open" | "close"
    name: str
    type: str
    display_name: str


@dataclass(frozen=True)
class TransactionBody:
    postings: tuple[Posting, ...]
    counterparty: str
    category: str
    household: bytes | None  # SHA-256(salt || unit_id)

    @property
    def bank_outflow(self) -> bool:
        """True when money leaves a trust bank account (the co-signed case)."""
        return any(p.amount < 0 and is_bank_account(p.account) for p in self.postings)


@dataclass(frozen=True)
class ReversalBody:
    target: int
    reason: str


@dataclass(frozen=True)
class BudgetBody:
    year: int
    lines: tuple[Posting, ...]


@dataclass(frozen=True)
class DocumentBody:
    title: str
    doc_type: str


@dataclass(frozen=True)
class PolicyBody:
    policy: Policy


@dataclass(frozen=True)
class RedactionBody:
    """Withdraws the bytes of a voucher an earlier entry referenced; the entry stays."""

    sha256: str  # lowercase hex, as in the earlier entry's ``vouchers``
    reason: str


Body = (
    GenesisBody
    | KeyBody
    | AccountBody
    | TransactionBody
    | ReversalBody
    | BudgetBody
    | DocumentBody
    | PolicyBody
    | RedactionBody
)


@dataclass(frozen=True)
class Payload:
    raw: Mapping[str, Any]  # exactly the object the authors signed
    estate: str
    id: str
    kind: str
    date: dt.date
    body: Body
    vouchers: tuple[Voucher, ...]
    memo: str
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """``canonical_json(raw)`` when the reader already had it (a leaf holds it verbatim)."""

    def canonical(self) -> bytes:
        """The RFC 8785 bytes of ``raw`` (what the signatures cover, after the domain)."""
        data = self._canonical
        if data is None:  # ``raw`` is not changed after parsing: encode it once
            # Every payload is made by parse_payload, whose readers name-check every
            # member and range-check every integer (±2^53 at most): the standard
            # library's encoder writes its JCS bytes (ledger.canonical._plain).
            data = encode_plain(self.raw)
            object.__setattr__(self, "_canonical", data)
        return data

    def with_canonical(self, data: bytes) -> Payload:
        """Remember ``data`` as :meth:`canonical`; the caller vouches it is
        ``canonical_json(self.raw)`` (e.g. the slice of a leaf that re-encodes exactly)."""
        object.__setattr__(self, "_canonical", data)
        return self


def _key_spec(value: Any, path: str) -> KeySpec:
    o = Obj(value, path, {"public_key", "role", "holder"}, set())
    return KeySpec(
        public_key=b64decode(o.raw("public_key"), o.at("public_key"), length=32),
        role=cast(Role, o.choice("role", ROLES)),
        holder=o.str("holder", max_len=100),
    )


def _postings(o: Obj, name: str, *, min_len: int) -> tuple[Posting, ...]:
    out = []
    for i, item in enumerate(o.list(name, min_len=min_len, max_len=MAX_POSTINGS)):
        p = Obj(item, f"{o.at(name)}[{i}]", {"account", "amount"}, set())
        out.append(Posting(p.match("account", ACCOUNT_NAME, "account name"), p.amount("amount")))
    return tuple(out)


def _genesis(o: Obj) -> GenesisBody:
    keys = tuple(
        _key_spec(k, f"{o.at('keys')}[{i}]")
        for i, k in enumerate(o.list("keys", min_len=1, max_len=100))
    )
    if len({k.key_id for k in keys}) != len(keys):
        raise InvalidInput(f"{o.at('keys')}: a key is listed twice", field=o.at("keys"))
    currency = o.str("currency", max_len=3)
    if currency != "CNY":
        raise InvalidInput(f"{o.at('currency')}: only CNY is supported", field=o.at("currency"))
    return GenesisBody(
        name=o.str("name", max_len=100),
        address=o.str("address", max_len=200),
        currency=currency,
        households=o.int("households", lo=0, hi=1_000_000),
        keys=keys,
        policy=parse_policy(o.raw("policy"), o.at("policy")),
    )


def _key(o: Obj) -> KeyBody:
    action = o.choice("action", ("register", "revoke"))
    if action == "register":
        spec = _key_spec(
            {k: o.raw(k) for k in ("public_key", "role", "holder") if o.has(k)}, o.path
        )
        if o.has("key_id"):
            raise InvalidInput(f"{o.at('key_id')}: not used when registering", field=o.at("key_id"))
        return KeyBody("register", spec, spec.key_id, o.str("reason", default="", min_len=0))
    for name in ("public_key", "role", "holder"):
        if o.has(name):
            raise InvalidInput(f"{o.at(name)}: not used when revoking", field=o.at(name))
    key_id = o.match("key_id", re.compile(r"[0-9a-f]{16}"), "key id")
    return KeyBody("revoke", None, key_id, o.str("reason", max_len=500))


def _account(o: Obj) -> AccountBody:
    name = o.match("name", ACCOUNT_NAME, "account name")
    type_ = o.choice("type", ACCOUNT_TYPES)
    if ACCOUNT_ROOTS[name.split(":", 1)[0]] != type_:
        raise InvalidInput(f"{o.at('type')}: {name} is not of type {type_}", field=o.at("type"))
    return AccountBody(
        o.choice("action", ("open", "close")), name, type_, o.str("display_name", max_len=100)
    )


def _transaction(o: Obj) -> TransactionBody:
    household = None
    if o.has("household"):
        household = b64decode(o.raw("household"), o.at("household"), length=32)
    return TransactionBody(
        postings=_postings(o, "postings", min_len=2),
        counterparty=o.str("counterparty", max_len=200),
        category=o.str("category", max_len=64),
        household=household,
    )


def _reversal(o: Obj) -> ReversalBody:
    return ReversalBody(o.int("target", lo=1, hi=2**53 - 1), o.str("reason", max_len=500))


def _budget(o: Obj) -> BudgetBody:
    lines = _postings(o, "lines", min_len=1)
    if any(line.amount < 0 for line in lines):
        raise InvalidInput(f"{o.at('lines')}: budget amounts are not negative", field=o.at("lines"))
    if len({line.account for line in lines}) != len(lines):
        raise InvalidInput(f"{o.at('lines')}: an account is budgeted twice", field=o.at("lines"))
    return BudgetBody(o.int("year", lo=2000, hi=2200), lines)


def _document(o: Obj) -> DocumentBody:
    return DocumentBody(o.str("title", max_len=200), o.choice("doc_type", DOC_TYPES))


def _policy(o: Obj) -> PolicyBody:
    return PolicyBody(parse_policy(o.raw("policy"), o.at("policy")))


def _redaction(o: Obj) -> RedactionBody:
    return RedactionBody(
        o.match("sha256", SHA256_HEX, "lowercase hex SHA-256"), o.str("reason", max_len=500)
    )


_BODIES: Mapping[str, tuple[set[str], set[str], Any]] = {
    "genesis": ({"name", "address", "currency", "households", "keys", "policy"}, set(), _genesis),
    "key": ({"action"}, {"public_key", "role", "holder", "key_id", "reason"}, _key),
    "account": ({"action", "name", "type", "display_name"}, set(), _account),
    "transaction": ({"postings", "counterparty", "category"}, {"household"}, _transaction),
    "reversal": ({"target", "reason"}, set(), _reversal),
    "budget": ({"year", "lines"}, set(), _budget),
    "document": ({"title", "doc_type"}, set(), _document),
    "policy": ({"policy"}, set(), _policy),
    "redaction": ({"sha256", "reason"}, set(), _redaction),
}


def _vouchers(o: Obj) -> tuple[Voucher, ...]:
    out = []
    for i, item in enumerate(o.list("vouchers", max_len=MAX_VOUCHERS)):
        v = Obj(item, f"{o.at('vouchers')}[{i}]", {"sha256", "media_type", "size", "name"}, set())
        out.append(
            Voucher(
                sha256=v.match("sha256", SHA256_HEX, "lowercase hex SHA-256"),
                media_type=v.match("media_type", MEDIA_TYPE, "media type"),
                size=v.int("size", lo=0, hi=MAX_AMOUNT),
                name=v.str("name", max_len=200),
            )
        )
    if len({v.sha256 for v in out}) != len(out):
        raise InvalidInput(f"{o.at('vouchers')}: a voucher is listed twice", field=o.at("vouchers"))
    return tuple(out)


def parse_payload(value: Any, *, strings_checked: bool = False) -> Payload:
    """Strictly read a payload object (see ``docs/entries.md`` for every kind).

    ``strings_checked``: the caller already ran :func:`ledger.canonical.check_strings`
    over ``value`` (e.g. over the whole entry it came in), so it is not run twice.
    """
    if not strings_checked:
        check_strings(value, "payload")
    fast = _read_usual(value)
    if fast is not None:
        return fast
    o = Obj(value, "payload", {"v", "estate", "id", "kind", "date", "body"}, {"vouchers", "memo"})
    o.int("v", lo=PAYLOAD_VERSION, hi=PAYLOAD_VERSION)
    kind = o.str("kind", max_len=32)
    if kind not in _BODIES:
        raise UnknownKind(f"payload.kind: unknown kind {kind!r}", field="payload.kind")
    payload_id = o.str("id", max_len=36)
    if not PAYLOAD_ID.fullmatch(payload_id):
        raise InvalidInput("payload.id: expected a lowercase UUID", field="payload.id")
    required, optional, read = _BODIES[kind]
    body = read(Obj(o.raw("body"), "payload.body", required, optional))
    return Payload(
        raw=value,
        estate=o.match("estate", ESTATE_ID, "estate id"),
        id=payload_id,
        kind=kind,
        date=o.date("date"),
        body=body,
        vouchers=_vouchers(o),
        memo=o.str("memo", default="", min_len=0, max_len=500) if o.has("memo") else "",
    )


# -- the usual payloads, read without Obj ---------------------------------------------------

_PAYLOAD_REQUIRED = frozenset({"v", "estate", "id", "kind", "date", "body"})
_PAYLOAD_FIELDS = _PAYLOAD_REQUIRED | {"vouchers", "memo"}
_TXN_REQUIRED = frozenset({"postings", "counterparty", "category"})
_TXN_FIELDS = _TXN_REQUIRED | {"household"}
_POSTING_FIELDS = frozenset({"account", "amount"})
_VOUCHER_FIELDS = frozenset({"sha256", "media_type", "size", "name"})


def _text(value: Any, hi: int, lo: int = 1) -> bool:
    """What ``Obj.str`` checks of a string whose text was already checked: type, length."""
    return type(value) is str and lo <= len(value) <= hi


def _read_usual(value: Any) -> Payload | None:
    """:func:`parse_payload` (strings already checked) of a well-formed payload, read
    field by field without building :class:`~ledger.fields.Obj` readers and error
    paths; None at the first thing it does not accept, and the strict reader then
    says exactly what is wrong. Every check the strict reader makes is made here
    (the tests compare both readers on mutated payloads); transaction bodies are
    read here, every other kind's body by its strict reader.
    """
    try:
        return _usual(value)
    except Exception:  # whatever it is, the strict reader says it exactly
        return None


def _usual(value: Any) -> Payload | None:
    if type(value) is not dict or not _PAYLOAD_REQUIRED <= value.keys() <= _PAYLOAD_FIELDS:
        return None
    v, kind, payload_id = value["v"], value["kind"], value["id"]
    # A kind in _BODIES is 1..32 characters, an id PAYLOAD_ID matches is 36, an estate
    # ESTATE_ID matches at most 63 (Obj.str's length limits hold for them).
    if type(v) is not int or v != PAYLOAD_VERSION or type(kind) is not str:
        return None
    if kind not in _BODIES or type(payload_id) is not str or not PAYLOAD_ID.fullmatch(payload_id):
        return None
    raw_body = value["body"]
    body: Body | None
    if kind == "transaction":
        body = _usual_transaction(raw_body)
        if body is None:
            return None
    else:
        required, optional, read = _BODIES[kind]
        body = read(Obj(raw_body, "payload.body", required, optional))
    estate, date = value["estate"], value["date"]
    if type(estate) is not str or not ESTATE_ID.fullmatch(estate):
        return None
    day = _DATES.get(date) if type(date) is str else None
    if day is None:
        if not _text(date, 10):
            return None
        day = _remember(_DATES, date, read_date(date, "payload.date"))
    vouchers = _usual_vouchers(value["vouchers"]) if "vouchers" in value else ()
    if vouchers is None:
        return None
    memo = value.get("memo", "")
    if type(memo) is not str or len(memo) > 500:
        return None
    return Payload(
        raw=value,
        estate=estate,
        id=payload_id,
        kind=kind,
        date=day,
        body=body,
        vouchers=vouchers,
        memo=memo,
    )


_DATES: dict[str, dt.date] = {}
"""Dates read before (business dates repeat); at most :data:`_REMEMBER` of them."""
_ACCOUNT_NAMES: dict[str, None] = {}
"""Account names read before that ``Obj.match`` accepts; at most :data:`_REMEMBER`."""
_REMEMBER = 4096


def _remember(memo: dict[str, Any], key: str, value: Any) -> Any:
    if len(memo) >= _REMEMBER:
        memo.clear()
    memo[key] = value
    return value


def _usual_transaction(value: Any) -> TransactionBody | None:
    if type(value) is not dict or not _TXN_REQUIRED <= value.keys() <= _TXN_FIELDS:
        return None
    items, counterparty, category = value["postings"], value["counterparty"], value["category"]
    if type(items) is not list or not 2 <= len(items) <= MAX_POSTINGS:
        return None
    if not _text(counterparty, 200) or not _text(category, 64):
        return None
    postings = []
    known = _ACCOUNT_NAMES
    for item in items:
        if type(item) is not dict or item.keys() != _POSTING_FIELDS:
            return None
        account, amount = item["account"], item["amount"]
        if type(amount) is not int or not -MAX_AMOUNT <= amount <= MAX_AMOUNT:
            return None
        if account not in known:
            if not _text(account, 200) or not ACCOUNT_NAME.fullmatch(account):
                return None
            _remember(known, account, None)
        postings.append(Posting(account, amount))
    household = None
    if "household" in value:
        household = b64decode(value["household"], "payload.body.household", length=32)
    return TransactionBody(tuple(postings), counterparty, category, household)


def _usual_vouchers(items: Any) -> tuple[Voucher, ...] | None:
    if type(items) is not list or len(items) > MAX_VOUCHERS:
        return None
    out = []
    for item in items:
        if type(item) is not dict or item.keys() != _VOUCHER_FIELDS:
            return None
        sha256, media_type, size, name = (
            item["sha256"],
            item["media_type"],
            item["size"],
            item["name"],
        )
        if not _text(sha256, 200) or not SHA256_HEX.fullmatch(sha256):
            return None
        if not _text(media_type, 200) or not MEDIA_TYPE.fullmatch(media_type):
            return None
        if type(size) is not int or not 0 <= size <= MAX_AMOUNT or not _text(name, 200):
            return None
        out.append(Voucher(sha256, media_type, size, name))
    if len({v.sha256 for v in out}) != len(out):
        return None
    return tuple(out)
