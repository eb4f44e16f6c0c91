"""Statement figures: production (:mod:`ledger.statement`) against an independent reference.

:mod:`tests.statements.reference` recomputes every figure from docs/statements.md
on the plain JSON of the leaves; here both run on the demo estate and on random
small estates appended through the real ledger, and must give the same object.
Then: empty periods, reversals, the statement signature, and period parsing.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from api.demo import seed
from api.payloads import genesis_body, payload, sign
from ledger.entry import Entry, parse_leaf
from ledger.errors import InvalidInput, PeriodNotClosed, StatementError
from ledger.note import Signer
from ledger.statement import compute_statement, parse_period, sign_statement, verify_statement
from ledger.storage.appender import SignedPayload
from ledger.storage.db import migrate
from ledger.storage.service import LedgerService
from statements.store import closed_period
from tests.factories import EstateFactory
from tests.statements.reference import reference_statement

TODAY = dt.date(2026, 11, 26)
ISSUED_AT = "2026-11-26T08:00:00.000Z"


# -- reading a log ---------------------------------------------------------------------


@dataclass
class Log:
    """Leaves ``0 … size-1`` of an estate at one of its checkpoints."""

    estate: str
    origin: str
    size: int
    root: bytes
    leaves: list[bytes]

    def entries(self) -> list[Entry]:
        return [parse_leaf(leaf) for leaf in self.leaves]

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(leaf) for leaf in self.leaves]

    def production(self, period: str) -> dict[str, Any]:
        return compute_statement(
            self.entries(),
            parse_period(period),
            estate=self.estate,
            origin=self.origin,
            size=self.size,
            root=self.root,
            issued_at=ISSUED_AT,
        )

    def reference(self, period: str) -> dict[str, Any]:
        return reference_statement(
            self.json(),
            period,
            estate=self.estate,
            origin=self.origin,
            size=self.size,
            root_b64=base64.b64encode(self.root).decode(),
            issued_at=ISSUED_AT,
        )


def read_log(service: LedgerService, estate: str, size: int | None = None) -> Log:
    with service.reader(estate) as r:
        checkpoints = {c.size: c for c in r.checkpoints()}
        cp = r.latest_checkpoint() if size is None else checkpoints[size]
        leaves: list[bytes] = []
        while len(leaves) < cp.size:
            page = r.leaves(len(leaves), min(1000, cp.size - len(leaves)))
            assert [seq for seq, _ in page] == list(range(len(leaves), len(leaves) + len(page)))
            leaves += [leaf for _, leaf in page]
    return Log(estate, service.origin(estate), cp.size, cp.root, leaves)


def checkpoint_sizes(service: LedgerService, estate: str) -> list[int]:
    with service.reader(estate) as r:
        return [c.size for c in r.checkpoints()]


def assert_same(log: Log, period: str) -> dict[str, Any]:
    """Production and reference agree field by field (a precise message first), then whole."""
    found = log.production(period)
    expected = log.reference(period)
    for key in expected:
        assert found.get(key) == expected[key], f"{period} size {log.size}: field {key!r}"
    assert found == expected
    return found


def new_service(folder: Path) -> LedgerService:
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'ledger.db'}"
    migrate(url)
    return LedgerService(url, folder / "data", "trustledger.example")


# -- the demo estate -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    folder = tmp_path_factory.mktemp("demo")
    service = new_service(folder)
    estate = f"demo-{uuid.uuid4().hex[:12]}"
    seed(service, folder, months=3, today=TODAY, households=60, estate=estate)
    yield read_log(service, estate)
    service.engine.dispose()


def reversal_month(log: Log) -> str:
    reversals = [e for e in log.json() if e["payload"]["kind"] == "reversal"]
    assert len(reversals) == 1, "the demo books one double booking and its reversal"
    return str(reversals[0]["payload"]["date"][:7])


def test_demo_has_the_months_this_file_expects(demo: Log) -> None:
    dates = sorted(e["payload"]["date"] for e in demo.json())
    assert dates[0] == "2026-08-01" and dates[-1] <= "2026-10-31"
    assert reversal_month(demo) == "2026-10"


@pytest.mark.parametrize(
    "period",
    [
        "2026-10",  # the double booking and its reversal
        "2026-09",  # the maintenance-fund repair
        "2026-08",  # genesis, opening balances, budget, the first fees
        "2026-Q3",  # July (before the estate) to September
        "2026-Q4",
        "2026",
        "2026-07",  # before the estate existed
        "2025",
        "2026-12",  # after the last entry
    ],
)
def test_demo_figures_match_the_reference(demo: Log, period: str) -> None:
    assert_same(demo, period)


def test_demo_reversal_month_is_compared(demo: Log) -> None:
    statement = assert_same(demo, reversal_month(demo))
    assert any(line["kind"] == "reversal" for line in statement["lines"])


def test_demo_at_an_earlier_checkpoint(demo: Log) -> None:
    """The figures use entries 0 … N-1 only, whatever comes later."""
    reversal = next(e for e in demo.json() if e["payload"]["kind"] == "reversal")
    before = Log(
        demo.estate, demo.origin, reversal["seq"], b"\x07" * 32, demo.leaves[: reversal["seq"]]
    )
    statement = assert_same(before, "2026-10")
    target = reversal["payload"]["body"]["target"]
    line = next(x for x in statement["lines"] if x["seq"] == target)
    assert line["reversed_by"] is None  # its reversal is outside the checkpoint
    assert statement["checkpoint"]["size"] == reversal["seq"]


def test_a_correction_names_what_it_supersedes(demo: Log) -> None:
    supersedes = {
        "number": 1,
        "sha256": hashlib.sha256(b"the first statement").hexdigest(),
        "checkpoint": {"size": demo.size - 1, "root": base64.b64encode(b"\x01" * 32).decode()},
    }
    kw: dict[str, Any] = {"origin": demo.origin, "size": demo.size, "issued_at": ISSUED_AT}
    found = compute_statement(
        demo.entries(),
        parse_period("2026-09"),
        estate=demo.estate,
        root=demo.root,
        number=2,
        supersedes=supersedes,
        **kw,
    )
    expected = reference_statement(
        demo.json(),
        "2026-09",
        estate=demo.estate,
        root_b64=base64.b64encode(demo.root).decode(),
        number=2,
        supersedes=supersedes,
        **kw,
    )
    assert found == expected
    assert (found["number"], found["supersedes"]) == (2, supersedes)


# -- empty periods ---------------------------------------------------------------------


def assert_no_flows(statement: dict[str, Any]) -> None:
    assert statement["lines"] == []
    assert statement["income"]["total"] == 0
    assert all(g["amount"] == 0 for g in statement["income"]["groups"])
    assert statement["spending"]["total"] == 0
    assert statement["trustee_remuneration"] == 0
    for row in statement["accounts"]:
        assert (row["debits"], row["credits"]) == (0, 0), row
        assert row["opening"] == row["closing"], row
    fund = statement["maintenance_fund"]
    if fund is not None:
        assert (fund["inflow"], fund["outflow"]) == (0, 0)
        assert fund["opening"] == fund["closing"]
    fees = statement["fee_collection"]
    assert fees["households_paid"] == 0
    assert all(m["households_paid"] == 0 for m in fees["months"])
    assert fees["rate"] in (None, "0.0")


def test_period_before_the_estate_is_empty(demo: Log) -> None:
    statement = assert_same(demo, "2026-07")
    assert_no_flows(statement)
    assert statement["accounts"] == []  # no account was open yet
    assert statement["maintenance_fund"] is None
    assert statement["budget"] is not None  # the 2026 budget exists in the checkpoint
    assert all(line["actual"] == 0 for line in statement["budget"]["lines"])
    assert statement["fee_collection"]["months"] == [{"month": "2026-07", "households_paid": 0}]
    assert statement["fee_collection"]["rate"] == "0.0"
    assert statement["period"] == {"id": "2026-07", "start": "2026-07-01", "end": "2026-07-31"}


def test_empty_month_carries_balances_forward(demo: Log) -> None:
    october = demo.production("2026-10")
    statement = assert_same(demo, "2026-12")
    assert_no_flows(statement)
    assert [(a["account"], a["opening"]) for a in statement["accounts"]] == [
        (a["account"], a["closing"]) for a in october["accounts"]
    ]
    assert any(a["closing"] != 0 for a in statement["accounts"])
    fund = statement["maintenance_fund"]
    assert fund is not None and fund["opening"] == october["maintenance_fund"]["closing"] != 0


# -- entries dated before their accounts were opened -----------------------------------
# The ledger ties no business date to the chart: an account opened on 10-15 may be
# posted to with a September date, and a budget may list an account opened (by date)
# later in the year. Statements of such periods must still use the chart's facts.


def small_log(f: EstateFactory) -> Log:
    return read_log(f.service, f.id)


def test_budget_lines_keep_name_and_type_before_the_account_opening(
    estate: EstateFactory,
) -> None:
    """The 2026 budget in a statement of a 2026 month before the accounts' opening date."""
    f = estate  # chart opened on 2026-10-15
    lines = [{"account": "Income:PropertyFee", "amount": 1_200}, {"account": BANK[0], "amount": 0}]
    f.append(f.signed("budget", {"year": 2026, "lines": lines}, f.committee))
    statement = small_log(f).production("2026-09")
    budget = statement["budget"]
    assert budget is not None
    assert [(x["account"], x["name"], x["type"]) for x in budget["lines"]] == [
        ("Income:PropertyFee", "物业费收入", "income"),
        (BANK[0], "共管账户", "asset"),
    ]
    assert_same(small_log(f), "2026-09")


