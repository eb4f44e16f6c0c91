"""Checks that the data the service derives from the leaves says what the leaves say.

The service answers queries from derived tables (``entries`` columns, ``postings``,
``entry_facts`` with the trust account's running balance, ``voucher_refs``,
``author_keys``, ``accounts``, ``reversals``, ``redactions``, the ``estates`` head);
an insider who edits them changes what residents are shown without touching a
leaf. Per-entry checks take an :class:`~audits.checks.EntryCase`; table checks run
once the whole log is folded and compare the tables with the fold. A live server's
estate page (balances, keys) is compared the same way.

What they do not: read anything; with no derived rows (a bundle) they find nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from audits.checks import EntryCase, EntryCheck, b64
from audits.findings import Finding, error
from audits.sources import DerivedRows, LogKey, StateTables
from audits.state import AuditState
from ledger.canonical import b64encode
from ledger.errors import LedgerError
from ledger.payload import TRUST_ACCOUNT, Payload, Posting, ReversalBody, TransactionBody


def _diff(expected: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {"expected", "found"}}`` for every field that differs."""
    return {
        k: {"expected": expected[k], "found": found.get(k)}
        for k in expected
        if expected[k] != found.get(k)
    }


def _describe(diff: Mapping[str, Any]) -> str:
    k, v = next(iter(diff.items()))
    more = f" (and {len(diff) - 1} more fields)" if len(diff) > 1 else ""
    return f"{k} is {v['found']!r}, the leaf gives {v['expected']!r}{more}"


def check_entry_row(case: EntryCase) -> Iterator[Finding]:
    """The ``entries`` row's columns (leaf hash, payload id, kind, date, time)."""
    row = None if case.rows is None else case.rows.entries.get(case.seq)
    if row is None:
        return
    expected: dict[str, Any] = {"leaf_hash": b64(case.leaf.leaf_hash)}
    entry = case.leaf.entry
    if entry is not None:
        p = entry.payload
        expected |= {
            "payload_id": p.id,
            "kind": p.kind,
            "date": p.date.isoformat(),
            "recorded_at": entry.recorded_at,
        }
    found = {**vars(row), "leaf_hash": b64(row.leaf_hash)}
    diff = _diff(expected, found)
    if diff:
        yield error(
            case.estate, case.seq, "derived-entries", f"entries row: {_describe(diff)}", **diff
        )


def check_postings(case: EntryCase) -> Iterator[Finding]:
    """The ``postings`` rows are the entry's postings (a reversal's: the target's, negated)."""
    if case.rows is None or case.verdict is None or case.leaf.entry is None:
        return
    date = case.leaf.entry.payload.date.isoformat()
    expected = [[p.account, p.amount, date] for p in case.verdict.effects.postings]
    rows = sorted(case.rows.postings.get(case.seq, ()), key=lambda r: r.line)
    found = [[r.account, r.amount, r.date] for r in rows]
    if [r.line for r in rows] != list(range(len(rows))) or found != expected:
        bad = next(
            (i for i, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b), None
        )
        where = (
            f"line {bad} is {found[bad][0]} {found[bad][1]}, the leaf gives "
            f"{expected[bad][0]} {expected[bad][1]}"
            if bad is not None
            else f"{len(found)} rows, the leaf gives {len(expected)} postings"
        )
        yield error(
            case.estate,
            case.seq,
            "derived-postings",
            f"postings: {where}",
            expected=expected,
            found=found,
        )


def expected_fact(case: EntryCase) -> dict[str, Any] | None:
    """The ``entry_facts`` row the service should hold for this entry (None: no row)."""
    entry, verdict = case.leaf.entry, case.verdict
    if entry is None or verdict is None:
        return None
    return fact_of(entry.payload, verdict.effects.postings, case.state.trust_balance)


def fact_of(p: Payload, postings: tuple[Posting, ...], trust_balance: int) -> dict[str, Any] | None:
    """The ``entry_facts`` row of a payload with these postings (its verdict's) and the
    trust account's balance after it (None: an entry without postings has no row)."""
    columns = fact_columns(p, postings)
    if columns is None:
        return None
    return {**dict(zip(FACT_COLUMNS, columns, strict=True)), "trust_balance": trust_balance}


