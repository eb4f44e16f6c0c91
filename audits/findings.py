"""Findings: what an audit reports, one per break, with the evidence behind it.

A :class:`Finding` names the estate, the entry (``seq``) when it concerns one, the
check that found it, its severity, a one-line message a person understands, and
the evidence (expected against found, hashes in hex or base64) an expert needs to
confirm it by hand. :class:`FindingSink` collects them with a cap per check, so a
single break that every later entry inherits cannot fill memory.

What it does not: decide anything. Checks (``audits.checks*``) make findings; the
report (``audits.report``) renders them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

CHECKS: Mapping[str, str] = {
    "leaf": "记录编码",
    "chain": "哈希链",
    "signatures": "作者签名",
    "policy": "签名规则（共管）",
    "double-entry": "复式记账",
    "reversals": "冲销",
    "rules": "记账规则",
    "budgets": "预算",
    "vouchers": "凭证",
    "tree-hash": "默克尔树哈希",
    "checkpoint-signature": "检查点签名",
    "checkpoint-root": "检查点根哈希",
    "checkpoint-order": "检查点顺序",
    "checkpoint-consistency": "检查点一致性",
    "checkpoint-coverage": "检查点覆盖",
    "checkpoint-row": "检查点存储列",
    "log-key": "日志公钥",
    "derived-entries": "派生数据：记录表",
    "derived-postings": "派生数据：分录表",
    "derived-facts": "派生数据：查询事实表",
    "derived-vouchers": "派生数据：凭证引用表",
    "derived-keys": "派生数据：密钥表",
    "derived-accounts": "派生数据：科目表",
    "derived-reversals": "派生数据：冲销表",
    "derived-redactions": "派生数据：撤回表",
    "derived-estate": "派生数据：小区表",
    "derived-totals": "派生数据：分期合计表",
    "statements": "公示报表",
    "api": "公开接口数据",
    "bank-unmatched": "银行流水未入账",
    "ledger-unmatched": "账本记录不在银行流水中",
    "bank-balance": "银行与账本逐日差异",
    "audit": "审计过程",
}
"""Every check name a finding can carry, with its Chinese title for reports."""

MAX_PER_CHECK = 1000
"""Findings kept per (estate, check); the rest are counted in one summary finding."""


@dataclass(frozen=True)
class Finding:
    """One break found by an audit.

    Attributes:
        estate: the estate's id.
        seq: the entry concerned, or None when the finding concerns no single entry
            (a checkpoint, a table, the log as a whole).
        check: the name of the check (a key of :data:`CHECKS`).
        severity: ``error`` (the books or their proofs are broken) or ``warning``
            (something an auditor should look at, e.g. a budget without minutes).
        message: one line for a person.
        evidence: expected against found values (hashes hex or base64), sizes, keys.
    """

    estate: str
    seq: int | None
    check: str
    severity: Severity
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "estate": self.estate,
            "seq": self.seq,
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "evidence": dict(self.evidence),
        }


def error(estate: str, seq: int | None, check: str, message: str, /, **evidence: Any) -> Finding:
    """An error finding (a shorthand used by every check)."""
    return Finding(estate, seq, check, "error", message, evidence)


def warning(estate: str, seq: int | None, check: str, message: str, /, **evidence: Any) -> Finding:
    """A warning finding."""
    return Finding(estate, seq, check, "warning", message, evidence)


@dataclass
class FindingSink:
    """Collects findings in arrival order, keeping at most ``cap`` per (estate, check).

    Mutable on purpose: one sink per audit run. :meth:`findings` adds, per
    capped check, one summary finding saying how many more there were.
    """

    cap: int = MAX_PER_CHECK
    kept: list[Finding] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    worst: dict[tuple[str, str], Severity] = field(default_factory=dict)

    def add(self, items: Iterable[Finding]) -> None:
        for f in items:
            key = (f.estate, f.check)
            self.counts[key] += 1
            if f.severity == "error" or key not in self.worst:
                self.worst[key] = f.severity
            if self.counts[key] <= self.cap:
                self.kept.append(f)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def findings(self) -> list[Finding]:
        return [*self.kept, *self._overflow()]

    def _overflow(self) -> Iterator[Finding]:
        for (estate, check), n in self.counts.items():
            if n > self.cap:
                yield Finding(
                    estate,
                    None,
                    check,
                    self.worst[(estate, check)],
                    f"{n - self.cap} more findings of this check are not listed",
                    {"total": n, "listed": self.cap},
                )