def test_income_dated_before_the_account_opening_counts(estate: EstateFactory) -> None:
    """Net credits to income (debits to expense) accounts dated in the period count,
    whatever the date of the account's opening entry; so does the budget's actual."""
    f = estate  # chart opened on 2026-10-15
    pay = {
        "postings": [
            {"account": "Expenses:TrusteeRemuneration", "amount": 500},
            {"account": BANK[0], "amount": -500},
        ],
        "counterparty": "某物业公司",
        "category": "物业酬金",
    }
    f.append(
        f.income(10_000, date=dt.date(2026, 9, 20)),
        f.signed("transaction", pay, f.trustee, f.committee, date=dt.date(2026, 9, 21)),
    )
    lines = [{"account": "Income:PropertyFee", "amount": 120_000}]
    f.append(f.signed("budget", {"year": 2026, "lines": lines}, f.committee))
    statement = small_log(f).production("2026-09")
    found = {
        "lines": [line["amount"] for line in statement["lines"]],
        "income": statement["income"]["total"],
        "spending": statement["spending"]["total"],
        "trustee_remuneration": statement["trustee_remuneration"],
        "budget actual": statement["budget"]["lines"][0]["actual"],
        "budget variance": statement["budget"]["lines"][0]["variance"],
    }
    assert found == {
        "lines": [10_000, 500],
        "income": 10_000,
        "spending": 500,  # it includes the trustee's remuneration
        "trustee_remuneration": 500,
        "budget actual": 10_000,  # credits, for an income account
        "budget variance": 0,
    }
    assert_same(small_log(f), "2026-09")


