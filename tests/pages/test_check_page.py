"""The check page a statement's QR code opens, at phone size in Chromium.

A genuine earlier checkpoint (stored in the database) must say ok; a forged root, a
size beyond the log, malformed parameters, a tampered consistency proof or
checkpoint, and a key history that does not end with the published key must say
failed. With WebCrypto Ed25519 disabled the bundled fallback must give the same ok.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.pages.conftest import Phone, Site
from tests.pages.test_js_verifier import DISABLE_WEBCRYPTO_ED25519


def b64url(root: bytes, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(root).decode()
    return text if padded else text.rstrip("=")


def earlier(site: Site) -> tuple[int, bytes]:
    """A stored checkpoint strictly older than the latest (as a statement would hold)."""
    stored = site.checkpoints()
    assert len(stored) >= 3
    return stored[len(stored) // 2]


def check_path(site: Site, size: Any, root: str) -> str:
    return f"/e/{site.estate}/check?size={size}&root={root}"


def test_genuine_earlier_checkpoint_is_ok(phone: Phone, site: Site) -> None:
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "ok"
    text = phone.page.inner_text("#verdict")
    assert "本公示与账本一致" in text
    checks = phone.page.inner_text("#checks")
    assert "检查点签名有效" in checks
    assert f"{size} → {site.size()}" in checks
    assert "/log-key" in checks  # says where the key came from
    assert phone.page.get_attribute("html", "data-ed25519") == "webcrypto"
    phone.screenshot("check-ok")


def test_padded_root_and_latest_size_are_ok(phone: Phone, site: Site) -> None:
    size = site.size()
    phone.goto(check_path(site, size, b64url(site.root(size), padded=True)))
    assert phone.verdict() == "ok"
    assert "直接比较根哈希" in phone.page.inner_text("#checks")


def test_forged_root_fails(phone: Phone, site: Site) -> None:
    size, root = earlier(site)
    forged = bytes([root[0] ^ 1]) + root[1:]
    phone.goto(check_path(site, size, b64url(forged)))
    assert phone.verdict() == "failed"
    assert "警告：本公示与账本不一致" in phone.page.inner_text("#verdict")
    phone.screenshot("check-forged")


def test_forged_root_at_the_latest_size_fails(phone: Phone, site: Site) -> None:
    phone.goto(check_path(site, site.size(), b64url(bytes(32))))
    assert phone.verdict() == "failed"


def test_statement_newer_than_the_log_fails_as_a_rollback(phone: Phone, site: Site) -> None:
    phone.goto(check_path(site, site.size() + 5, b64url(bytes(32))))
    assert phone.verdict() == "failed"
    assert "服务器可能回滚了" in phone.page.inner_text("#verdict")


@pytest.mark.parametrize(
    ("size", "root"),
    [
        ("abc", "A" * 43),
        ("0", "A" * 43),
        ("-3", "A" * 43),
        ("012", "A" * 43),
        ("10", "not*base64"),
        ("10", "AAAA"),
        ("10", ""),
        ("", ""),
        ("99999999999999999999", "A" * 43),
        ("1" * 300, "A" * 500),
    ],
)
def test_malformed_parameters_fail_clearly(phone: Phone, site: Site, size: str, root: str) -> None:
    phone.goto(check_path(site, size, root))
    assert phone.verdict() == "failed"
    assert "二维码中的检查点无效" in phone.page.inner_text("#verdict")


def _tamper_json(phone: Phone, pattern: str, change: Any) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        body = change(json.loads(response.text()))
        route.fulfill(response=response, body=json.dumps(body))

    phone.page.route(pattern, handle)


def test_a_bad_consistency_proof_fails(phone: Phone, site: Site) -> None:
    def flip(body: dict[str, Any]) -> dict[str, Any]:
        first = bytearray(base64.b64decode(body["hashes"][0]))
        first[5] ^= 0x10
        body["hashes"][0] = base64.b64encode(bytes(first)).decode()
        return body

    _tamper_json(phone, "**/proofs/consistency*", flip)
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "failed"
    assert "警告" in phone.page.inner_text("#verdict")


def test_a_truncated_consistency_proof_fails(phone: Phone, site: Site) -> None:
    _tamper_json(phone, "**/proofs/consistency*", lambda b: {**b, "hashes": b["hashes"][:-1]})
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "failed"


def test_a_forged_checkpoint_fails(phone: Phone, site: Site) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        lines = response.text().split("\n")
        lines[1] = str(int(lines[1]) + 1)  # claim one more entry under the old signature
        route.fulfill(response=response, body="\n".join(lines))

    phone.page.route("**/checkpoint", handle)
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "failed"
    assert "does not verify" in phone.page.inner_text("#checks")


def test_a_key_history_not_ending_with_the_published_key_fails(phone: Phone, site: Site) -> None:
    def other_key(body: dict[str, Any]) -> dict[str, Any]:
        body["keys"].append({**body["keys"][-1], "vkey": "someone+00000000+AQ=="})
        return body

    _tamper_json(phone, "**/log-keys", other_key)
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "failed"


def test_fallback_verifier_without_webcrypto_ed25519(phone: Phone, site: Site) -> None:
    phone.page.add_init_script(DISABLE_WEBCRYPTO_ED25519)
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "ok"
    assert phone.page.get_attribute("html", "data-ed25519") == "fallback"
    assert "随页面提供的备用验证库" in phone.page.inner_text("#checks")
    assert any("/static/vendor/noble-ed25519/index.js" in u for u in phone.requests)


def test_fallback_verifier_rejects_a_forged_checkpoint(phone: Phone, site: Site) -> None:
    phone.page.add_init_script(DISABLE_WEBCRYPTO_ED25519)

    def handle(route: Any) -> None:
        response = route.fetch()
        lines = response.text().split("\n")
        lines[2] = base64.b64encode(bytes(32)).decode()
        route.fulfill(response=response, body="\n".join(lines))

    phone.page.route("**/checkpoint", handle)
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)))
    assert phone.verdict() == "failed"
    assert phone.page.get_attribute("html", "data-ed25519") == "fallback"


def test_check_page_in_english(phone: Phone, site: Site) -> None:
    size, root = earlier(site)
    phone.goto(check_path(site, size, b64url(root)) + "&lang=en")
    assert phone.verdict() == "ok"
    assert "This statement matches the ledger" in phone.page.inner_text("#verdict")
    phone.screenshot("check-ok-en")
