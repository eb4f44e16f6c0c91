"""Every fixed string of the printed statement, one dict per language.

Chinese (``zh``) is the language of the notice board; English (``en``) is for
outside readers. The figures' own words (estate name, categories, account display
names, memos) come from the statement and are printed as they are. Strings with
``{…}`` are ``str.format`` templates.
"""

from __future__ import annotations

from typing import Final

from ledger.errors import InvalidInput

ZH: Final[dict[str, str]] = {
    "html_lang": "zh-CN",
    "colon": "：",
    "title": "{estate}收支公示",
    "subtitle": "{period} · 第 {number} 号",
    "period_month": "{year}年{month}月",
    "period_quarter": "{year}年第{quarter}季度",
    "period_year": "{year}年度",
    "page": "第 {page} / {pages} 页",
    "header_checkpoint": "账本检查点 {size} · {root}…",
    "legal": (
        "依据《民法典》第二百八十一条、第二百八十二条、第九百四十三条及《信托法》"
        "第二十条、第三十三条公示。金额单位：元。"
    ),
    "address": "地址",
    "households": "户数",
    "span": "期间",
    "issued_at": "生成时间（UTC）",
    "supersedes": "本公示更正第 {number} 号公示（其检查点：{size} 条，根哈希 {root}）。",
    "summary": "概要",
    "trust_opening": "共管账户期初余额",
    "trust_closing": "共管账户期末余额",
    "income_total": "收入合计",
    "group_fees": "物业费",
    "group_public": "公共收益",
    "group_interest": "利息",
    "group_other": "其他",
    "public_note": "公共收益属全体业主（《民法典》第二百八十二条）",
    "spending_total": "支出合计",
    "remuneration": "物业酬金（受托人报酬）",
    "collection_rate": "物业费收缴率",
    "collection_detail": "{paid} 户次已缴 / 应缴 {due} 户 × {months} 个月",
    "chart": "收支分类",
    "chart_income": "收入",
    "chart_spending": "支出",
    "verify": "扫码核验",
    "verify_instruction": "用手机扫码，核验本公示与账本是否一致",
    "verify_explain": (
        "本公示依据账本前 {size} 条记录生成。扫码打开的网页会检查当前账本是否为该检查点的一致延续；"
        "账本若被改写，核验即失败。"
    ),
    "tree_size": "账本条数（检查点）",
    "root": "根哈希（base64）",
    "vkey": "账本验证公钥",
    "check_url": "核验网址",
    "signed_note": "本文件带有数字签名；JSON 公示由账本密钥另行签名。",
    "accounts": "科目余额",
    "account": "科目",
    "opening": "期初余额",
    "debits": "本期借方",
    "credits": "本期贷方",
    "closing": "期末余额",
    "accounts_note": "收入、负债、权益类科目的余额按贷方余额显示为正数。",
    "income": "收入明细",
    "spending": "支出明细",
    "category": "类别",
    "amount": "金额",
    "total": "合计",
    "none": "本期无",
    "budget": "预算执行",
    "budget_note": "{year} 年度预算（第 {seq} 条），按 {months} 个月折算。",
    "budget_none": "账本中没有本年度的预算。",
    "annual": "年度预算",
    "budget_period": "本期预算",
    "actual": "本期实际",
    "variance": "差额",
    "fund": "专项维修资金",
    "fund_note": "专项维修资金的筹集、使用情况依《民法典》第二百八十一条公布。",
    "fund_none": "本小区账本未设专项维修资金账户。",
    "fund_opening": "期初余额",
    "fund_inflow": "本期流入",
    "fund_outflow": "本期流出",
    "fund_closing": "期末余额",
    "fund_accounts": "账户",
    "lines": "交易明细",
    "lines_note": "物业费收款按日汇总，逐笔明细见 JSON 公示及网页。",
    "lines_count": "本期共 {count} 条记录，其中物业费收款 {receipts} 笔。",
    "date": "日期",
    "seq": "序号",
    "party_memo": "对方 / 摘要",
    "trust": "共管账户",
    "vouchers": "凭证",
    "receipts_day": "业主缴费 {count} 笔（按日汇总）",
    "reverses": "冲销 #{seq}",
    "reversed_by": "已被 #{seq} 冲销",
    "reversal": "冲销",
}

