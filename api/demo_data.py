"""The demo estate's fixed facts: people, chart of accounts, suppliers, schedule, homes.

Everything here is fictional (companies, names, the estate itself) but shaped like a
real trust-model estate in 常州: contract prices, a fixed trustee remuneration, fee
rates in 元/m², common-part income, and homes numbered building-unit-room.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.signing import AuthorKey

DEMO_ESTATE = "shifan-garden"
DEMO_NAME = "示范花园小区"
DEMO_NAME_EN = "Shifan Garden, Changzhou"
DEMO_ADDRESS = "江苏省常州市新北区示范路 188 号"
FEE_RATE = 210  # fen per m² and month (2.10 元/m²)
REMUNERATION = 1_100_000  # fen a month: the trustee's fixed 酬金
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
    ("Expenses:Security", "秩序维护", GUARD, 10, 2_880_000, 0,
     "Security services", "秩序维护服务费"),
    ("Expenses:ElevatorMaintenance", "电梯维保", LIFTS, 12, 1_008_000, 0,
     "Maintenance of 24 elevators", "电梯维保费"),
    ("Expenses:PublicUtilities", "公共电费", POWER, 15, 620_000, 180_000,
     "Electricity for common parts", "公共区域电费"),
    ("Expenses:PublicUtilities", "公共水费", WATER, 16, 150_000, 110_000,
     "Water for common parts", "公共区域水费"),
    ("Expenses:Staff", "人员工资", STAFF, 25, 2_350_000, 80_000,
     "Payroll of the service centre", "服务中心人员工资"),
    ("Expenses:TrusteeRemuneration", "物业酬金", TRUSTEE, 28, REMUNERATION, 0,
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
QUARTERS_START, QUARTERS_END, EVERY_MONTH = (1, 4, 7, 10), (3, 6, 9, 12), tuple(range(1, 13))
# Income from common parts (民法典第282条) and bank interest, booked by the trustee:
# account, payer, day, fen range, rounded to, memo ({y} year, {m} month, {q} quarter),
# months of the year, bank account credited
INCOME = (
    ("Income:Public:Parking", "临时停车收费（月度汇总）", 5, (1_150_000, 1_650_000), 100,
     "{m}月临时停车收费", EVERY_MONTH, BANK),
    ("Income:Public:ElevatorAds", "常州楼视界广告传媒有限公司", 10, (360_000, 360_000), 1,
     "{m}月电梯广告位租金", EVERY_MONTH, BANK),
    ("Income:Public:VenueRent", "常州邻邦智能快递柜运营有限公司", 12, (180_000, 180_000), 1,
     "快递柜场地租金（{y}年第{q}季度）", QUARTERS_START, BANK),
    ("Income:Interest", "开户银行（季度结息）", 21, (80_000, 120_000), 1,
     "{y}年第{q}季度共管账户存款利息", QUARTERS_END, BANK),
    ("Income:Interest", "开户银行（季度结息）", 21, (190_000, 215_000), 1,
     "{y}年第{q}季度专项维修资金存款利息", QUARTERS_END, FUND),
)  # fmt: skip
EVENTS = ("常州悦邻社区商业管理有限公司", "中心广场商家促销活动场地租赁", (60_000, 150_000))
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
    salt: tuple[str, bytes, str] | None = None  # (commitment, salt, unit) of a fee receipt
    tag: str = ""  # a name later drafts of the same batch use to find this one's seq


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
        profile = (
            "prepaid" if r < 0.03 else "never" if r < 0.05 else "late" if r < 0.13 else "prompt"
        )
        unit_id = f"{building + 1}-{unit + 1}-{floor + 1}{door + 1:02d}"
        homes.append(Home(unit_id, (area * FEE_RATE + 50) // 100, profile))
    return homes


def quarter(month: dt.date) -> int:
    return (month.month - 1) // 3 + 1


def postings(debit: str, credit: str, fen: int) -> list[dict[str, Any]]:
    return [{"account": debit, "amount": fen}, {"account": credit, "amount": -fen}]


def transaction(debit: str, credit: str, fen: int, party: str, category: str) -> dict[str, Any]:
    """A transaction body with two postings: ``fen`` from ``credit`` to ``debit``."""
    return {"postings": postings(debit, credit, fen), "counterparty": party, "category": category}