FACT_COLUMNS = (
    "kind",
    "date",
    "category",
    "counterparty",
    "memo",
    "household",
    "amount",
    "trust_delta",
)
"""The ``entry_facts`` columns between ``seq`` and ``trust_balance``, in the table's order."""


def fact_columns(p: Payload, postings: tuple[Posting, ...]) -> tuple[Any, ...] | None:
    """:data:`FACT_COLUMNS` of :func:`fact_of`, as a tuple (None: no row)."""
    if not postings:
        return None
    category, counterparty, household = "reversal", "", None
    if isinstance(p.body, TransactionBody):
        category, counterparty = p.body.category, p.body.counterparty
        household = None if p.body.household is None else b64encode(p.body.household)
    elif not isinstance(p.body, ReversalBody):
        category = p.kind
    amount = trust = 0
    for x in postings:
        if x.amount > 0:
            amount += x.amount
        if x.account == TRUST_ACCOUNT:
            trust += x.amount
    return (p.kind, p.date.isoformat(), category, counterparty, p.memo, household, amount, trust)


def check_facts(case: EntryCase) -> Iterator[Finding]:
    """The ``entry_facts`` row: kind, date, texts, amount and the running trust balance."""
    if case.rows is None or case.leaf.entry is None:
        return
    expected = expected_fact(case)
    row = case.rows.facts.get(case.seq)
    if expected is None and row is not None:
        yield error(
            case.estate, case.seq, "derived-facts", "entry_facts row for an entry without postings"
        )
    elif expected is not None and row is None:
        yield error(case.estate, case.seq, "derived-facts", "entry_facts row is missing")
    elif expected is not None and row is not None:
        diff = _diff(expected, vars(row))
        if diff:
            yield error(
                case.estate,
                case.seq,
                "derived-facts",
                f"entry_facts row: {_describe(diff)}",
                **diff,
            )


def check_voucher_refs(case: EntryCase) -> Iterator[Finding]:
    """The ``voucher_refs`` rows name exactly the vouchers the entry references."""
    if case.rows is None or case.leaf.entry is None:
        return
    expected = sorted(v.sha256 for v in case.leaf.entry.payload.vouchers)
    found = sorted(case.rows.voucher_refs.get(case.seq, frozenset()))
    if expected != found:
        yield error(
            case.estate,
            case.seq,
            "derived-vouchers",
            f"voucher_refs name {len(found)} vouchers, the leaf references {len(expected)}",
            expected=expected,
            found=found,
        )


DERIVED_CHECKS: tuple[EntryCheck, ...] = (
    check_entry_row,
    check_postings,
    check_facts,
    check_voucher_refs,
)


def check_orphans(estate: str, rows: DerivedRows, seqs: Iterable[int]) -> Iterator[Finding]:
    """Derived rows that speak of an entry the log does not hold."""
    known = set(seqs)
    tables: Sequence[tuple[str, str, Mapping[int, Any]]] = (
        ("derived-entries", "entries", rows.entries),
        ("derived-postings", "postings", rows.postings),
        ("derived-facts", "entry_facts", rows.facts),
        ("derived-vouchers", "voucher_refs", rows.voucher_refs),
    )
    for check, table, by_seq in tables:
        for seq in sorted(set(by_seq) - known):
            yield error(
                estate, seq, check, f"{table} rows for entry {seq}, which is not in the log"
            )


# -- tables compared once the log is folded -------------------------------------------------


def _compare(
    estate: str,
    check: str,
    what: str,
    expected: Mapping[Any, Mapping[str, Any]],
    found: Mapping[Any, Mapping[str, Any]],
    seq_of: Callable[[Mapping[str, Any]], int | None],
) -> Iterator[Finding]:
    for key in sorted(expected.keys() | found.keys(), key=str):
        exp, got = expected.get(key), found.get(key)
        if got is None and exp is not None:
            yield error(estate, seq_of(exp), check, f"{what} {key} is missing", expected=dict(exp))
        elif exp is None and got is not None:
            yield error(
                estate, seq_of(got), check, f"{what} {key} is not in the log", found=dict(got)
            )
        elif exp is not None and got is not None:
            diff = _diff(exp, got)
            if diff:
                yield error(estate, seq_of(exp), check, f"{what} {key}: {_describe(diff)}", **diff)


