"""The runner and its outputs: the process pool, the demo estate, JSON and HTML, a lying server."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.demo import seed
from audits.findings import Finding
from audits.report import render_html, to_json
from audits.run import AuditReport, EstateResult
from audits.sources import SourceError
from audits.url import UrlSource
from ledger.storage.service import LedgerService
from tests.audits.conftest import audit_service, pairs, populate, run_cli
from tests.audits.tampering import insider, leaf_of, sql
from tests.factories import EstateFactory


def test_pool_gives_the_inline_findings(estate: EstateFactory) -> None:
    seqs = populate(estate)
    svc = estate.service
    options: dict[str, Any] = {"estates": (estate.id,), "parallel_from": 0}
    assert audit_service(svc, workers=2, **options).clean
    k = seqs["spend"]
    with insider(svc) as conn:
        leaf = leaf_of(conn, estate.id, k).replace(b'"amount":30000', b'"amount":3000')
        sql(
            conn,
            "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s",
            l=leaf,
            e=estate.id,
            s=k,
        )
    inline = audit_service(svc, workers=1, **options)
    pooled = audit_service(svc, workers=2, **options)
    assert pooled.workers == 2 and not pooled.clean
    assert [f.to_json() for f in pooled.findings] == [f.to_json() for f in inline.findings]


def test_demo_estate_audits_clean(service: LedgerService, estate_id: str) -> None:
    size, created = seed(
        service, service.data_dir, months=2, today=dt.date(2026, 11, 26), estate=estate_id
    )
    assert created and size > 100
    code, report, output = run_cli(service, "audit", "--estate", estate_id, "--json")
    assert code == 0, output
    assert report is not None and report["estates"][0]["size"] == size


def hostile_report() -> AuditReport:
    memo = '<script>alert("x")</script>&'
    finding = Finding("e<1>", 3, "derived-facts", "error", f"memo is {memo!r}", {"memo": memo})
    estate = EstateResult("e<1>", 4, 4, "cm9vdA==", 1, 0.1)
    return AuditReport(
        "database", "sqlite:///<x>", "2026-11-26T00:00:00Z", 0.5, 1, (estate,), (finding,)
    )


def test_html_escapes_everything_and_has_chinese_headings() -> None:
    page = render_html(hostile_report())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "e<1>" not in page and "sqlite:///<x>" not in page
    for heading in ("审计报告", "发现的问题", "审计范围", "检查项目"):
        assert heading in page


def test_json_report_shape() -> None:
    doc = to_json(hostile_report())
    assert doc["format"] == "trustledger-audit/v1" and doc["clean"] is False
    assert doc["findings"][0]["evidence"]["memo"].startswith("<script>")
    json.dumps(doc)


def test_cli_writes_html(estate: EstateFactory, tmp_path: Path) -> None:
    populate(estate)
    out = tmp_path / "report.html"
    code, _, output = run_cli(estate.service, "audit", "--estate", estate.id, "--html", str(out))
    assert code == 0, output
    assert "审计通过" in out.read_text("utf-8")
    assert "clean" in output


def fake_server(routes: dict[str, httpx.Response]) -> UrlSource:
    def handle(request: httpx.Request) -> httpx.Response:
        return routes.get(request.url.path, httpx.Response(404))

    client = httpx.Client(base_url="http://fake", transport=httpx.MockTransport(handle))
    return UrlSource("http://fake", client=client)


def test_server_json_that_contradicts_its_leaf() -> None:
    leaf = b'{"seq":0}'
    page = {
        "entries": [{"seq": 0, "leaf": base64.b64encode(leaf).decode(), "entry": {"seq": 1}}],
        "next": None,
    }
    source = fake_server(
        {
            "/v1/estates/e/checkpoint": httpx.Response(200, text="o\n1\nroot\n\n— o sig\n"),
            "/v1/estates/e/entries": httpx.Response(200, json=page),
        }
    )
    assert list(source.leaf_batches("e")) == [[(0, leaf)]]
    assert pairs_of(source.anomalies("e")) == {("api", 0)}


def test_paging_that_does_not_advance_is_refused() -> None:
    leaf = base64.b64encode(b"{}").decode()
    page = {"entries": [{"seq": 0, "leaf": leaf, "entry": {}}], "next": 0}
    source = fake_server(
        {
            "/v1/estates/e/checkpoint": httpx.Response(200, text="o\n5\nroot\n\n— o sig\n"),
            "/v1/estates/e/entries": httpx.Response(200, json=page),
        }
    )
    with pytest.raises(SourceError):
        list(source.leaf_batches("e"))


def pairs_of(findings: list[Finding]) -> set[tuple[str, int | None]]:
    return {(f.check, f.seq) for f in findings}


def test_pairs_helper_accepts_objects() -> None:
    assert pairs(hostile_report()) == {("derived-facts", 3)}
