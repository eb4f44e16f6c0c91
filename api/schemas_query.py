"""Pydantic models of the query API's JSON (tag "queries"), for the OpenAPI document.

Money is integer fen everywhere (debit positive, Beancount's sign convention, unless
a field says otherwise); percentages are decimal strings; hashes are standard base64.
"""

from __future__ import annotations

from pydantic import Field

from api.schemas import Account, Strict


class PostingOut(Strict):
    account: str = Field(examples=["Expenses:Cleaning"])
    display_name: str = Field(examples=["保洁"])
    amount: int = Field(description="fen; debit positive")


class VoucherOut(Strict):
    sha256: str
    name: str = Field(examples=["保洁服务发票-2026-10.pdf"])


class TransactionOut(Strict):
    seq: int
    date: str = Field(examples=["2026-10-15"])
    kind: str = Field(description="`transaction` or `reversal`")
    category: str = Field(examples=["保洁"], description="`reversal` for a reversal")
    counterparty: str
    memo: str
    postings: list[PostingOut]
    amount: int = Field(description="fen; the sum of the entry's positive postings")
    trust_delta: int = Field(description="fen; the entry's change of the co-managed account")
    trust_balance: int = Field(
        description="fen; the co-managed account's balance after the entry, in log order"
    )
    vouchers: list[VoucherOut]
    leaf_hash: str = Field(description="base64 RFC 6962 leaf hash")
    reversed_by: int | None = Field(description="seq of the reversal cancelling this entry")
    reverses: int | None = Field(description="seq of the transaction this reversal cancels")


class TransactionSums(Strict):
    count: int = Field(description="matching transactions and reversals")
    income: int = Field(
        description="fen; net credit to Income:* by the matching entries (-Σ of those postings)"
    )
    spending: int = Field(
        description="fen; net debit to Expenses:* by the matching entries (Σ of those postings)"
    )
    net_trust: int = Field(description="fen; Σ trust_delta of the matching entries")


class TransactionPage(Strict):
    transactions: list[TransactionOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at end")
    sum: TransactionSums = Field(description="over the whole filtered range, not only this page")


class BalancesOut(Strict):
    date: str | None = Field(description="balances at the end of this day; null: now")
    size: int = Field(description="the log's size when read")
    accounts: list[Account]


class AccountAmount(Strict):
    account: str
    display_name: str
    amount: int = Field(description="fen; income as a positive credit, spending a positive debit")


class CategoryAmount(Strict):
    category: str
    amount: int


class TrustBalances(Strict):
    account: str = Field(examples=["Assets:Bank:CoManaged"])
    opening: int = Field(description="fen; at the end of the day before the period")
    closing: int = Field(description="fen; at the end of the period's last day")


class SummaryOut(Strict):
    period: str = Field(examples=["2026-Q4"])
    start: str = Field(examples=["2026-10-01"])
    end: str = Field(examples=["2026-12-31"])
    count: int = Field(description="transactions and reversals dated in the period")
    reversals: int = Field(description="of which reversals")
    income: int
    spending: int
    income_by_account: list[AccountAmount]
    spending_by_account: list[AccountAmount]
    income_by_category: list[CategoryAmount]
    spending_by_category: list[CategoryAmount]
    trust: TrustBalances


class BudgetLineOut(Strict):
    account: str
    display_name: str
    type: str
    budget: int = Field(description="fen")
    actual: int = Field(
        description="fen; postings dated in the year, credits positive for income accounts"
    )
    variance: int = Field(description="fen; actual - budget")
    percent_used: str | None = Field(
        examples=["87.5"], description="actual / budget in percent, one decimal; null for 0"
    )


class BudgetOut(Strict):
    year: int
    seq: int = Field(description="the latest budget entry for the year")
    date: str
    lines: list[BudgetLineOut]
    unbudgeted: list[BudgetLineOut] = Field(
        description="income and expense accounts with actuals in the year but no budget line"
    )


class InclusionOut(Strict):
    tree_size: int
    hashes: list[str] = Field(description="RFC 9162 audit path, base64")


class ReceiptOut(Strict):
    seq: int
    commitment: str = Field(description="base64 SHA-256(salt || unit id): the entry's household")
    date: str
    amount: int = Field(description="fen")
    leaf: str = Field(description="base64 of the entry's leaf bytes")
    reversed_by: int | None = Field(description="seq of a reversal cancelling the payment")
    inclusion: InclusionOut = Field(description="proof of the leaf in the checkpoint's tree")
    checkpoint: str = Field(description="the latest signed checkpoint (note text)")