def test_accounts_posted_to_before_their_opening_date_are_listed_typed(
    estate: EstateFactory,
) -> None:
    """Accounts opened by the period end or posted to by then, typed from their opening."""
    f = estate
    f.append(f.income(10_000, date=dt.date(2026, 9, 20)))
    statement = small_log(f).production("2026-09")
    assert [row for row in statement["accounts"] if row["type"] == ""] == []
    bank = next(r for r in statement["accounts"] if r["account"] == BANK[0])
    assert (bank["type"], bank["debits"], bank["closing"]) == ("asset", 10_000, 10_000)
    assert_same(small_log(f), "2026-09")


# -- reversals -------------------------------------------------------------------------


def test_reversal_shows_both_lines_and_lowers_its_category(demo: Log) -> None:
    statement = assert_same(demo, reversal_month(demo))
    lines = {line["seq"]: line for line in statement["lines"]}
    reversal = next(line for line in statement["lines"] if line["kind"] == "reversal")
    target = lines[reversal["reverses"]]
    assert target["kind"] == "transaction"
    assert target["reversed_by"] == reversal["seq"] and target["reverses"] is None
    assert reversal["reversed_by"] is None
    assert reversal["postings"] == [
        {"account": p["account"], "amount": -p["amount"]} for p in target["postings"]
    ]
    assert (reversal["category"], reversal["counterparty"]) == (
        target["category"],
        target["counterparty"],
    )
    assert reversal["amount"] == target["amount"] > 0
    assert reversal["trust"] == -target["trust"] > 0  # money back into the trust account
    category = target["category"]
    spent = next(c for c in statement["spending"]["categories"] if c["category"] == category)
    booked = sum(
        p["amount"]
        for line in statement["lines"]
        if line["kind"] == "transaction" and line["category"] == category
        for p in line["postings"]
        if p["account"].startswith("Expenses:")
    )
    assert spent["amount"] == booked - target["amount"]
    # the duplicate it cancels: the same category once, not twice
    twins = [
        line
        for line in statement["lines"]
        if line["kind"] == "transaction"
        and line["postings"] == target["postings"]
        and line["seq"] != target["seq"]
    ]
    assert twins, "the reversed line duplicates an earlier one"


