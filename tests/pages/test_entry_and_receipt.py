"""The entry page's verify button and the household receipt page, in Chromium at phone size.

Also: free texts (memo, counterparty, category, account and voucher names) that carry
markup are shown as text and never run, and the receipt code never enters the URL.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.pages.conftest import EVIL, XSS_ESTATE, Phone, Site
from tests.pages.test_js_verifier import DISABLE_WEBCRYPTO_ED25519


def spend_seq(site: Site) -> int:
    """A co-signed payment with an invoice voucher in the demo estate."""
    with site.service.reader(site.estate) as r:
        for seq, leaf in r.leaves(0, 1000):
            entry = json.loads(leaf)
            if entry["payload"].get("vouchers") and entry["payload"]["kind"] == "transaction":
                return seq
    raise AssertionError("the demo has payments with vouchers")


def test_entry_verify_button_proves_inclusion(phone: Phone, site: Site) -> None:
    seq = spend_seq(site)
    phone.goto(f"/e/{site.estate}/entries/{seq}")
    page = phone.page
    assert "受托人（物业公司）" in page.inner_text("main")  # who signed, by role
    assert "业委会" in page.inner_text("main")
    page.click("#verify")
    assert phone.verdict() == "ok"
    checks = page.inner_text("#checks")
    assert f"第 {seq} 条" in checks and "通过" in checks
    assert "页面显示的日期、金额、对方与说明与已证明的记录一致" in checks
    phone.screenshot("entry-verified")


def test_entry_verify_with_the_fallback_verifier(phone: Phone, site: Site) -> None:
    phone.page.add_init_script(DISABLE_WEBCRYPTO_ED25519)
    phone.goto(f"/e/{site.estate}/entries/3")
    phone.page.click("#verify")
    assert phone.verdict() == "ok"
    assert phone.page.get_attribute("html", "data-ed25519") == "fallback"


def test_entry_verify_fails_on_a_bad_inclusion_proof(phone: Phone, site: Site) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        body = json.loads(response.text())
        body["hashes"] = list(reversed(body["hashes"]))
        route.fulfill(response=response, body=json.dumps(body))

    phone.page.route("**/proofs/inclusion*", handle)
    phone.goto(f"/e/{site.estate}/entries/{spend_seq(site)}")
    phone.page.click("#verify")
    assert phone.verdict() == "failed"
    assert "警告" in phone.page.inner_text("#verdict")


def test_entry_verify_fails_when_the_page_differs_from_the_leaf(phone: Phone, site: Site) -> None:
    seq = spend_seq(site)
    phone.goto(f"/e/{site.estate}/entries/{seq}")
    phone.page.evaluate(  # a server lying in its HTML but serving the true leaf
        "document.querySelector('[data-posting]').dataset.amount = '1'"
    )
    phone.page.click("#verify")
    assert phone.verdict() == "failed"
    assert "postings" in phone.page.inner_text("#checks")


def test_reversals_link_both_ways(phone: Phone, site: Site) -> None:
    with site.service.reader(site.estate) as r:
        reversal = next(
            (seq, json.loads(leaf)["payload"]["body"]["target"])
            for seq, leaf in r.leaves(0, 1000)
            if json.loads(leaf)["payload"]["kind"] == "reversal"
        )
    seq, target = reversal
    phone.goto(f"/e/{site.estate}/entries/{seq}")
    assert f"本条冲销第 {target} 条" in phone.page.inner_text("main")
    phone.page.click(f"text=本条冲销第 {target} 条")
    assert f"本条已被第 {seq} 条冲销" in phone.page.inner_text("main")
    phone.page.click("#verify")
    assert phone.verdict() == "ok"
    phone.screenshot("entry-reversed")


def test_receipt_page_proves_a_household_payment(phone: Phone, site: Site) -> None:
    phone.goto(f"/e/{site.estate}/receipt")
    phone.page.fill("#code", site.receipt_code)
    phone.page.click("#receipt-form button[type=submit]")
    assert phone.verdict() == "ok"
    text = phone.page.inner_text("#verdict")
    assert "已证明：这笔缴费已记入账本" in text
    assert f"第 {site.receipt_seq} 条" in text
    assert "由核对码算出的住户凭据与记录中的一致" in phone.page.inner_text("#checks")
    assert site.receipt_code not in phone.page.url
    phone.screenshot("receipt-ok")


def test_receipt_page_rejects_a_wrong_code(phone: Phone, site: Site) -> None:
    phone.allow_error("404")  # the browser logs the API's 404 for the wrong code
    seq, salt, unit = site.receipt_code.split("-", 2)
    wrong = f"{seq}-{salt[:-1]}{'a' if salt[-1] != 'a' else 'q'}-{unit}"
    phone.goto(f"/e/{site.estate}/receipt")
    phone.page.fill("#code", wrong)
    phone.page.click("#receipt-form button[type=submit]")
    assert phone.verdict() == "failed"
    assert "没有与此核对码相符的缴费记录" in phone.page.inner_text("#verdict")
    phone.page.fill("#code", "not a code")
    phone.page.click("#receipt-form button[type=submit]")
    assert phone.verdict() == "failed"
    phone.screenshot("receipt-wrong")


def test_receipt_page_rejects_a_proof_for_another_household(phone: Phone, site: Site) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        body = json.loads(response.text())
        entry = json.loads(base64.b64decode(body["leaf"]))
        entry["payload"]["body"]["household"] = base64.b64encode(bytes(32)).decode()
        body["leaf"] = base64.b64encode(json.dumps(entry).encode()).decode()
        route.fulfill(response=response, body=json.dumps(body))

    phone.page.route("**/receipts/*", handle)
    phone.goto(f"/e/{site.estate}/receipt")
    phone.page.fill("#code", site.receipt_code)
    phone.page.click("#receipt-form button[type=submit]")
    assert phone.verdict() == "failed"


def test_receipt_form_without_javascript_answers_unverified(site: Site) -> None:
    url = site.url(f"/e/{site.estate}/receipt")
    ok = httpx.post(url, data={"code": site.receipt_code})
    assert ok.status_code == 200 and f"第 {site.receipt_seq} 条" in ok.text
    assert "未在本机验证" in ok.text
    wrong = httpx.post(url, data={"code": "1-abc-1"})
    assert wrong.status_code == 200 and "没有与此核对码相符的缴费记录" in wrong.text


def test_markup_in_free_texts_is_shown_as_text_and_never_runs(phone: Phone, site: Site) -> None:
    phone.page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError("a dialog opened")))
    for path in (
        f"/e/{XSS_ESTATE}",
        f"/e/{XSS_ESTATE}/transactions",
        f"/e/{XSS_ESTATE}/transactions?q=%3Cimg",
        f"/e/{XSS_ESTATE}/entries/{site.xss_seq}",
    ):
        phone.goto(path)
        phone.page.wait_for_load_state("networkidle")
        assert phone.page.evaluate("window.__xss") is None, path
        assert phone.page.locator("main img, main script").count() == 0, path
    main = phone.page.inner_text("main")
    assert EVIL in main  # memo, counterparty and voucher name, literally
    assert "已撤回（第" in main and "凭证含住户个人信息" + EVIL in main  # and why
    assert phone.page.locator("main a[download]").count() == 0  # no link to withdrawn bytes
    assert "停车<img src=x onerror=window.__xss=3>" in main
    phone.page.click("#verify")
    assert phone.verdict() == "ok"  # the proven leaf matches the escaped page text
    assert phone.page.evaluate("window.__xss") is None
    phone.screenshot("entry-markup-inert")
