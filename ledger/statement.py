"""Period statements: figures computed from the entries of a log, and their signature.

Pure: entries in, a statement object out (docs/statements.md is the format). The
service, the audits and ``trustledger statement verify`` all call
:func:`compute_statement` on the leaves ``0 … size-1`` of a checkpoint, so a
statement can be recomputed by anyone who has the log. One pass over the entries;
memory grows with the chart, the transactions (kept for reversals) and the lines of
the period.

Signature: the estate log key's Ed25519 signature over
``b"trustledger/statement/v1\\n" + JCS(statement)`` (DESIGN.md, "Statements").
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledger.canonical import b64decode, b64encode, canonical_json
from ledger.entry import Entry
from ledger.errors import InvalidInput, NoteError, StatementError
from ledger.note import Signer, parse_vkey
from ledger.payload import (
    TRUST_ACCOUNT,
    AccountBody,
    BudgetBody,
    GenesisBody,
    Posting,
    ReversalBody,
    TransactionBody,
)

STATEMENT_VERSION = 1
STATEMENT_DOMAIN = b"trustledger/statement/v1\n"
CREDIT_NORMAL = ("income", "liability", "equity")
INCOME_GROUPS = ("fees", "public", "interest", "other")
REMUNERATION_ACCOUNT = "Expenses:TrusteeRemuneration"
FUND_MARK = "MaintenanceFund"
VOUCHER_PREFIX = 12

_PERIOD = re.compile(r"([1-9][0-9]{3})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?")


@dataclass(frozen=True)
class Period:
    """A month ``2026-10``, a quarter ``2026-Q4`` or a year ``2026``; both ends inclusive."""

    text: str
    start: dt.date
    end: dt.date

    @property
    def months(self) -> list[str]:
        """``YYYY-MM`` of every month in the period."""
        year, months = self.start.year, range(self.start.month, self.end.month + 1)
        return [f"{year:04d}-{m:02d}" for m in months]

    def to_json(self) -> dict[str, str]:
        return {"id": self.text, "start": self.start.isoformat(), "end": self.end.isoformat()}


def parse_period(text: str) -> Period:
    """Strictly read ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY`` (ASCII digits, no padding, no spaces)."""
    m = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput(
            f"period {text!r} is not YYYY-MM, YYYY-Qn or YYYY (e.g. 2026-10, 2026-Q4, 2026)",
            field="period",
        )
    year = int(m[1])
    if m[2] is not None:
        first, last = int(m[2]), int(m[2])
    elif m[3] is not None:
        first = 3 * int(m[3]) - 2
        last = first + 2
    else:
        first, last = 1, 12
    end = dt.date(year, last, calendar.monthrange(year, last)[1])  # 9999-12 has no "after"
    return Period(text, dt.date(year, first, 1), end)


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))


def percent(part: int, whole: int) -> str | None:
    """``part / whole`` in percent, one decimal, half up (``None`` for a zero ``whole``)."""
    if whole == 0:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return str(value)


def income_group(account: str) -> str:
    """``fees``, ``public`` (common parts, Civil Code art. 282), ``interest`` or ``other``."""

    def under(prefix: str) -> bool:
        return account == prefix or account.startswith(prefix + ":")

    if under("Income:PropertyFee"):
        return "fees"
    if account.startswith("Income:Public:"):
        return "public"
    if under("Income:Interest"):
        return "interest"
    return "other"


@dataclass
class _Account:
    type: str
    name: str
    opening: int = 0
    debits: int = 0
    credits: int = 0


@dataclass(frozen=True)
class _Txn:
    postings: tuple[Posting, ...]
    category: str
    counterparty: str
    household: bytes | None


class _Fold:
    """One pass over the entries ``0 … size-1``."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.start, self.end = period.start.isoformat(), period.end.isoformat()
        self.genesis: GenesisBody | None = None
        self.chart: dict[str, tuple[str, str]] = {}  # name -> (type, display name)
        self.accounts: dict[str, _Account] = {}  # opened by the period end, or posted to
        self.txns: dict[int, _Txn] = {}
        self.reversed_by: dict[int, int] = {}
        self.lines: list[dict[str, Any]] = []
        self.flows: dict[tuple[str, str], int] = {}  # (account, category) -> net debits
        self.budget: tuple[int, BudgetBody] | None = None
        self.receipts: dict[int, tuple[str, bytes]] = {}  # seq -> (month, commitment)

    def add(self, entry: Entry) -> None:
        payload, seq = entry.payload, entry.seq
        body, date = payload.body, payload.date.isoformat()
        if isinstance(body, GenesisBody):
            self.genesis = body
        elif isinstance(body, AccountBody):
            # The chart names every account the log opens, whatever the business
            # dates: a posting may be dated before its account's opening entry.
            if body.action == "open" and body.name not in self.chart:
                self.chart[body.name] = (body.type, body.display_name)
                if date <= self.end:
                    self._account(body.name)
        elif isinstance(body, BudgetBody):
            if body.year == self.period.start.year:
                self.budget = (seq, body)
        elif isinstance(body, TransactionBody):
            txn = _Txn(body.postings, body.category, body.counterparty, body.household)
            self.txns[seq] = txn
            self._post(seq, entry, txn, body.postings, None)
            if body.household is not None and self.start <= date <= self.end:
                self.receipts[seq] = (date[:7], body.household)
        elif isinstance(body, ReversalBody):
            target = self.txns.get(body.target)
            if target is None:  # the log refuses this; a statement does not guess
                raise InvalidInput(f"entry {seq} reverses {body.target}, not a transaction")
            self.reversed_by[body.target] = seq
            negated = tuple(Posting(p.account, -p.amount) for p in target.postings)
            self._post(seq, entry, target, negated, body.target)

    def _account(self, name: str) -> _Account:
        found = self.accounts.get(name)
        if found is None:  # the log opens an account before any entry posts to it
            kind, display = self.chart.get(name, ("", name))
            found = self.accounts[name] = _Account(kind, display)
        return found

    def _post(
        self,
        seq: int,
        entry: Entry,
        txn: _Txn,
        postings: tuple[Posting, ...],
        reverses: int | None,
    ) -> None:
        date = entry.payload.date.isoformat()
        if date > self.end:
            return
        inside = date >= self.start
        for p in postings:
            account = self._account(p.account)
            if not inside:
                account.opening += p.amount
                continue
            if p.amount > 0:
                account.debits += p.amount
            else:
                account.credits -= p.amount
            key = (p.account, txn.category)
            self.flows[key] = self.flows.get(key, 0) + p.amount
        if inside:
            self.lines.append(
                {
                    "seq": seq,
                    "date": date,
                    "kind": "reversal" if reverses is not None else "transaction",
                    "category": txn.category,
                    "counterparty": txn.counterparty,
                    "memo": entry.payload.memo,
                    "amount": sum(p.amount for p in postings if p.amount > 0),
                    "trust": sum(p.amount for p in postings if p.account == TRUST_ACCOUNT),
                    "household": reverses is None and txn.household is not None,
                    "postings": [{"account": p.account, "amount": p.amount} for p in postings],
                    "vouchers": [v.sha256[:VOUCHER_PREFIX] for v in entry.payload.vouchers],
                    "reverses": reverses,
                    "reversed_by": None,
                }
            )