# -- random estates through the real append path ---------------------------------------

ACCOUNTS = [
    ("Assets:Bank:MaintenanceFund", "asset", "专项维修资金账户"),
    ("Assets:Cash", "asset", "现金"),
    ("Liabilities:PrepaidFees", "liability", "预收物业费"),
    ("Equity:Opening", "equity", "期初权益"),
    ("Income:PropertyFee", "income", "物业费收入"),
    ("Income:PropertyFee:Arrears", "income", "欠费补缴"),
    ("Income:Public:Parking", "income", "停车收益"),
    ("Income:Public:ElevatorAds", "income", "电梯广告收益"),
    ("Income:Interest", "income", "利息收入"),
    ("Income:Other", "income", "其他收入"),
    ("Expenses:Cleaning", "expense", "保洁"),
    ("Expenses:Repairs", "expense", "维修"),
    ("Expenses:TrusteeRemuneration", "expense", "物业酬金"),
    ("Expenses:TrusteeRemuneration:Bonus", "expense", "物业酬金奖励"),
]
BANK = ("Assets:Bank:CoManaged", "asset", "共管账户")
TYPES = {name: type_ for name, type_, _ in [BANK, *ACCOUNTS]}
DISPLAY = {name: zh for name, _, zh in [BANK, *ACCOUNTS]}
CATEGORIES = ["物业费", "停车收益", "保洁", "维修", "物业酬金", "利息", "其他"]
PARTIES = ["业主", "常州某保洁服务有限公司", "银行", "某物业公司"]


def day_in(first: dt.date = dt.date(2026, 1, 1)) -> st.SearchStrategy[dt.date]:
    return st.dates(first, dt.date(2026, 12, 31))


