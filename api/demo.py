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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.demo_pdf import contract_pdf, invoice_pdf, minutes_pdf, report_pdf
from api.payloads import genesis_body, payload, sign
from ledger.canonical import b64encode
from ledger.signing import AuthorKey
from ledger.storage.keyfiles import load_author_key, save_author_key
from ledger.storage.models import EstateRow
from ledger.storage.service import LedgerService

DEMO_ESTATE = "shifan-garden"
DEMO_NAME = "示范花园小区"
DEMO_NAME_EN = "Shifan Garden, Changzhou"
DEMO_ADDRESS = "江苏省常州市新北区示范路 188 号"
RANDOM_SEED = 20261126
FEE_RATE = 210  # fen per m² and month (2.10 元/m²)
PAYER_EN = "Owners of Shifan Garden (co-managed trust account)"

KEYS = (  # key file stem, role, holder shown in the log
    ("operator", "operator", "常州市信托制物业服务平台（运营方）"),
    ("committee-1", "committee", "业委会主任 周建华"),
    ("committee-2", "committee", "业委会委员 陈晓梅"),
    ("trustee", "trustee", "常州澄和物业服务有限公司"),
    ("supervisor", "supervisor", "信托监察人 王立群"),
)

BANK = "Assets:Bank:CoManaged"
FUND = "Assets:Bank:MaintenanceFund"
FEES = "Income:PropertyFee"
PREPAID = "Liabilities:PrepaidFees"
CHART = (
    (BANK, "asset", "共管账户"),
    (FUND, "asset", "专项维修资金账户"),
    (PREPAID, "liability", "预收物业费"),
    ("Equity:Opening", "equity", "期初权益"),
    (FEES, "income", "物业费收入"),
    ("Income:Public:Parking", "income", "停车收益"),
    ("Income:Public:ElevatorAds", "income", "电梯广告收益"),
    ("Income:Public:VenueRent", "income", "场地租赁收益"),
    ("Income:Interest", "income", "利息收入"),
    ("Expenses:Cleaning", "expense", "保洁"),
    ("Expenses:Greening", "expense", "绿化"),
    ("Expenses:Security", "expense", "秩序维护"),
    ("Expenses:ElevatorMaintenance", "expense", "电梯维保"),
    ("Expenses:PublicUtilities", "expense", "公共水电"),
    ("Expenses:Repairs", "expense", "维修"),
    ("Expenses:Staff", "expense", "人员工资"),
    ("Expenses:TrusteeRemuneration", "expense", "物业酬金"),
    ("Expenses:MaintenanceFund", "expense", "专项维修资金支出"),
)

Party = tuple[str, str]  # (Chinese name in the log, English name on the voucher PDF)
TRUSTEE: Party = ("常州澄和物业服务有限公司", "Changzhou Chenghe Property Services Co., Ltd.")
CLEANER: Party = ("常州洁诚保洁服务有限公司", "Changzhou Jiecheng Cleaning Services Co., Ltd.")
GREENER: Party = ("常州青禾园林绿化工程有限公司", "Changzhou Qinghe Landscaping Co., Ltd.")
GUARD: Party = ("常州安盾保安服务有限公司", "Changzhou Andun Security Services Co., Ltd.")
LIFTS: Party = ("常州迅升电梯工程有限公司", "Changzhou Xunsheng Elevator Engineering Co., Ltd.")
POWER: Party = ("常州城北供电服务有限公司", "Changzhou Chengbei Power Supply Services Co., Ltd.")
WATER: Party = ("常州清源供水服务有限公司", "Changzhou Qingyuan Water Supply Services Co., Ltd.")
STAFF: Party = ("示范花园物业服务中心员工（工资代发）", "Staff of the estate service centre")
REPAIRER: Party = ("常州匠心房屋维修有限公司", "Changzhou Jiangxin Building Repair Co., Ltd.")
ROOFER: Party = ("常州固安防水工程有限公司", "Changzhou Gu'an Waterproofing Engineering Co., Ltd.")