class StatementFold:
    """Figures of one period, folded entry by entry (seqs ``0, 1, …`` in order)."""

    def __init__(self, period: Period, estate: str) -> None:
        self.fold = _Fold(period)
        self.estate = estate
        self.size = 0

    def add(self, entry: Entry) -> None:
        if entry.seq != self.size:
            raise InvalidInput(f"entries out of order: expected seq {self.size}, got {entry.seq}")
        if entry.payload.estate != self.estate:
            raise InvalidInput(f"entry {entry.seq} belongs to estate {entry.payload.estate!r}")
        self.fold.add(entry)
        self.size += 1

    def result(
        self,
        *,
        origin: str,
        root: bytes,
        issued_at: str,
        number: int = 1,
        supersedes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The statement object at the current size (the checkpoint of ``root``)."""
        fold = self.fold
        if fold.genesis is None:
            raise InvalidInput("the log has no genesis entry")
        g = fold.genesis
        lines = sorted(
            ({**line, "reversed_by": fold.reversed_by.get(line["seq"])} for line in fold.lines),
            key=lambda line: (line["date"], line["seq"]),
        )
        return {
            "version": STATEMENT_VERSION,
            "estate": {
                "id": self.estate,
                "name": g.name,
                "address": g.address,
                "households": g.households,
            },
            "period": fold.period.to_json(),
            "currency": g.currency,
            "checkpoint": {"size": self.size, "root": b64encode(root)},
            "origin": origin,
            "issued_at": issued_at,
            "number": number,
            "supersedes": dict(supersedes) if supersedes is not None else None,
            "accounts": _accounts(fold),
            "income": _income(fold),
            "spending": _spending(fold),
            "trustee_remuneration": sum(
                n
                for (a, _), n in fold.flows.items()
                if a == REMUNERATION_ACCOUNT or a.startswith(REMUNERATION_ACCOUNT + ":")
            ),
            "maintenance_fund": _fund(fold),
            "lines": lines,
            "budget": _budget(fold),
            "fee_collection": _collection(fold),
        }


def compute_statement(
    entries: Iterable[Entry],
    period: Period,
    *,
    estate: str,
    origin: str,
    size: int,
    root: bytes,
    issued_at: str,
    number: int = 1,
    supersedes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The statement of ``period`` from ``entries`` (exactly seqs ``0 … size-1``, in order)."""
    fold = StatementFold(period, estate)
    for entry in entries:
        fold.add(entry)
    if fold.size != size:
        raise InvalidInput(f"statement needs entries 0 … {size - 1}, got {fold.size}")
    return fold.result(
        origin=origin, root=root, issued_at=issued_at, number=number, supersedes=supersedes
    )


def _accounts(fold: _Fold) -> list[dict[str, Any]]:
    return [
        {
            "account": name,
            "type": a.type,
            "name": a.name,
            "opening": a.opening,
            "debits": a.debits,
            "credits": a.credits,
            "closing": a.opening + a.debits - a.credits,
        }
        for name, a in sorted(fold.accounts.items())
    ]


def _by_category(items: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    totals: dict[str, int] = {}
    for category, amount in items:
        totals[category] = totals.get(category, 0) + amount
    ordered = sorted(totals.items(), key=lambda x: (-x[1], x[0]))
    return [{"category": c, "amount": n} for c, n in ordered]


def _of_type(fold: _Fold, kind: str) -> list[tuple[str, str, int]]:
    return [(a, c, n) for (a, c), n in sorted(fold.flows.items()) if fold.accounts[a].type == kind]


def _income(fold: _Fold) -> dict[str, Any]:
    flows = [(a, c, -n) for a, c, n in _of_type(fold, "income")]
    groups = []
    for group in INCOME_GROUPS:
        mine = [(c, n) for a, c, n in flows if income_group(a) == group]
        if mine:
            groups.append(
                {
                    "group": group,
                    "amount": sum(n for _, n in mine),
                    "categories": _by_category(mine),
                }
            )
    return {"total": sum(n for _, _, n in flows), "groups": groups}


def _spending(fold: _Fold) -> dict[str, Any]:
    flows = _of_type(fold, "expense")
    return {
        "total": sum(n for _, _, n in flows),
        "categories": _by_category((c, n) for _, c, n in flows),
    }


def _fund(fold: _Fold) -> dict[str, Any] | None:
    names = sorted(n for n, a in fold.accounts.items() if a.type == "asset" and FUND_MARK in n)
    if not names:
        return None
    accounts = [fold.accounts[n] for n in names]
    opening = sum(a.opening for a in accounts)
    inflow = sum(a.debits for a in accounts)
    outflow = sum(a.credits for a in accounts)
    return {
        "accounts": names,
        "opening": opening,
        "inflow": inflow,
        "outflow": outflow,
        "closing": opening + inflow - outflow,
    }


def _budget(fold: _Fold) -> dict[str, Any] | None:
    if fold.budget is None:
        return None
    seq, body = fold.budget
    months = len(fold.period.months)
    lines = []
    for line in body.lines:
        kind, name = fold.chart.get(line.account, ("", line.account))
        net = sum(n for (a, _), n in fold.flows.items() if a == line.account)
        actual = -net if kind in CREDIT_NORMAL else net
        budget = round_half_up(Decimal(line.amount) * months / 12)
        lines.append(
            {
                "account": line.account,
                "name": name,
                "type": kind,
                "annual": line.amount,
                "budget": budget,
                "actual": actual,
                "variance": actual - budget,
            }
        )
    return {"year": body.year, "seq": seq, "months": months, "lines": lines}


def _collection(fold: _Fold) -> dict[str, Any]:
    due = fold.genesis.households if fold.genesis else 0
    paid: dict[str, set[bytes]] = {m: set() for m in fold.period.months}
    for seq, (month, commitment) in fold.receipts.items():
        if seq not in fold.reversed_by:
            paid[month].add(commitment)
    counts = [(m, len(c)) for m, c in paid.items()]
    months = [{"month": m, "households_paid": n} for m, n in counts]
    total = sum(n for _, n in counts)
    return {
        "households_due": due,
        "months": months,
        "households_paid": total,
        "rate": percent(total, due * len(months)),
    }


# -- the signed document ------------------------------------------------------------------------


def signing_bytes(statement: Mapping[str, Any]) -> bytes:
    return STATEMENT_DOMAIN + canonical_json(statement)


def sign_statement(statement: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """``{"statement", "signature": {"vkey", "sig"}}`` signed by the estate's log key."""
    sig = signer.sign(signing_bytes(statement))
    return {"statement": dict(statement), "signature": {"vkey": signer.vkey, "sig": b64encode(sig)}}


def document_sha256(signed: Mapping[str, Any]) -> str:
    """Hex SHA-256 of JCS of a signed statement document (how a correction names it)."""
    return hashlib.sha256(canonical_json(signed)).hexdigest()


@dataclass(frozen=True)
class VerifiedStatement:
    statement: dict[str, Any]
    vkey: str
    estate: str
    period: Period
    size: int
    root: bytes


def verify_statement(signed: Any, vkeys: Iterable[str] | None = None) -> VerifiedStatement:
    """Check the shape and the signature of a signed statement document.

    ``vkeys``: the log verifier keys to accept (the estate's, from a source the
    caller trusts); ``None`` accepts the document's own ``vkey`` — which proves only
    that the document is intact, not who signed it.
    """
    if not isinstance(signed, dict) or set(signed) != {"statement", "signature"}:
        raise InvalidInput("a signed statement is {statement, signature}")
    statement, signature = signed["statement"], signed["signature"]
    if not isinstance(statement, dict) or not isinstance(signature, dict):
        raise InvalidInput("statement and signature must be objects")
    if set(signature) != {"vkey", "sig"}:
        raise InvalidInput("signature is {vkey, sig}")
    vkey, sig = signature["vkey"], signature["sig"]
    if not isinstance(vkey, str) or not isinstance(sig, str):
        raise InvalidInput("signature.vkey and signature.sig must be strings")
    if vkeys is not None and vkey not in set(vkeys):
        raise StatementError("the statement is signed by a key that is not this log's key")
    try:
        verifier = parse_vkey(vkey)
        verifier.verify(signing_bytes(statement), b64decode(sig, "signature.sig", length=64))
    except NoteError as e:
        raise StatementError(f"the statement's signature does not verify: {e}") from None
    if statement.get("version") != STATEMENT_VERSION:
        raise InvalidInput(f"unknown statement version {statement.get('version')!r}")
    try:
        estate = statement["estate"]["id"]
        period = parse_period(statement["period"]["id"])
        size = statement["checkpoint"]["size"]
        root = b64decode(statement["checkpoint"]["root"], "checkpoint.root", length=32)
    except (KeyError, TypeError) as e:
        raise InvalidInput(f"statement lacks {e}") from None
    if not isinstance(estate, str) or not isinstance(size, int) or size < 1:
        raise InvalidInput("statement estate or checkpoint size is malformed")
    return VerifiedStatement(statement, vkey, estate, period, size, root)


def compare_figures(published: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[str]:
    """Names of the top-level fields whose values differ (``issued_at`` and the chain fields
    ``number``/``supersedes`` are the publisher's and are compared too)."""
    keys = sorted(set(published) | set(recomputed))
    return [k for k in keys if published.get(k) != recomputed.get(k)]