@dataclass
class Builder:
    """Appends random entries to a fresh estate, tracking what the ledger will accept.

    ``dated``: business dates agree with the chart (nothing is posted, reversed or
    budgeted on a date before its accounts were opened, nor after they were closed),
    as in real books. Otherwise dates are anything the ledger accepts.
    """

    factory: EstateFactory
    data: st.DataObject
    dated: bool
    size: int = 1

    def __post_init__(self) -> None:
        self.batch: list[SignedPayload] = []
        self.open: dict[str, dt.date] = {}  # account -> date opened
        self.last_used: dict[str, dt.date] = {}  # account -> latest date posted to
        self.ever_opened: set[str] = set()
        self.closed: set[str] = set()
        self.unreversed: dict[int, tuple[dt.date, set[str]]] = {}  # seq -> date, accounts
        self.commitments: list[str] = []

    def draw(self, strategy: st.SearchStrategy[Any], label: str | None = None) -> Any:
        return self.data.draw(strategy, label)

    def day(self, first: dt.date = dt.date(2026, 1, 1)) -> dt.date:
        return self.draw(day_in(first if self.dated else dt.date(2026, 1, 1)), "date")

    def add(self, item: SignedPayload) -> int:
        seq = self.size + len(self.batch)
        self.batch.append(item)
        return seq

    def flush(self) -> None:
        if self.batch:
            appended = self.factory.append(*self.batch)
            assert [a.entry.seq for a in appended] == list(
                range(self.size, self.size + len(self.batch))
            )
            self.size, self.batch = self.size + len(self.batch), []

    def open_account(self, name: str, day: dt.date) -> None:
        f = self.factory
        body = {"action": "open", "name": name, "type": TYPES[name], "display_name": DISPLAY[name]}
        self.add(f.signed("account", body, f.committee, date=day))
        self.open[name] = self.last_used[name] = day
        self.ever_opened.add(name)

    def close_account(self, name: str) -> None:
        f = self.factory
        body = {"action": "close", "name": name, "type": TYPES[name], "display_name": "已关闭"}
        self.add(f.signed("account", body, f.committee, date=self.day(self.last_used[name])))
        del self.open[name]
        self.closed.add(name)

    def budget(self) -> None:
        f = self.factory
        if self.dated:  # accounts opened by the first day of the year
            year = self.draw(st.sampled_from([2026, 2027]), "budget year")
            chart = sorted(n for n, d in self.open.items() if d == dt.date(2026, 1, 1))
        else:
            year = self.draw(st.sampled_from([2026, 2026, 2025, 2027]), "budget year")
            chart = sorted(self.ever_opened)
        if not chart:
            return
        accounts = self.draw(st.lists(st.sampled_from(chart), min_size=1, max_size=5, unique=True))
        lines = [{"account": a, "amount": self.draw(st.integers(0, 10**8))} for a in accounts]
        self.add(f.signed("budget", {"year": year, "lines": lines}, f.committee, date=self.day()))

    def reversal(self) -> None:
        f = self.factory
        # the ledger refuses to reverse a transaction that posts to an account closed since
        targets = sorted(s for s, (_, acc) in self.unreversed.items() if not acc & self.closed)
        if not targets:
            return
        target = self.draw(st.sampled_from(targets), "target")
        day, accounts = self.unreversed.pop(target)
        when = self.day(day)
        for a in accounts:
            self.last_used[a] = max(self.last_used[a], when)
        body = {"target": target, "reason": "冲销"}
        memo = self.draw(st.sampled_from(["", "冲销错账"]))
        self.add(f.signed("reversal", body, f.trustee, f.committee, date=when, memo=memo))

    def transaction(self) -> None:
        f = self.factory
        day = self.draw(day_in(), "date")
        usable = sorted(n for n, opened in self.open.items() if opened <= day or not self.dated)
        if len(usable) < 2:
            return
        accounts = self.draw(
            st.lists(st.sampled_from(usable), min_size=1, max_size=3), "debited and credited"
        )
        accounts.append(self.draw(st.sampled_from(usable)))
        amounts = [self.draw(st.integers(-(10**7), 10**7).filter(bool)) for _ in accounts[:-1]]
        if sum(amounts) == 0:
            amounts[0] += 1
        amounts.append(-sum(amounts))
        body: dict[str, Any] = {
            "postings": [
                {"account": a, "amount": n} for a, n in zip(accounts, amounts, strict=True)
            ],
            "counterparty": self.draw(st.sampled_from(PARTIES)),
            "category": self.draw(st.sampled_from(CATEGORIES)),
        }
        if self.draw(st.integers(0, 2), "household?") == 0:
            if self.commitments and self.draw(st.integers(0, 4)) == 0:
                commitment = self.draw(st.sampled_from(self.commitments))  # the same again
            else:
                raw = self.draw(st.binary(min_size=32, max_size=32))
                commitment = base64.b64encode(raw).decode()
            self.commitments.append(commitment)
            body["household"] = commitment
        vouchers = []
        for _ in range(self.draw(st.sampled_from([0, 0, 0, 1, 2]), "vouchers")):
            blob = uuid.uuid4().bytes
            sha = hashlib.sha256(blob).hexdigest()
            f.service.blobs_for(f.id).put(sha, blob)
            vouchers.append(
                {"sha256": sha, "media_type": "application/pdf", "size": 16, "name": "发票.pdf"}
            )
        memo = self.draw(st.sampled_from(["", "备注", "10月保洁服务费"]))
        keys = (f.trustee, f.committee)
        seq = self.add(f.signed("transaction", body, *keys, date=day, memo=memo, vouchers=vouchers))
        self.unreversed[seq] = (day, set(accounts))
        for a in accounts:
            self.last_used[a] = max(self.last_used[a], day)