def check_keys(estate: str, state: AuditState, tables: StateTables) -> Iterator[Finding]:
    expected = {
        k.key_id: {
            "public_key": b64encode(k.public_key),
            "role": k.role,
            "holder": k.holder,
            "added_seq": k.added_seq,
            "revoked_seq": k.revoked_seq,
        }
        for k in state.keys.values()
    }
    found = {
        k.key_id: {
            "public_key": b64encode(k.public_key),
            "role": k.role,
            "holder": k.holder,
            "added_seq": k.added_seq,
            "revoked_seq": k.revoked_seq,
        }
        for k in tables.keys
    }
    yield from _compare(estate, "derived-keys", "key", expected, found, lambda r: r["added_seq"])


def check_accounts(estate: str, state: AuditState, tables: StateTables) -> Iterator[Finding]:
    def cols(
        name: str, type_: str, display: str, opened: int, closed: int | None
    ) -> dict[str, Any]:
        return {"type": type_, "display_name": display, "opened_seq": opened, "closed_seq": closed}

    expected = {
        a.name: cols(a.name, a.type, a.display_name, a.opened_seq, a.closed_seq)
        for a in state.accounts.values()
    }
    found = {
        a.name: cols(a.name, a.type, a.display_name, a.opened_seq, a.closed_seq)
        for a in tables.accounts
    }
    if tables.balances is not None:
        for name, cols_ in expected.items():
            cols_["balance"] = state.balances.get(name, 0)
        for name, cols_ in found.items():
            cols_["balance"] = tables.balances.get(name)
    yield from _compare(
        estate, "derived-accounts", "account", expected, found, lambda r: r["opened_seq"]
    )


def check_reversals(estate: str, state: AuditState, tables: StateTables) -> Iterator[Finding]:
    if tables.reversals is None:
        return
    expected = {t: {"reversal_seq": r} for t, r in state.reversals.items()}
    found = {t: {"reversal_seq": r} for t, r in tables.reversals.items()}
    yield from _compare(
        estate,
        "derived-reversals",
        "reversal of entry",
        expected,
        found,
        lambda r: r["reversal_seq"],
    )


def check_redactions(estate: str, state: AuditState, tables: StateTables) -> Iterator[Finding]:
    if tables.redactions is None:
        return
    expected = {s: {"seq": q} for s, q in state.redactions.items()}
    found = {s: {"seq": q} for s, q in tables.redactions.items()}
    yield from _compare(
        estate, "derived-redactions", "redaction of voucher", expected, found, lambda r: r["seq"]
    )


def check_estate_row(
    estate: str, state: AuditState, tables: StateTables, keys: Sequence[LogKey]
) -> Iterator[Finding]:
    """The estate head: size, current log key and origin, policy."""
    row = tables.estate
    expected: dict[str, Any] = {"size": state.size}
    if keys:
        expected["vkey"] = keys[-1].vkey
        expected["origin"] = keys[-1].vkey.split("+", 1)[0]
    found: dict[str, Any] = {"size": row.size, "vkey": row.vkey, "origin": row.origin}
    if row.policy is not None:
        try:
            expected["policy"] = state.policy().to_json()
        except LedgerError:  # no genesis: the leaf and rule checks report it
            expected["policy"] = None
        found["policy"] = json.loads(row.policy) if row.policy else None
    diff = _diff(expected, found)
    if diff:
        yield error(estate, None, "derived-estate", f"estate row: {_describe(diff)}", **diff)


TableCheck = Callable[[str, AuditState, StateTables], Iterable[Finding]]
TABLE_CHECKS: tuple[TableCheck, ...] = (
    check_keys,
    check_accounts,
    check_reversals,
    check_redactions,
)