# account, category, payee, day, base fen, random extra fen, item on the invoice, memo
MONTHLY = (
    ("Expenses:Cleaning", "保洁", CLEANER, 8, 1_560_000, 0, "Cleaning services", "保洁服务费"),
    ("Expenses:Greening", "绿化", GREENER, 9, 620_000, 0, "Greening and landscaping", "绿化养护费"),
    ("Expenses:Security", "秩序维护", GUARD, 10, 2_880_000, 0, "Security services", "秩序维护服务费"),
    ("Expenses:ElevatorMaintenance", "电梯维保", LIFTS, 12, 1_008_000, 0,
     "Maintenance of 24 elevators", "电梯维保费"),
    ("Expenses:PublicUtilities", "公共电费", POWER, 15, 620_000, 180_000,
     "Electricity for common parts", "公共区域电费"),
    ("Expenses:PublicUtilities", "公共水费", WATER, 16, 150_000, 110_000,
     "Water for common parts", "公共区域水费"),
    ("Expenses:Staff", "人员工资", STAFF, 25, 2_350_000, 80_000,
     "Payroll of the service centre", "服务中心人员工资"),
    ("Expenses:TrusteeRemuneration", "物业酬金", TRUSTEE, 28, 1_100_000, 0,
     "Trustee remuneration (fixed by contract)", "物业酬金（合同约定固定酬金）"),
)  # fmt: skip
REPAIRS = (  # memo, item on the invoice, fen range
    ("单元门禁系统维修", "Repair of unit door access system", 38_000, 260_000),
    ("地下车库照明灯具更换", "Replacement of garage lights", 120_000, 480_000),
    ("雨污水管道疏通", "Clearing of drain pipes", 60_000, 220_000),
    ("儿童游乐设施维修", "Repair of playground equipment", 80_000, 350_000),
    ("楼道墙面修补粉刷", "Repainting of stairwell walls", 150_000, 680_000),
    ("监控摄像头更换", "Replacement of CCTV cameras", 90_000, 320_000),
)
BUDGET_EXTRA = {  # annual budget lines not derived from MONTHLY
    "Income:Public:Parking": 16_800_000,
    "Income:Public:ElevatorAds": 4_320_000,
    "Income:Public:VenueRent": 900_000,
    "Income:Interest": 1_200_000,
    "Expenses:Repairs": 4_800_000,
    "Expenses:MaintenanceFund": 20_000_000,
}


@dataclass
class Home:
    unit: str  # building-unit-room, e.g. "3-2-501"; never enters the log in clear
    fee: int  # fen a month
    profile: str  # prompt | late | never | prepaid
    owed: int = 0  # months due and not paid
    prepaid: int = 0  # months paid in advance and not yet earned


@dataclass
class Draft:
    """An entry before signing; ``body`` may need the seqs of tagged drafts before it."""

    date: dt.date
    kind: str
    body: dict[str, Any] | Callable[[dict[str, int]], dict[str, Any]]
    keys: tuple[AuthorKey, ...]
    memo: str = ""
    vouchers: tuple[dict[str, Any], ...] = ()
    salt: tuple[str, bytes, str] | None = None
    tag: str = ""


def covered_months(today: dt.date, months: int) -> list[dt.date]:
    """First days of the ``months`` complete calendar months before ``today``, oldest first."""
    return [add_months(today, -n) for n in range(months, 0, -1)]