def genesis(f: EstateFactory, households: int, day: dt.date) -> SignedPayload:
    body = genesis_body(
        "随机小区",
        "常州市随机路 2 号",
        households,
        [
            (f.operator.public_key, "operator", "平台"),
            (f.committee.public_key, "committee", "业委会"),
            (f.trustee.public_key, "trustee", "物业公司"),
        ],
    )
    return sign(payload(f.id, "genesis", body, date=day), [f.operator])


STEPS = ["txn", "txn", "txn", "txn", "reversal", "budget", "open", "close", "flush"]


def build_estate(service: LedgerService, data: st.DataObject, *, dated: bool) -> Builder:
    f = EstateFactory(service, f"r-{uuid.uuid4().hex[:12]}")
    start = dt.date(2026, 1, 1)
    if not dated:
        start = data.draw(st.dates(dt.date(2026, 1, 1), dt.date(2026, 3, 31)), "genesis date")
    service.create_estate(genesis(f, data.draw(st.integers(0, 5), "households"), start))
    b = Builder(f, data, dated)
    b.open_account(BANK[0], start)
    first = st.lists(st.sampled_from(sorted(TYPES)), min_size=2, max_size=6, unique=True)
    for name in data.draw(first, "first accounts"):
        if name != BANK[0]:
            b.open_account(name, start)
    for step in data.draw(st.lists(st.sampled_from(STEPS), min_size=4, max_size=22), "steps"):
        if step == "flush":
            b.flush()
        elif step == "open":
            free = sorted(n for n in TYPES if n not in b.ever_opened)
            if free:
                b.open_account(data.draw(st.sampled_from(free)), b.day())
        elif step == "close":
            closable = sorted(n for n in b.open if n != BANK[0])
            if closable:
                b.close_account(data.draw(st.sampled_from(closable)))
        elif step == "budget":
            b.budget()
        elif step == "reversal":
            b.reversal()
        else:
            b.transaction()
    b.flush()
    return b


@pytest.fixture(scope="module")
def random_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerService]:
    service = new_service(tmp_path_factory.mktemp("random"))
    yield service
    service.engine.dispose()


PERIODS = st.one_of(
    st.integers(1, 12).map(lambda m: f"2026-{m:02d}"),
    st.integers(1, 4).map(lambda q: f"2026-Q{q}"),
    st.sampled_from(["2026", "2025", "2027", "2025-12", "2027-01"]),
)


# No shrinking: every example writes an estate to the database, and shrinking a
# failure that way takes minutes; the failing draws are printed unshrunk instead.
RANDOM = settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def compare_random(service: LedgerService, data: st.DataObject, *, dated: bool) -> None:
    b = build_estate(service, data, dated=dated)
    sizes = checkpoint_sizes(service, b.factory.id)
    assert sizes[-1] == b.size
    size = data.draw(st.sampled_from(sizes[-3:]), "checkpoint size")
    log = read_log(service, b.factory.id, size)
    for period in data.draw(st.lists(PERIODS, min_size=3, max_size=5, unique=True), "periods"):
        assert_same(log, period)


@RANDOM
@given(data=st.data())
def test_random_estates_match_the_reference(
    random_service: LedgerService, data: st.DataObject
) -> None:
    """Books whose dates agree with the chart of accounts."""
    compare_random(random_service, data, dated=True)


@RANDOM
@given(data=st.data())
def test_random_estates_with_any_dates_match_the_reference(
    random_service: LedgerService, data: st.DataObject
) -> None:
    """Any dates the ledger accepts: a posting may be dated before its account was opened."""
    compare_random(random_service, data, dated=False)


# -- the signature ---------------------------------------------------------------------


