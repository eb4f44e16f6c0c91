"""Messages for people at the command line, in Chinese (default) and English.

Each ledger error has a stable ``code``; here each code gets a short Chinese title
shown before the detail, so that a committee member sees what went wrong in their
language while the technical detail stays exact.
"""

from __future__ import annotations

import os

TITLES_ZH = {
    "invalid-input": "输入格式有误",
    "invalid-text": "文本含有无效字符",
    "not-nfc": "文本未按 Unicode NFC 规范化",
    "invalid-amount": "金额无效（须为整数“分”）",
    "unknown-kind": "未知的记账类型",
    "wrong-estate": "载荷属于其他小区",
    "invalid-signature": "签名无效",
    "unknown-key": "签名密钥未在本小区登记",
    "revoked-key": "签名密钥已被吊销",
    "duplicate-signature": "同一密钥重复签名",
    "missing-signature": "缺少必要的签名",
    "unbalanced-postings": "借贷不平衡",
    "unknown-account": "科目不存在或已关闭",
    "account-state": "科目状态不允许此操作",
    "invalid-reversal": "冲销无效",
    "id-conflict": "同一编号已有不同内容",
    "not-found": "未找到",
    "missing-voucher": "引用的凭证尚未上传",
    "log-state": "账本状态不允许此操作",
    "proof-error": "证明无效",
    "root-mismatch": "根哈希不一致",
    "bad-note": "签名检查点无效",
    "period-not-closed": "该期间尚未结束",
    "statement-invalid": "公示核验未通过",
    "voucher-store-unavailable": "凭证存储暂时不可用",
    "ca-error": "证书操作被拒绝",
    "ca-exists": "平台 CA 已存在（不会被替换）",
    "ca-missing": "尚未创建平台 CA",
    "estate-cert-missing": "该小区尚无公示签名证书",
    "estate-cert-invalid": "该小区的公示签名证书不可用",
}

TITLES_EN = {code: code.replace("-", " ") for code in TITLES_ZH}

TEXT = {
    "zh": {
        "error": "错误",
        "ok": "完成",
        "verify_ok": "验证通过：{estate} 共 {size} 条记录，哈希链、默克尔树与签名检查点均一致。",
        "verify_fail": "验证失败：{estate}：{detail}",
        "appended": "已记入账本：第 {seq} 条（{kind}）",
        "repeated": "此前已记入：第 {seq} 条（重复提交，未重复记账）",
        "proposed": "已提交待会签：{id}（状态：{status}）",
        "signed_only": "已签名并写入 {out}，请交另一方会签。",
        "keygen": "已生成密钥 {key_id}（{name}），私钥文件 {out}（仅本人可读），公钥文件 {pub}",
        "init": "数据库已就绪：{url}",
        "estate_created": "已创建小区 {estate}，验证公钥：{vkey}",
        "demo_done": "演示小区 {estate} 已就绪：{size} 条记录。",
        "demo_exists": "演示小区 {estate} 已存在（{size} 条记录），未重复生成。",
        "key_rotated": "已更换 {estate} 的日志密钥（自第 {size} 条起生效），新验证公钥：{vkey}",
        "token_created": "已创建运营令牌 {id}（{name}）。令牌只显示这一次，请妥善保存：",
        "token_revoked": "已吊销运营令牌 {id}（{name}）",
        "statement_usage": "请给出 --estate、--period 和 --out（或用 statement verify 文件）",
        "statement_lang": "--lang 只能是 zh 或 en",
        "statement_json": "公示 JSON 已写入 {path}（第 {number} 版，依据账本前 {size} 条记录）",
        "statement_pdf": "公示 PDF 已写入 {path}",
        "statement_ok": "核验通过：{estate} {period} 的公示与账本一致。",
        "statement_bad": "核验未通过：{estate} {period} 的公示有问题（见上方 ✗ 项）。",
    },
    "en": {
        "error": "error",
        "ok": "done",
        "verify_ok": (
            "verified: {estate}, {size} entries; "
            "hash chain, Merkle tree and signed checkpoint agree."
        ),
        "verify_fail": "verification failed: {estate}: {detail}",
        "appended": "appended as entry {seq} ({kind})",
        "repeated": "already in the log as entry {seq} (a repeated post; nothing appended twice)",
        "proposed": "proposal {id} submitted (status: {status})",
        "signed_only": "signed and written to {out}; hand it to the other side to co-sign.",
        "keygen": "created key {key_id} ({name}); private key {out} (owner-only), public key {pub}",
        "init": "database ready: {url}",
        "estate_created": "created estate {estate}; log verifier key: {vkey}",
        "demo_done": "demo estate {estate} is ready: {size} entries.",
        "demo_exists": "demo estate {estate} already exists ({size} entries); nothing added.",
        "key_rotated": "rotated the log key of {estate} at size {size}; new verifier key: {vkey}",
        "token_created": "created operator token {id} ({name}); it is shown only this once:",
        "token_revoked": "revoked operator token {id} ({name})",
        "statement_usage": "give --estate, --period and --out (or: statement verify FILE)",
        "statement_lang": "--lang must be zh or en",
        "statement_json": "statement JSON written to {path} (number {number}, from the first "
        "{size} entries of the log)",
        "statement_pdf": "statement PDF written to {path}",
        "statement_ok": "verified: the statement of {estate} {period} matches the log.",
        "statement_bad": "NOT verified: the statement of {estate} {period} fails (see ✗ above).",
    },
}


def lang() -> str:
    value = os.environ.get("TRUSTLEDGER_LANG", "zh")
    return "en" if value.lower().startswith("en") else "zh"


def say(key: str, **values: object) -> str:
    return TEXT[lang()][key].format(**values)


def error_title(code: str) -> str:
    table = TITLES_ZH if lang() == "zh" else TITLES_EN
    return table.get(code, code)