def add_months(day: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def on_day(month: dt.date, day: int) -> dt.date:
    last = (add_months(month, 1) - dt.timedelta(days=1)).day
    return month.replace(day=min(day, last))


def make_homes(rng: random.Random, count: int) -> list[Home]:
    """Units building-unit-room (2 units a building, 10 floors, 2 doors a floor)."""
    homes = []
    for n in range(count):
        building, rest = divmod(n, 40)
        unit, rest = divmod(rest, 20)
        floor, door = divmod(rest, 2)
        area = rng.randint(8000, 14000)  # 0.01 m²
        r = rng.random()
        profile = "prepaid" if r < 0.03 else "never" if r < 0.05 else "late" if r < 0.13 else "prompt"
        unit_id = f"{building + 1}-{unit + 1}-{floor + 1}{door + 1:02d}"
        homes.append(Home(unit_id, (area * FEE_RATE + 50) // 100, profile))
    return homes


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


def postings(debit: str, credit: str, fen: int) -> list[dict[str, Any]]:
    return [{"account": debit, "amount": fen}, {"account": credit, "amount": -fen}]


class Seeder:
    def __init__(self, svc: LedgerService, keys: dict[str, AuthorKey], households: int) -> None:
        self.svc = svc
        self.keys = keys
        self.rng = random.Random(RANDOM_SEED)  # noqa: S311 (demo data, not security)
        self.households = households
        self.homes = make_homes(self.rng, households)
        self.size = 0
        self.invoices = 0

    # -- posting --------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def genesis(self, day: dt.date) -> None:
        founders = [(self.keys[stem].public_key, role, holder) for stem, role, holder in KEYS]
        body = genesis_body(DEMO_NAME, DEMO_ADDRESS, self.households, founders)
        raw = payload(DEMO_ESTATE, "genesis", body, date=day, id=self.new_id(),
                      memo="示范花园小区信托制物业账本创立")  # fmt: skip
        self.size = self.svc.create_estate(sign(raw, [self.keys["operator"]])).entry.seq + 1

    def post(self, drafts: list[Draft]) -> None:
        """Sign the drafts in date order and append them as one atomic batch."""
        seqs: dict[str, int] = {}
        items, salts = [], []
        for i, d in enumerate(sorted(drafts, key=lambda d: d.date)):
            if d.tag:
                seqs[d.tag] = self.size + i
            body = d.body(seqs) if callable(d.body) else d.body
            raw = payload(DEMO_ESTATE, d.kind, body, date=d.date, memo=d.memo,
                          vouchers=d.vouchers, id=self.new_id())  # fmt: skip
            items.append(sign(raw, d.keys))
            if d.salt is not None:
                salts.append(d.salt)
        appended = self.svc.append(DEMO_ESTATE, items, salts=salts)
        self.size = appended[-1].entry.seq + 1

    def voucher(self, name: str, data: bytes) -> dict[str, Any]:
        sha = hashlib.sha256(data).hexdigest()
        self.svc.blobs.put(sha, data)
        return {"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": name}

    def co_signers(self) -> tuple[AuthorKey, ...]:
        committee = self.keys[self.rng.choice(("committee-1", "committee-2"))]
        return (self.keys["trustee"], committee)

    # -- kinds of drafts ------------------------------------------------------------

    def income(
        self, day: dt.date, account: str, category: str, party: str, fen: int, memo: str,
        bank: str = BANK,
    ) -> Draft:  # fmt: skip
        body = {"postings": postings(bank, account, fen), "counterparty": party,
                "category": category}  # fmt: skip
        return Draft(day, "transaction", body, (self.keys["trustee"],), memo)

    def spend(
        self, day: dt.date, account: str, category: str, party: Party, fen: int, item: str,
        memo: str, bank: str = BANK,
    ) -> Draft:  # fmt: skip
        self.invoices += 1
        number = f"{day:%Y-%m}-{self.invoices:04d}"
        pdf = invoice_pdf(number, day.isoformat(), party[1], item, fen, PAYER_EN)
        voucher = self.voucher(f"{category}发票-{day:%Y-%m}.pdf", pdf)
        body = {"postings": postings(account, bank, fen), "counterparty": party[0],
                "category": category}  # fmt: skip
        return Draft(day, "transaction", body, self.co_signers(), memo, (voucher,))

    def receipt(self, day: dt.date, home: Home, months: int, prepay: bool = False) -> Draft:
        commitment, salt, unit = household_commitment(home.unit)
        credit = PREPAID if prepay else FEES
        body = {"postings": postings(BANK, credit, home.fee * months), "counterparty": "业主",
                "category": "预收物业费" if prepay else "物业费", "household": commitment}  # fmt: skip
        if prepay:
            memo = f"预交{months}个月物业费（{day.year}年{day.month}月起）"
        elif months == 1:
            memo = f"{day.year}年{day.month}月物业费"
        else:
            first = add_months(day, 1 - months)  # the oldest month in arrears
            memo = f"{first.year}年{first.month}月至{day.year}年{day.month}月物业费（补缴）"
        return Draft(day, "transaction", body, (self.keys["trustee"],), memo,
                     salt=(commitment, salt, unit))  # fmt: skip