def flips() -> list[tuple[str, Any]]:
    def amount(s: dict[str, Any]) -> None:
        s["lines"][0]["amount"] += 1

    def posting(s: dict[str, Any]) -> None:
        s["lines"][0]["postings"][0]["amount"] -= 1

    def closing(s: dict[str, Any]) -> None:
        s["accounts"][0]["closing"] += 100

    def root(s: dict[str, Any]) -> None:
        s["checkpoint"]["root"] = base64.b64encode(b"\x00" * 32).decode()

    def size(s: dict[str, Any]) -> None:
        s["checkpoint"]["size"] -= 1

    def period(s: dict[str, Any]) -> None:
        s["period"]["id"] = "2026-09"

    def total(s: dict[str, Any]) -> None:
        s["income"]["total"] += 1

    def rate(s: dict[str, Any]) -> None:
        s["fee_collection"]["rate"] = "100.0"

    def reversal(s: dict[str, Any]) -> None:
        line = next(x for x in s["lines"] if x["reverses"] is not None)
        line["reverses"] = None

    return [
        (f.__name__, f)
        for f in (amount, posting, closing, root, size, period, total, rate, reversal)
    ]


@pytest.fixture(scope="module")
def signed(demo: Log) -> tuple[dict[str, Any], Signer]:
    signer = Signer.generate("example.org/estates/x")
    return sign_statement(demo.production("2026-10"), signer), signer


def test_signed_statement_verifies(signed: tuple[dict[str, Any], Signer]) -> None:
    doc, signer = signed
    assert doc["signature"]["vkey"] == signer.vkey
    verify_statement(copy.deepcopy(doc), [signer.vkey])
    verify_statement(json.loads(json.dumps(doc)), [signer.vkey])  # through JSON text


@pytest.mark.parametrize(("name", "flip"), flips())
def test_any_flipped_figure_breaks_the_signature(
    signed: tuple[dict[str, Any], Signer], name: str, flip: Any
) -> None:
    doc, signer = signed
    bad = copy.deepcopy(doc)
    flip(bad["statement"])
    assert bad != doc
    with pytest.raises(StatementError):
        verify_statement(bad, [signer.vkey])


def test_another_log_key_is_refused(signed: tuple[dict[str, Any], Signer]) -> None:
    doc, signer = signed
    other = Signer.generate("example.org/estates/x")
    with pytest.raises(StatementError):
        verify_statement(copy.deepcopy(doc), [other.vkey])
    with pytest.raises(StatementError):
        verify_statement(copy.deepcopy(doc), [])
    # signed by the other key, checked against the first
    with pytest.raises(StatementError):
        verify_statement(sign_statement(doc["statement"], other), [signer.vkey])


# -- periods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-1", " 2026", "2026-Q5", "26", "2026-10-01", "2026-00", "2026-Q0"]
)
def test_malformed_periods_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_period(text)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-10", "2026-10-01", "2026-10-31"),
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2028-02", "2028-02-01", "2028-02-29"),
        ("2026-Q1", "2026-01-01", "2026-03-31"),
        ("2026-Q4", "2026-10-01", "2026-12-31"),
        ("2026", "2026-01-01", "2026-12-31"),
    ],
)
def test_periods_parse(text: str, start: str, end: str) -> None:
    period = parse_period(text)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)


@pytest.mark.parametrize("text", ["2027-01", "2026-11", "2026-Q4", "2026", "2030"])
def test_open_and_future_periods_are_not_closed(text: str) -> None:
    with pytest.raises(PeriodNotClosed):
        closed_period(text, TODAY)


def test_the_current_month_is_not_closed() -> None:
    today = dt.date.today()
    with pytest.raises(PeriodNotClosed):
        closed_period(f"{today.year}-{today.month:02d}", today)


@pytest.mark.parametrize("text", ["2026-10", "2026-Q3", "2025"])
def test_past_periods_are_closed(text: str) -> None:
    assert closed_period(text, TODAY) == parse_period(text)


def test_last_day_of_the_period_is_not_closed() -> None:
    with pytest.raises(PeriodNotClosed):
        closed_period("2026-10", dt.date(2026, 10, 31))
    assert closed_period("2026-10", dt.date(2026, 11, 1)).end == dt.date(2026, 10, 31)


def test_the_last_periods_of_year_9999_parse() -> None:
    """The end of a period is its last day, never computed from the day after it."""
    for text in ("9999", "9999-12", "9999-Q4"):
        assert parse_period(text).end == dt.date(9999, 12, 31)
