"""``period_totals``, the totals the append keeps (``ledger/storage/aggregates.py``).

On both engines, for random ledgers — back-dated entries (dates not in seq order),
reversals, an account with sub-accounts that is posted to itself, an entry posting
twice to one account, appends of one entry and of batches — every answer read from
the maintained totals equals the one summed from the rows
(``queries.transaction_totals_by_rows``, the computation the totals replace) and the
one recomputed here from the payloads appended, never from a derived table.
Migration 0007's backfill builds the rows the appends built. Pure: :func:`cover`
splits any date range into whole periods and edge days covering each day once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.storage import aggregates, overview, queries, reports
from ledger.storage.aggregates import Piece, cover, entry_rows, prefixes
from ledger.storage.appender import SignedPayload
from ledger.storage.db import alembic_config, migrate
from ledger.storage.models import EntryFactRow, PeriodTotalRow
from ledger.storage.queries import TxFilter, TxTotals
from ledger.storage.service import LedgerService
from tests.factories import BANK, EstateFactory

# -- pure -------------------------------------------------------------------------------------

LOW, HIGH = dt.date(2023, 11, 1), dt.date(2026, 2, 28)
DAYS = [LOW + dt.timedelta(days=i) for i in range((HIGH - LOW).days + 1)]


def _in_piece(day: dt.date, piece: Piece) -> bool:
    if piece.span == "all":
        return True
    period = day.isoformat()[: 4 if piece.span == "year" else 7]
    return (piece.lo is None or piece.lo <= period) and (piece.hi is None or period <= piece.hi)


edge_dates = st.one_of(
    st.none(),
    st.dates(LOW, HIGH),
    st.sampled_from(  # month and year boundaries
        [dt.date(y, m, 1) for y in (2024, 2025) for m in (1, 2, 3, 12)]
        + [dt.date(2024, 12, 31), dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2024, 2, 29)]
    ),
)


@settings(max_examples=300, deadline=None)
@given(start=edge_dates, end=edge_dates)
def test_cover_covers_each_day_of_the_range_once(
    start: dt.date | None, end: dt.date | None
) -> None:
    c = cover(start, end)
    for first, last in c.days:
        assert first <= last and (first.year, first.month) == (last.year, last.month)
    whole_months = {m for p in c.pieces if p.span == "month" for m in (p.lo, p.hi)}
    assert None not in whole_months  # months are always a closed range
    for day in DAYS:
        inside = (start is None or start <= day) and (end is None or day <= end)
        times = sum(_in_piece(day, p) for p in c.pieces)
        times += sum(first <= day <= last for first, last in c.days)
        assert times == int(inside), (day, c)
    assert len(c.days) <= 2 and len(c.pieces) <= 3


def test_cover_uses_the_largest_periods() -> None:
    d = dt.date
    assert cover(None, None).pieces == (Piece("all"),)
    assert cover(d(2025, 1, 1), d(2025, 12, 31)) == aggregates.Cover(
        (Piece("year", "2025", "2025"),), ()
    )
    assert cover(None, d(2026, 9, 30)).pieces == (
        Piece("month", "2026-01", "2026-09"),
        Piece("year", None, "2025"),
    )
    assert cover(d(2026, 9, 15), d(2026, 9, 20)) == aggregates.Cover(
        (), ((d(2026, 9, 15), d(2026, 9, 20)),)
    )
    assert cover(d(2026, 9, 20), d(2026, 9, 15)) == aggregates.Cover((), ())


def test_entry_rows_count_an_entry_once_per_prefix() -> None:
    assert prefixes("Income:Public:Parking") == ["Income", "Income:Public", "Income:Public:Parking"]
    rows = entry_rows(
        "维修",
        -300,
        [
            (BANK, -300),
            ("Expenses:Repairs", 100),
            ("Expenses:Repairs", 150),
            ("Expenses:Repairs:Elevator", 50),
        ],
    )
    assert rows["all", ""] == [1, -300, 0, 300, 0]
    assert rows["category", "维修"] == [1, -300, 0, 300, 0]
    assert rows["account", "Expenses"] == [1, -300, 0, 300, 0]
    assert rows["account", "Expenses:Repairs"] == [1, -300, 0, 300, 250]
    assert rows["account", "Expenses:Repairs:Elevator"] == [1, -300, 0, 300, 50]
    assert rows["account", BANK] == [1, -300, 0, 300, -300]
    assert ("account", "Income") not in rows


# -- random ledgers against the rows and the payloads --------------------------------------------

EXTRA_ACCOUNTS = [
    ("Assets:Bank:Reserve", "asset", "维修资金"),
    ("Expenses:Repairs", "expense", "维修"),
    ("Expenses:Repairs:Elevator", "expense", "电梯维修"),
    ("Liabilities:Deposits", "liability", "押金"),
]
ACCOUNTS = [
    BANK,
    "Assets:Bank:Reserve",
    "Income:PropertyFee",
    "Income:Public:Parking",
    "Expenses:Cleaning",
    "Expenses:Repairs",
    "Expenses:Repairs:Elevator",
    "Liabilities:Deposits",
    "Equity:Opening",
]
PREFIXES = [
    "Assets",
    "Assets:Bank",
    BANK,
    "Income",
    "Income:Public",
    "Expenses",
    "Expenses:Repairs",
    "Expenses:Repairs:Elevator",
    "Liabilities:Deposits",
    "Income:Pub",  # not a whole segment: matches nothing
    "Equity:Opening:X",
]
CATEGORIES = ["物业费", "保洁", "维修", "reversal", "电梯维保"]
PARTIES = ["业主", "Acme Elevator Co", "常州某保洁服务有限公司"]
MEMOS = ["", "电梯维修", "ACME service", "10月保洁费"]
FIRST, LAST = dt.date(2024, 11, 20), dt.date(2026, 2, 10)


@dataclass
class Fact:
    seq: int
    date: dt.date
    category: str
    counterparty: str
    memo: str
    postings: list[tuple[str, int]]

    @property
    def trust_delta(self) -> int:
        return sum(a for acc, a in self.postings if acc == BANK)


@dataclass
class Model:
    """What the appended payloads say, recomputed without the database."""

    facts: list[Fact] = field(default_factory=list)

    def matches(self, f: Fact, flt: TxFilter) -> bool:
        def has(text: str, part: str) -> bool:
            return part.lower() in text.lower()

        if flt.date_from is not None and f.date < flt.date_from:
            return False
        if flt.date_to is not None and f.date > flt.date_to:
            return False
        if flt.category is not None and f.category != flt.category:
            return False
        if flt.counterparty and not has(f.counterparty, flt.counterparty):
            return False
        if flt.text and not any(has(x, flt.text) for x in (f.memo, f.counterparty, f.category)):
            return False
        if flt.account:
            under = [
                a for a, _ in f.postings if a == flt.account or a.startswith(flt.account + ":")
            ]
            if not under:
                return False
        return True

    def totals(self, flt: TxFilter) -> TxTotals:
        hits = [f for f in self.facts if self.matches(f, flt)]
        lines = [(a, n) for f in hits for a, n in f.postings]
        return TxTotals(
            count=len(hits),
            income=-sum(n for a, n in lines if a.startswith("Income:")),
            spending=sum(n for a, n in lines if a.startswith("Expenses:")),
            net_trust=sum(f.trust_delta for f in hits),
        )

    def balance(self, account: str, end: dt.date | None) -> int:
        return sum(
            n
            for f in self.facts
            if end is None or f.date <= end
            for a, n in f.postings
            if a == account
        )


amounts = st.integers(1, 10**7).flatmap(lambda n: st.sampled_from([n, -n]))
transaction = st.fixed_dictionaries(
    {
        "kind": st.just("transaction"),
        "date": st.dates(FIRST, LAST),
        "category": st.sampled_from(CATEGORIES),
        "counterparty": st.sampled_from(PARTIES),
        "memo": st.sampled_from(MEMOS),
        "lines": st.lists(st.tuples(st.sampled_from(ACCOUNTS), amounts), min_size=1, max_size=3),
        "balance_to": st.sampled_from(ACCOUNTS),
        "new_batch": st.booleans(),
    }
)
reversal = st.fixed_dictionaries(
    {
        "kind": st.just("reversal"),
        "date": st.dates(FIRST, LAST),
        "target": st.integers(0, 10**6),
        "new_batch": st.booleans(),
    }
)
ledgers = st.lists(
    st.one_of(transaction, transaction, transaction, reversal), min_size=1, max_size=24
)


def build(service: LedgerService, ops: list[dict[str, Any]]) -> tuple[EstateFactory, Model]:
    """Append ``ops`` to a fresh estate, in batches; and the model of what they say."""
    f = EstateFactory.create(service, f"agg-{uuid.uuid4().hex[:12]}")
    f.append(*[f.open_account(n, t, d) for n, t, d in EXTRA_ACCOUNTS])
    model = Model()
    targets: list[Fact] = []  # transactions of earlier batches, not reversed yet
    batch: list[tuple[SignedPayload, Fact]] = []

    def flush() -> None:
        appended = f.append(*(payload for payload, _ in batch))
        for done, (_, fact) in zip(appended, batch, strict=True):
            fact.seq = done.entry.seq
            model.facts.append(fact)
            if done.entry.payload.kind == "transaction":
                targets.append(fact)
        batch.clear()

    for op in ops:
        if op["new_batch"] and batch:
            flush()
        if op["kind"] == "transaction":
            lines = list(op["lines"])
            total = sum(n for _, n in lines)
            if total:  # balanced; every amount stays non-zero
                lines.append((op["balance_to"], -total))
            body = {
                "postings": [{"account": a, "amount": n} for a, n in lines],
                "counterparty": op["counterparty"],
                "category": op["category"],
            }
            payload = f.signed(
                "transaction", body, f.trustee, f.committee, date=op["date"], memo=op["memo"]
            )
            batch.append(
                (
                    payload,
                    Fact(-1, op["date"], op["category"], op["counterparty"], op["memo"], lines),
                )
            )
        elif targets:
            target = targets.pop(op["target"] % len(targets))
            body = {"target": target.seq, "reason": "冲正"}
            payload = f.signed("reversal", body, f.trustee, f.committee, date=op["date"])
            negated = [(a, -n) for a, n in target.postings]
            batch.append((payload, Fact(-1, op["date"], "reversal", "", "", negated)))
    if batch:
        flush()
    return f, model


PROPERTY = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
fixed_ranges = [
    (None, None),
    (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    (dt.date(2025, 2, 1), None),
    (None, dt.date(2025, 3, 31)),
]
any_date = st.one_of(
    st.none(), st.dates(FIRST - dt.timedelta(days=40), LAST + dt.timedelta(days=40))
)


def check_totals(s: Session, estate: str, model: Model, flt: TxFilter) -> None:
    expected = model.totals(flt)
    assert queries.transaction_totals_by_rows(s, estate, flt) == expected, flt
    assert queries.transaction_totals(s, estate, flt) == expected, flt


def pages(s: Session, estate: str, flt: TxFilter, descending: bool, below: int | None) -> list[int]:
    """Every seq of the list, read two rows a page through the keyset cursor."""
    seqs: list[int] = []
    after: int | None = None
    while True:
        rows = queries.list_transactions(
            s, estate, flt, descending=descending, after=after, below=below, limit=2, details=False
        )
        seqs += [r.seq for r in rows]
        if len(rows) < 2:
            return seqs
        after = rows[-1].seq


@PROPERTY
@given(ops=ledgers, data=st.data())
def test_maintained_totals_answer_as_the_rows_and_the_payloads(
    service: LedgerService, ops: list[dict[str, Any]], data: st.DataObject
) -> None:
    f, model = build(service, ops)
    ranges = fixed_ranges + data.draw(
        st.lists(st.tuples(any_date, any_date), min_size=2, max_size=2)
    )
    by_filter: list[dict[str, Any]] = [
        {},
        *({"category": c} for c in CATEGORIES),
        *({"account": a} for a in PREFIXES),
    ]
    with service.reader(f.id) as r:
        s = r.session
        for start, end in ranges:
            for extra in by_filter:
                check_totals(s, f.id, model, TxFilter(start, end, **extra))
            for extra in (
                {"counterparty": "acme"},
                {"text": "电梯"},
                {"category": "维修", "account": "Expenses"},
            ):
                check_totals(s, f.id, model, TxFilter(start, end, **extra))  # summed from rows
        for end in [
            None,
            *(e for _, e in ranges if e is not None),
            dt.date(2025, 1, 31),
            dt.date(2024, 12, 15),
        ]:
            got = {b.name: b.balance for b in queries.balances(s, f.id, end)}
            assert got == {name: model.balance(name, end) for name in got}, end
            assert set(ACCOUNTS) <= set(got)
        for text in ("2024-11", "2025-01", "2025-Q1", "2025", "2026-02"):
            period = reports.parse_period(text)
            summary = reports.period_summary(s, f.id, period)
            before = period.start - dt.timedelta(days=1)
            assert (summary.trust_opening, summary.trust_closing) == (
                model.balance(BANK, before),
                model.balance(BANK, period.end),
            ), text
        assert set(overview.categories(s, f.id)) == {x.category for x in model.facts if x.category}
        for prefix in PREFIXES:
            flt = TxFilter(account=prefix)
            want = sorted(x.seq for x in model.facts if model.matches(x, flt))
            assert pages(s, f.id, flt, True, None) == want[::-1], prefix
            assert pages(s, f.id, flt, False, None) == want, prefix
            middle = want[len(want) // 2] if want else None
            assert pages(s, f.id, flt, True, middle) == [
                q for q in want[::-1] if middle is None or q < middle
            ]
        start, end = ranges[-1]
        flt = TxFilter(start, end, account="Expenses")
        assert pages(s, f.id, flt, True, None) == sorted(
            (x.seq for x in model.facts if model.matches(x, flt)), reverse=True
        )


# -- migration 0007 -----------------------------------------------------------------------------


def period_rows(service: LedgerService, estate: str) -> dict[tuple[str, ...], tuple[int, ...]]:
    t = PeriodTotalRow
    with service.session() as s:
        rows = s.execute(
            select(
                t.dim,
                t.name,
                t.span,
                t.period,
                t.entries,
                t.trust_delta,
                t.income,
                t.spending,
                t.amount,
            ).where(t.estate_id == estate)
        ).all()
    return {tuple(r[:4]): tuple(int(x) for x in r[4:]) for r in rows}


def test_migration_backfills_the_rows_the_appends_wrote(service: LedgerService) -> None:
    ops: list[dict[str, Any]] = []
    for i in range(30):
        day = FIRST + dt.timedelta(days=(i * 37) % 400)  # back and forth over two years
        ops.append(
            {
                "kind": "transaction",
                "date": day,
                "category": CATEGORIES[i % len(CATEGORIES)],
                "counterparty": PARTIES[i % 3],
                "memo": MEMOS[i % 4],
                "lines": [(ACCOUNTS[i % 9], 1000 + i), (ACCOUNTS[(i * 5 + 2) % 9], 70 * i + 1)],
                "balance_to": ACCOUNTS[(i * 7 + 3) % 9],
                "new_batch": i % 4 == 0,
            }
        )
        if i % 6 == 5:
            ops.append(
                {
                    "kind": "reversal",
                    "date": day + dt.timedelta(days=40),
                    "target": i,
                    "new_batch": True,
                }
            )
    f, model = build(service, ops)
    appended = period_rows(service, f.id)
    assert appended[("all", "", "all", "")][0] == len(model.facts)
    service.engine.dispose()
    command.downgrade(alembic_config(service.url), "0006")
    migrate(service.url)
    assert period_rows(service, f.id) == appended
    with service.session() as s:  # the facts are untouched: the same estate still answers
        assert (
            s.scalar(select(EntryFactRow.seq).where(EntryFactRow.estate_id == f.id).limit(1))
            is not None
        )
