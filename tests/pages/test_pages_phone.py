"""Every resident page at phone size (360×740) in Chromium: loads cleanly, reads well.

No console errors, no horizontal scrolling, body type of at least 17 px, no request
to another host, the security headers on every page, a phone-size screenshot of each
(under tests/artifacts/pages/). Plus the language switch, reading without
JavaScript, infinite scrolling of transactions, and the estate page's first-load
weight (HTML, CSS and scripts; not the JSON the badge fetches afterwards).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.pages.conftest import ARTIFACTS, Phone, Site, new_phone

FIRST_LOAD_LIMIT = 150 * 1024


def pages(site: Site) -> dict[str, str]:
    e = site.estate
    return {
        "index": "/",
        "index-search": "/?q=示范",
        "estate": f"/e/{e}",
        "transactions": f"/e/{e}/transactions",
        "transactions-filtered": f"/e/{e}/transactions?category=保洁",
        "entry": f"/e/{e}/entries/40",
        "statements": f"/e/{e}/statements",
        "check": f"/e/{e}/check?size=1&root=AAAA",
        "receipt": f"/e/{e}/receipt",
        "not-found": "/e/no-such-estate",
    }


@pytest.mark.parametrize(
    "name",
    [
        "index",
        "index-search",
        "estate",
        "transactions",
        "transactions-filtered",
        "entry",
        "statements",
        "check",
        "receipt",
        "not-found",
    ],
)
def test_page_loads_cleanly_at_phone_size(phone: Phone, site: Site, name: str) -> None:
    if name == "not-found":
        phone.allow_error("404")  # the browser logs the page's own status
    response = phone.goto(pages(site)[name])
    assert response.status == (404 if name == "not-found" else 200)
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    phone.page.wait_for_load_state("networkidle")
    if phone.page.locator("[data-verify-status]:not([data-verify-status=idle])").count():
        phone.verdict("[data-verify-status]")
    metrics = phone.page.evaluate(
        """() => ({
          scroll: document.documentElement.scrollWidth,
          width: window.innerWidth,
          font: parseFloat(getComputedStyle(document.body).fontSize),
          lang: document.documentElement.lang,
        })"""
    )
    assert metrics["scroll"] <= metrics["width"], metrics
    assert metrics["font"] >= 17
    assert metrics["lang"] == "zh-CN"
    hosts = {urlparse(u).netloc for u in phone.requests if urlparse(u).scheme in ("http", "https")}
    assert hosts == {urlparse(site.base_url).netloc}
    phone.screenshot(name)


def test_estate_page_verifies_and_remembers(phone: Phone, site: Site) -> None:
    phone.goto(f"/e/{site.estate}")
    assert phone.verdict("#badge") == "ok"
    assert f"已在本机验证：共 {site.size()} 条记录" in phone.page.inner_text("#badge")
    assert "首次验证" in phone.page.inner_text("#badge")
    text = phone.page.inner_text("main")
    for heading in (
        "共管账户余额",
        "收支",
        "支出构成",
        "预算执行",
        "物业费收缴",
        "最新公示",
        "待会签",
    ):
        assert heading in text
    phone.page.reload()  # the second visit checks consistency with the first
    assert phone.verdict("#badge") == "ok"
    assert "与本机上次验证的" in phone.page.inner_text("#badge")


def test_estate_page_warns_when_the_log_shrank_since_last_visit(phone: Phone, site: Site) -> None:
    phone.goto(f"/e/{site.estate}")
    assert phone.verdict("#badge") == "ok"
    origin = f"trustledger.example/estates/{site.estate}"
    phone.page.evaluate(
        "([k, v]) => localStorage.setItem(k, v)",
        [
            f"trustledger:checkpoint:{origin}",
            json.dumps({"size": 100_000, "root": base64.b64encode(b"x" * 32).decode()}),
        ],
    )
    phone.page.reload()
    assert phone.verdict("#badge") == "failed"
    assert "回滚" in phone.page.inner_text("#badge")


def test_language_switch_sets_a_cookie(phone: Phone, site: Site) -> None:
    phone.goto(f"/e/{site.estate}")
    phone.page.click("a.lang")
    assert phone.page.get_attribute("html", "lang") == "en"
    assert "Trust account balance" in phone.page.inner_text("main")
    phone.goto(f"/e/{site.estate}/transactions")  # remembered without ?lang
    assert "Transactions" in phone.page.inner_text("h1")
    phone.page.wait_for_load_state("networkidle")
    phone.screenshot("transactions-en")
    phone.goto(f"/e/{site.estate}?lang=zh")
    assert phone.page.get_attribute("html", "lang") == "zh-CN"


def test_reading_works_without_javascript(browser: Any, site: Site) -> None:
    context, phone = new_phone(browser, site, java_script_enabled=False)
    try:
        phone.goto(f"/e/{site.estate}")
        assert "共管账户余额" in phone.page.inner_text("main")
        assert "浏览器未启用 JavaScript" in phone.page.inner_text("main")
        phone.screenshot("estate-nojs")
        phone.goto(f"/e/{site.estate}/transactions")
        first = phone.page.locator("#rows li").count()
        assert first == 50
        phone.page.click("#more")  # plain paging
        assert phone.page.locator("#rows li").count() == 50
        assert "cursor=" in phone.page.url
        phone.goto(f"/e/{site.estate}/entries/5")
        assert "第 5 条记录" in phone.page.inner_text("h1")
    finally:
        context.close()


def test_transactions_scroll_loads_more_and_filters_sum(phone: Phone, site: Site) -> None:
    phone.goto(f"/e/{site.estate}/transactions")
    rows = phone.page.locator("#rows li")
    assert rows.count() == 50
    phone.page.locator("#more").scroll_into_view_if_needed()
    rows.nth(50).wait_for()
    phone.page.locator("#more").scroll_into_view_if_needed()
    rows.nth(100).wait_for()
    seqs = phone.page.eval_on_selector_all(
        "#rows li a", "els => els.map(a => Number(a.href.split('/').pop()))"
    )
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    phone.goto(f"/e/{site.estate}/transactions?category=保洁")
    totals = phone.page.inner_text("#totals")
    api = json.loads(
        phone.page.evaluate(
            "async ([u]) => JSON.stringify(await (await fetch(u)).json())",
            [f"/v1/estates/{site.estate}/transactions?category=保洁&limit=1"],
        )
    )
    assert f"{api['sum']['count']} 条" in totals
    spending = api["sum"]["spending"]
    assert f"¥{spending // 100:,}.{spending % 100:02d}" in totals
    href = phone.page.get_attribute("#totals a[download]", "href")
    assert href.startswith(f"/v1/estates/{site.estate}/transactions.csv?")
    assert "category=" in href


def test_estate_first_load_is_under_150_kb(browser: Any, site: Site) -> None:
    context, phone = new_phone(browser, site)
    sizes: dict[str, int] = {}

    def record(response: Any) -> None:
        path = urlparse(response.url).path
        if path.startswith("/v1/"):
            return  # JSON the badge fetches after the page has loaded
        s = response.request.sizes()
        sizes[path] = s["responseBodySize"] + s["responseHeadersSize"]

    phone.page.on("response", record)
    try:
        phone.goto(f"/e/{site.estate}")
        assert phone.verdict("#badge") == "ok"
        total = sum(sizes.values())
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "first-load.json").write_text(
            json.dumps({"total_bytes": total, "files": sizes}, indent=2)
        )
        assert not any("/vendor/" in p for p in sizes)  # the fallback loads only if needed
        assert total < FIRST_LOAD_LIMIT, sizes
    finally:
        context.close()