EN: Final[dict[str, str]] = {
    "html_lang": "en",
    "colon": ": ",
    "title": "{estate}: statement of accounts",
    "subtitle": "{period} · No. {number}",
    "period_month": "{month_name} {year}",
    "period_quarter": "Q{quarter} {year}",
    "period_year": "Year {year}",
    "page": "Page {page} of {pages}",
    "header_checkpoint": "Checkpoint {size} · {root}…",
    "legal": (
        "Published under arts. 281, 282 and 943 of the Civil Code and arts. 20 and 33 "
        "of the Trust Law of the PRC. Amounts in yuan (CNY)."
    ),
    "address": "Address",
    "households": "Households",
    "span": "Period",
    "issued_at": "Issued (UTC)",
    "supersedes": (
        "This statement corrects statement No. {number} (its checkpoint: {size} entries, "
        "root {root})."
    ),
    "summary": "Summary",
    "trust_opening": "Co-managed account, opening balance",
    "trust_closing": "Co-managed account, closing balance",
    "income_total": "Income, total",
    "group_fees": "Property fees",
    "group_public": "Common-part revenue",
    "group_interest": "Interest",
    "group_other": "Other",
    "public_note": "Revenue from common parts belongs to all owners (Civil Code art. 282)",
    "spending_total": "Spending, total",
    "remuneration": "Trustee remuneration",
    "collection_rate": "Fee collection rate",
    "collection_detail": "{paid} payments / {due} households × {months} months",
    "chart": "By category",
    "chart_income": "Income",
    "chart_spending": "Spending",
    "verify": "Verify this statement",
    "verify_instruction": "Scan with a phone to check this statement against the live ledger",
    "verify_explain": (
        "Computed from the first {size} entries of the ledger. The page the code opens checks "
        "that the live ledger is a consistent extension of that checkpoint; if the ledger were "
        "rewritten, the check would fail."
    ),
    "tree_size": "Ledger entries (checkpoint)",
    "root": "Root hash (base64)",
    "vkey": "Ledger verifier key",
    "check_url": "Check URL",
    "signed_note": "This file is digitally signed; the JSON statement is signed by the log key.",
    "accounts": "Account balances",
    "account": "Account",
    "opening": "Opening",
    "debits": "Debits",
    "credits": "Credits",
    "closing": "Closing",
    "accounts_note": "Income, liability and equity balances are shown as positive credit balances.",
    "income": "Income by category",
    "spending": "Spending by category",
    "category": "Category",
    "amount": "Amount",
    "total": "Total",
    "none": "None in this period",
    "budget": "Budget vs. actual",
    "budget_note": "Budget for {year} (entry {seq}), prorated to {months} month(s).",
    "budget_none": "The ledger holds no budget for this year.",
    "annual": "Annual budget",
    "budget_period": "Budget",
    "actual": "Actual",
    "variance": "Variance",
    "fund": "Special maintenance fund",
    "fund_note": "Raising and use of the maintenance fund, published under Civil Code art. 281.",
    "fund_none": "This estate's ledger has no maintenance fund account.",
    "fund_opening": "Opening",
    "fund_inflow": "Inflow",
    "fund_outflow": "Outflow",
    "fund_closing": "Closing",
    "fund_accounts": "Accounts",
    "lines": "Transactions",
    "lines_note": (
        "Property fee receipts are summarised per day; each receipt is listed in the JSON "
        "statement and on the web page."
    ),
    "lines_count": "{count} entries in the period, {receipts} of them property fee receipts.",
    "date": "Date",
    "seq": "No.",
    "party_memo": "Counterparty / memo",
    "trust": "Co-managed",
    "vouchers": "Vouchers",
    "receipts_day": "{count} fee receipts (daily total)",
    "reverses": "reverses #{seq}",
    "reversed_by": "reversed by #{seq}",
    "reversal": "Reversal",
}

LABELS: Final[dict[str, dict[str, str]]] = {"zh": ZH, "en": EN}
LANGUAGES: Final = tuple(LABELS)

MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` (``zh`` or ``en``); anything else is an error, not a fallback."""
    try:
        return LABELS[lang]
    except KeyError:
        raise InvalidInput(
            f"unknown statement language {lang!r}; choose zh or en", field="lang"
        ) from None
