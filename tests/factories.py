"""Factories for tests: an estate with its authors' keys, and signed payloads for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from api.payloads import genesis_body, payload, sign
from ledger.signing import AuthorKey
from ledger.storage.appender import Appended, SignedPayload
from ledger.storage.service import LedgerService

DAY = dt.date(2026, 10, 15)
BANK = "Assets:Bank:CoManaged"
CHART = [
    (BANK, "asset", "共管账户"),
    ("Income:PropertyFee", "income", "物业费收入"),
    ("Income:Public:Parking", "income", "停车收益"),
    ("Expenses:Cleaning", "expense", "保洁"),
    ("Expenses:TrusteeRemuneration", "expense", "物业酬金"),
    ("Equity:Opening", "equity", "期初权益"),
]


@dataclass
class EstateFactory:
    service: LedgerService
    id: str
    operator: AuthorKey = field(default_factory=AuthorKey.generate)
    committee: AuthorKey = field(default_factory=AuthorKey.generate)
    committee2: AuthorKey = field(default_factory=AuthorKey.generate)
    trustee: AuthorKey = field(default_factory=AuthorKey.generate)
    supervisor: AuthorKey = field(default_factory=AuthorKey.generate)

    @classmethod
    def create(
        cls, service: LedgerService, estate_id: str, *, accounts: bool = True
    ) -> EstateFactory:
        f = cls(service, estate_id)
        f.service.create_estate(f.genesis())
        if accounts:
            f.append(*[f.open_account(n, t, z) for n, t, z in CHART])
        return f

    def genesis(self) -> SignedPayload:
        body = genesis_body(
            "测试小区",
            "常州市测试路 1 号",
            100,
            [
                (self.operator.public_key, "operator", "平台"),
                (self.committee.public_key, "committee", "业委会 张三"),
                (self.committee2.public_key, "committee", "业委会 李四"),
                (self.trustee.public_key, "trustee", "某物业公司"),
                (self.supervisor.public_key, "supervisor", "信托监察人"),
            ],
        )
        return sign(payload(self.id, "genesis", body, date=DAY), [self.operator])

    def raw(self, kind: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        kw.setdefault("date", DAY)
        return payload(self.id, kind, body, **kw)

    def signed(self, kind: str, body: dict[str, Any], *keys: AuthorKey, **kw: Any) -> SignedPayload:
        return sign(self.raw(kind, body, **kw), keys or [self.committee])

    def open_account(self, name: str, type_: str, display: str) -> SignedPayload:
        body = {"action": "open", "name": name, "type": type_, "display_name": display}
        return self.signed("account", body, self.committee)

    def income(self, fen: int, account: str = "Income:PropertyFee", **kw: Any) -> SignedPayload:
        body = {
            "postings": [{"account": BANK, "amount": fen}, {"account": account, "amount": -fen}],
            "counterparty": "业主",
            "category": "物业费",
        }
        return self.signed("transaction", body, self.trustee, **kw)

    def spend(
        self, fen: int, *keys: AuthorKey, account: str = "Expenses:Cleaning"
    ) -> SignedPayload:
        body = {
            "postings": [{"account": BANK, "amount": -fen}, {"account": account, "amount": fen}],
            "counterparty": "常州某保洁服务有限公司",
            "category": "保洁",
        }
        return self.signed("transaction", body, *(keys or (self.trustee, self.committee)))

    def append(self, *items: SignedPayload) -> list[Appended]:
        return self.service.append(self.id, list(items))
