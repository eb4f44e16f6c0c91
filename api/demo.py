"""The demo estate 示范花园小区: months of realistic, signed books (``trustledger demo``).

``seed`` plays every author of a trust-model estate in 常州: the platform operator
founds the log, the owners' committee opens the chart of accounts and posts the
budget, the trustee (the property company) books fee receipts, public revenue and
— co-signed by the committee — every payment with its invoice PDF. Everything is
derived from one fixed random seed except key material and household salts (real
randomness, as in production). Author keys are kept in ``DATA_DIR/demo-keys`` so
that later commands and tests can post more as the same people.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import secrets
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from api.demo_data import (
    BANK,
    BUDGET_EXTRA,
    CHART,
    DEMO_ADDRESS,
    DEMO_ESTATE,
    DEMO_NAME,
    DEMO_NAME_EN,
    EVENTS,
    FEES,
    FUND,
    INCOME,
    KEYS,
    MONTHLY,
    PAYER_EN,
    PREPAID,
    REMUNERATION,
    REPAIRER,
    REPAIRS,
    ROOFER,
    TRUSTEE,
    Draft,
    Home,
    Party,
    add_months,
    covered_months,
    make_homes,
    on_day,
    quarter,
    transaction,
)
from api.demo_pdf import contract_pdf, invoice_pdf, minutes_pdf, report_pdf
from api.payloads import genesis_body, payload, sign
from ledger.canonical import b64encode
from ledger.signing import AuthorKey
from ledger.storage.keyfiles import load_author_key, save_author_key
from ledger.storage.models import EstateRow
from ledger.storage.service import LedgerService

__all__ = ["DEMO_ESTATE", "seed"]

RANDOM_SEED = 20261126
CATEGORY = {name: zh for name, _, zh in CHART}  # income is categorised by its account


def household_commitment(unit_id: str) -> tuple[str, bytes, str]:
    """(base64 SHA-256(salt || unit), salt, unit) with a fresh random 16-byte salt."""
    salt = secrets.token_bytes(16)
    return b64encode(hashlib.sha256(salt + unit_id.encode()).digest()), salt, unit_id


def demo_keys(data_dir: Path) -> dict[str, AuthorKey]:
    """The authors' keys from ``DATA_DIR/demo-keys``, created (mode 0600) if missing."""
    folder = Path(data_dir) / "demo-keys"
    keys = {}
    for stem, role, holder in KEYS:
        path = folder / f"{stem}.key"
        if path.exists():
            keys[stem] = load_author_key(path)[0]
        else:
            keys[stem] = AuthorKey.generate()
            save_author_key(path, keys[stem], holder, role)
    return keys


