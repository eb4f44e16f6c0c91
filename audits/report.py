"""Rendering an audit: JSON for machines, a rich summary for people, an HTML report to hand over.

Every string that comes from the log (memos, names, counterparties end up in
messages and evidence) is treated as hostile: the HTML escapes all of it
(:func:`html.escape`), the terminal prints it as plain text (never rich markup).

What it does not: decide anything about the findings.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audits.findings import CHECKS, Finding
from audits.run import AuditReport

FORMAT = "trustledger-audit/v1"
SEVERITY_ZH = {"error": "错误", "warning": "警告"}
SHOWN = 50
"""Findings printed in the terminal summary (all are in --json and --html)."""


def to_json(report: AuditReport) -> dict[str, Any]:
    """The report as one JSON document (``format`` names its shape)."""
    return {
        "format": FORMAT,
        "clean": report.clean,
        "source": {"kind": report.source, "location": report.location},
        "started_at": report.started_at,
        "seconds": round(report.seconds, 3),
        "workers": report.workers,
        "estates": [
            {
                "estate": e.estate,
                "size": e.size,
                "checkpoint_size": e.checkpoint_size,
                "root": e.root,
                "findings": e.findings,
                "seconds": round(e.seconds, 3),
                "rejudged": e.rejudged,
            }
            for e in report.estates
        ],
        "findings": [f.to_json() for f in report.findings],
    }


def _where(f: Finding) -> str:
    return "—" if f.seq is None else str(f.seq)


def print_summary(report: AuditReport, console: Console) -> None:
    """A table per estate, then the first findings, as plain text."""
    table = Table(title=f"trustledger audit · {report.source} · {report.location}")
    for col in ("estate", "entries", "checkpoint", "root (recomputed)", "findings", "seconds"):
        table.add_column(col)
    for e in report.estates:
        table.add_row(
            Text(e.estate),
            str(e.size),
            "—" if e.checkpoint_size is None else str(e.checkpoint_size),
            Text(e.root or "—"),
            Text(str(e.findings), style="bold red" if e.findings else "green"),
            f"{e.seconds:.2f}",
        )
    console.print(table)
    if report.clean:
        console.print(Text("clean: no findings (审计通过，未发现问题)", style="bold green"))
        return
    by_check = Counter(f.check for f in report.findings)
    counts = ", ".join(f"{c} {n}" for c, n in by_check.most_common())
    console.print(Text(f"{len(report.findings)} findings (发现问题): {counts}", style="bold red"))
    listing = Table(show_lines=False)
    for col in ("estate", "seq", "check", "severity", "message"):
        listing.add_column(col)
    for f in report.findings[:SHOWN]:
        listing.add_row(Text(f.estate), _where(f), Text(f.check), f.severity, Text(f.message))
    console.print(listing)
    if len(report.findings) > SHOWN:
        console.print(Text(f"… {len(report.findings) - SHOWN} more; see --json or --html"))


_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC",sans-serif;
margin:2em auto;max-width:70em;color:#222;line-height:1.5}
h1{border-bottom:3px solid #333}table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #bbb;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#eee}.ok{color:#17692b;font-weight:bold}.bad{color:#a11;font-weight:bold}
pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:.85em}
.error td.sev{color:#a11}.warning td.sev{color:#a60}code{word-break:break-all}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rows(cells: Iterable[Iterable[object]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in cells)


def _findings_html(findings: Iterable[Finding]) -> str:
    out = []
    for f in findings:
        evidence = json.dumps(dict(f.evidence), ensure_ascii=False, indent=1, default=str)
        out.append(
            f'<tr class="{_e(f.severity)}"><td>{_e(f.estate)}</td><td>{_e(_where(f))}</td>'
            f"<td>{_e(CHECKS.get(f.check, f.check))}<br><code>{_e(f.check)}</code></td>"
            f'<td class="sev">{_e(SEVERITY_ZH.get(f.severity, f.severity))}</td>'
            f"<td>{_e(f.message)}</td><td><pre>{_e(evidence)}</pre></td></tr>"
        )
    return "".join(out)


def render_html(report: AuditReport) -> str:
    """A standalone HTML report (Chinese headings, inline CSS, every value escaped)."""
    verdict = (
        '<p class="ok">审计通过：未发现问题。</p>'
        if report.clean
        else f'<p class="bad">发现问题 {len(report.findings)} 项，详见下表。</p>'
    )
    estates = _rows(
        (
            e.estate,
            e.size,
            "—" if e.checkpoint_size is None else e.checkpoint_size,
            e.root or "—",
            e.findings,
        )
        for e in report.estates
    )
    checks = _rows((title, code) for code, title in CHECKS.items())
    findings = _findings_html(report.findings) or '<tr><td colspan="6">无</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>审计报告 · trustledger</title><style>{_CSS}</style></head><body>
<h1>审计报告</h1>
<h2>审计结论</h2>{verdict}
<h2>审计范围</h2>
<table><tr><th>数据来源</th><td>{_e(report.source)}</td></tr>
<tr><th>位置</th><td>{_e(report.location)}</td></tr>
<tr><th>开始时间（UTC）</th><td>{_e(report.started_at)}</td></tr>
<tr><th>用时（秒）</th><td>{report.seconds:.2f}</td></tr></table>
<h2>小区与账本</h2>
<table><tr><th>小区</th><th>记录数</th><th>最新检查点</th><th>重算根哈希</th><th>发现数</th></tr>
{estates}</table>
<h2>发现的问题</h2>
<table><tr><th>小区</th><th>记录号</th><th>检查项目</th><th>严重程度</th><th>说明</th><th>证据</th></tr>
{findings}</table>
<h2>检查项目</h2>
<table><tr><th>项目</th><th>代码</th></tr>{checks}</table>
<h2>如何复核</h2>
<p>任何人都可以用 <code>trustledger audit --url …</code>（公开接口）或
<code>trustledger audit --bundle …</code>（导出的审计包）独立重算以上结果：
哈希链、每条记录的规范编码与签名、默克尔树、每个签名检查点。</p>
</body></html>
"""