class Seeder:
    def __init__(
        self, svc: LedgerService, keys: dict[str, AuthorKey], households: int, estate: str
    ) -> None:
        self.svc = svc
        self.estate = estate
        self.keys = keys
        self.rng = random.Random(RANDOM_SEED)  # noqa: S311 (demo data, not security)
        self.households = households
        self.homes = make_homes(self.rng, households)
        self.trustee = (keys["trustee"],)
        self.size = 0
        self.invoices = 0

    # -- posting --------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def genesis(self, day: dt.date) -> None:
        founders = [(self.keys[stem].public_key, role, holder) for stem, role, holder in KEYS]
        body = genesis_body(DEMO_NAME, DEMO_ADDRESS, self.households, founders)
        raw = payload(
            self.estate,
            "genesis",
            body,
            date=day,
            id=self.new_id(),
            memo="示范花园小区信托制物业账本创立",
        )
        self.size = self.svc.create_estate(sign(raw, [self.keys["operator"]])).entry.seq + 1

    def post(self, drafts: list[Draft]) -> None:
        """Sign the drafts in date order and append them as one atomic batch."""
        seqs: dict[str, int] = {}
        items, salts = [], []
        for i, d in enumerate(sorted(drafts, key=lambda d: d.date)):
            if d.tag:
                seqs[d.tag] = self.size + i
            body = d.body(seqs) if callable(d.body) else d.body
            raw = payload(
                self.estate,
                d.kind,
                body,
                date=d.date,
                memo=d.memo,
                vouchers=d.vouchers,
                id=self.new_id(),
            )
            items.append(sign(raw, d.keys))
            if d.salt is not None:
                salts.append(d.salt)
        appended = self.svc.append(self.estate, items, salts=salts)
        self.size = appended[-1].entry.seq + 1

    def voucher(self, name: str, data: bytes) -> dict[str, Any]:
        sha = hashlib.sha256(data).hexdigest()
        self.svc.blobs_for(self.estate).put(sha, data)
        return {"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": name}

    def co_signers(self) -> tuple[AuthorKey, ...]:
        committee = self.keys[self.rng.choice(("committee-1", "committee-2"))]
        return (self.keys["trustee"], committee)

    # -- kinds of drafts ------------------------------------------------------------

    def income(
        self, day: dt.date, account: str, party: str, fen: int, memo: str, bank: str = BANK
    ) -> Draft:
        body = transaction(bank, account, fen, party, CATEGORY[account])
        return Draft(day, "transaction", body, self.trustee, memo)

    def spend(
        self,
        day: dt.date,
        account: str,
        category: str,
        party: Party,
        fen: int,
        item: str,
        memo: str,
        bank: str = BANK,
    ) -> Draft:
        self.invoices += 1
        number = f"{day:%Y-%m}-{self.invoices:04d}"
        payroll = category == "人员工资"  # wages are paid on a payroll sheet, not an invoice
        title, label = ("PAYROLL SUMMARY", "发放表") if payroll else ("INVOICE", "发票")
        pdf = invoice_pdf(number, day.isoformat(), party[1], item, fen, PAYER_EN, title)
        voucher = self.voucher(f"{category}{label}-{day:%Y-%m}.pdf", pdf)
        body = transaction(account, bank, fen, party[0], category)
        return Draft(day, "transaction", body, self.co_signers(), memo, (voucher,))

    def receipt(self, day: dt.date, home: Home, months: int, prepay: bool = False) -> Draft:
        commitment, salt, unit = household_commitment(home.unit)
        credit, category = (PREPAID, "预收物业费") if prepay else (FEES, "物业费")
        body = transaction(BANK, credit, home.fee * months, "业主", category)
        body["household"] = commitment
        if prepay:
            memo = f"预交{months}个月物业费（{day.year}年{day.month}月起）"
        elif months == 1:
            memo = f"{day.year}年{day.month}月物业费"
        else:
            first = add_months(day, 1 - months)  # the oldest month in arrears
            memo = f"{first.year}年{first.month}月至{day.year}年{day.month}月物业费（补缴）"
        return Draft(day, "transaction", body, self.trustee, memo, salt=(commitment, salt, unit))

    # -- the estate, month by month -------------------------------------------------

    def setup(self, day: dt.date) -> list[Draft]:
        """Chart of accounts, opening balances, the trust contract and the budget."""
        committee = (self.keys["committee-1"],)
        drafts = [
            Draft(
                day,
                "account",
                {"action": "open", "name": name, "type": type_, "display_name": zh},
                committee,
                f"开设科目：{zh}",
            )
            for name, type_, zh in CHART
        ]
        bank, fund = 35_682_045, 238_650_000
        opening = {
            "postings": [
                {"account": BANK, "amount": bank},
                {"account": FUND, "amount": fund},
                {"account": "Equity:Opening", "amount": -(bank + fund)},
            ],
            "counterparty": "前期物业移交",
            "category": "期初余额",
        }
        memo = "期初余额：共管账户与专项维修资金账户（按移交日银行对账单）"
        drafts.append(Draft(day, "transaction", opening, self.trustee, memo))
        return [*drafts, self.contract(on_day(day, 2)), self.budget(on_day(day, 3))]

    def contract(self, day: dt.date) -> Draft:
        pdf = contract_pdf(DEMO_NAME_EN, TRUSTEE[1], day.isoformat(), REMUNERATION)
        voucher = self.voucher("物业服务合同（信托制）.pdf", pdf)
        body = {"title": "示范花园小区物业服务合同（信托制）", "doc_type": "contract"}
        keys = (self.keys["committee-1"], self.keys["trustee"])
        memo = "业委会代表全体业主与受托人签订的信托制物业服务合同，期限三年"
        return Draft(day, "document", body, keys, memo, (voucher,))

    def budget(self, day: dt.date) -> Draft:
        lines = dict(BUDGET_EXTRA)
        lines[FEES] = sum(h.fee for h in self.homes) * 12
        for account, _, _, _, base, extra, _, _ in MONTHLY:
            lines[account] = lines.get(account, 0) + (base + extra // 2) * 12
        ordered = [(name, lines[name]) for name, _, _ in CHART if name in lines]
        pdf = minutes_pdf(DEMO_NAME_EN, day.isoformat(), day.year, ordered)
        voucher = self.voucher(f"{day.year}年度预算业主大会决议.pdf", pdf)
        body = {"year": day.year, "lines": [{"account": a, "amount": n} for a, n in ordered]}
        memo = f"{day.year}年度物业服务收支预算（业主大会表决通过）"
        return Draft(day, "budget", body, (self.keys["committee-1"],), memo, (voucher,))

    def month(self, index: int, month: dt.date, total: int) -> list[Draft]:
        spending = self.spending(month)
        drafts = self.fees(month, first=index == 0) + self.income_of(month) + spending
        if month.month == 1 and index > 0:
            drafts.append(self.budget(on_day(month, 6)))
        if index == total // 2:
            drafts.append(self.fund_repair(month))
        if index == min(2, total - 1):
            drafts += self.double_booking(month, spending[0])
        if month.month % 3 == 0:
            drafts.append(self.supervisor_report(month))
        return drafts

    def pays(self, home: Home) -> bool:
        if home.profile == "never":
            return False
        if home.profile == "late":
            return home.owed >= 2
        return self.rng.random() < 0.96

    def fees(self, month: dt.date, first: bool) -> list[Draft]:
        """Fee receipts, one per payment; prepaid fees are earned month by month."""
        drafts, earned = [], 0
        for home in self.homes:
            home.owed += 1
            if home.profile == "prepaid" and first:
                home.prepaid = 12
                day = on_day(month, self.rng.randint(1, 6))
                drafts.append(self.receipt(day, home, 12, prepay=True))
            if home.prepaid:
                home.prepaid, home.owed, earned = home.prepaid - 1, home.owed - 1, earned + home.fee
            elif self.pays(home):
                late = home.owed > 1
                day = on_day(month, self.rng.randint(8, 28) if late else self.rng.randint(1, 25))
                drafts.append(self.receipt(day, home, home.owed))
                home.owed = 0
        if earned:
            body = transaction(PREPAID, FEES, earned, "业主（预交物业费）", "预收物业费结转")
            memo = f"结转{month.month}月已预交物业费"
            drafts.append(Draft(on_day(month, 31), "transaction", body, self.trustee, memo))
        return drafts

    def income_of(self, month: dt.date) -> list[Draft]:
        """Common-part income (parking, ads, venue rent) and quarterly bank interest."""
        out = []
        for account, payer, day, (lo, hi), unit, memo, months, bank in INCOME:
            if month.month in months:
                fen = self.rng.randint(lo // unit, hi // unit) * unit
                text = memo.format(y=month.year, m=month.month, q=quarter(month))
                out.append(self.income(on_day(month, day), account, payer, fen, text, bank))
        if self.rng.random() < 0.3:  # now and then a merchant rents the square for a day
            payer, memo, (lo, hi) = EVENTS
            when, fen = on_day(month, self.rng.randint(13, 27)), self.rng.randint(lo, hi) // 100
            out.append(self.income(when, "Income:Public:VenueRent", payer, fen * 100, memo))
        return out

    def spending(self, month: dt.date) -> list[Draft]:
        """The month's payments, each co-signed and with its invoice; cleaning first."""
        out = []
        for account, category, party, day, base, extra, item, memo in MONTHLY:
            fen = base + (self.rng.randint(0, extra) if extra else 0)
            if category == "公共电费" and month.month in (1, 7, 8, 12):
                fen = fen * 13 // 10  # heating and air conditioning seasons
            out.append(
                self.spend(
                    on_day(month, day),
                    account,
                    category,
                    party,
                    fen,
                    f"{item}, {month:%Y-%m}",
                    f"{month.month}月{memo}",
                )
            )
        for _ in range(self.rng.choice((0, 0, 1, 1, 2))):
            memo, item, lo, hi = self.rng.choice(REPAIRS)
            when = on_day(month, self.rng.randint(3, 26))
            fen = self.rng.randint(lo, hi) // 100 * 100
            out.append(self.spend(when, "Expenses:Repairs", "维修", REPAIRER, fen, item, memo))
        return out

    def fund_repair(self, month: dt.date) -> Draft:
        item = "Roof waterproofing of building 5 (special maintenance fund)"
        memo = "5号楼屋面防水维修（经业主大会表决同意使用专项维修资金）"
        return self.spend(
            on_day(month, 18),
            "Expenses:MaintenanceFund",
            "专项维修资金",
            ROOFER,
            18_640_000,
            item,
            memo,
            bank=FUND,
        )

    def double_booking(self, month: dt.date, cleaning: Draft) -> list[Draft]:
        """The cleaning invoice booked a second time, then reversed (nothing is edited)."""
        dup = replace(cleaning, keys=self.co_signers(), tag="duplicate")

        def reversal(seqs: dict[str, int]) -> dict[str, Any]:
            return {"target": seqs["duplicate"], "reason": "重复入账，冲销"}

        memo = f"{month.month}月保洁服务费发票重复入账，予以冲销"
        day = cleaning.date + dt.timedelta(days=3)
        return [dup, Draft(day, "reversal", reversal, self.co_signers(), memo)]

    def supervisor_report(self, month: dt.date) -> Draft:
        """The trust supervisor's quarterly inspection, disclosed as a document."""
        end, code = on_day(month, 28), f"{month.year}Q{quarter(month)}"
        pdf = report_pdf(DEMO_NAME_EN, end.isoformat(), code, "Wang Liqun")
        voucher = self.voucher(f"信托监察人检查意见-{code}.pdf", pdf)
        period = f"{month.year}年第{quarter(month)}季度"
        body = {"title": f"信托监察人{period}检查意见", "doc_type": "other"}
        memo = f"{period}账目、凭证与共管账户对账检查意见"
        return Draft(end, "document", body, (self.keys["supervisor"],), memo, (voucher,))


def existing_size(svc: LedgerService, estate: str) -> int | None:
    with svc.session() as s:
        row = s.get(EstateRow, estate)
        return None if row is None else row.size


def seed(
    svc: LedgerService,
    data_dir: Path,
    *,
    months: int = 12,
    today: dt.date,
    households: int = 480,
    estate: str = DEMO_ESTATE,
) -> tuple[int, bool]:
    """Seed the demo estate for the ``months`` complete months before ``today``.

    Idempotent: if the estate exists, nothing is added. Returns (log size, created).
    ``estate`` is another id for the same books (tests keep apart in a shared database).
    """
    size = existing_size(svc, estate)
    if size is not None:
        return size, False
    seeder = Seeder(svc, demo_keys(Path(data_dir)), households, estate)
    covered = covered_months(today, months)
    seeder.genesis(covered[0])
    seeder.post(seeder.setup(covered[0]))
    for index, month in enumerate(covered):
        seeder.post(seeder.month(index, month, len(covered)))
    return seeder.size, True
