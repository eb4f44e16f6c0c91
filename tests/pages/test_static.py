"""The pages' sources and headers, without a browser.

Templates carry no inline script, style or event handler (the CSP forbids them);
scripts never write markup from data; the vendored fallback crypto is byte-for-byte
what scripts/vendor-js.sh installed from npm; both message catalogs have the same
keys and every key used exists; every page answers with the security headers.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from api.pages.messages import CATALOG, EN, ZH, js_messages
from ledger.payload import KINDS
from ledger.policy import ROLES
from tests.pages.conftest import Site

API = Path(__file__).resolve().parents[2] / "api"
TEMPLATES = sorted((API / "templates").glob("*.html"))
SCRIPTS = sorted((API / "static" / "js").glob("*.js"))
VENDOR = API / "static" / "vendor"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_inline_code_or_style(path: Path) -> None:
    html = path.read_text()
    assert not re.search(r"\sstyle\s*=", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    assert not re.search(r"<style", html, re.I)
    assert "|safe" not in html and "Markup(" not in html and "autoescape false" not in html
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "javascript:" not in html.lower()


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_turn_data_into_markup(path: Path) -> None:
    js = path.read_text()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function"):  # fmt: skip
        assert banned not in js, banned
    assert not re.search(r"https?://", js), "no absolute URLs: nothing from another host"


def test_vendored_files_match_their_manifest() -> None:
    manifest = (VENDOR / "MANIFEST.sha256").read_text().splitlines()
    listed = {}
    for line in manifest:
        digest, name = line.split(maxsplit=1)
        listed[name.removeprefix("./")] = digest
    present = {
        str(p.relative_to(VENDOR)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name != "MANIFEST.sha256"
    }
    assert present == listed
    assert "noble-ed25519/LICENSE" in present and "noble-hashes/LICENSE" in present


def test_catalogs_have_the_same_keys_and_every_used_key_exists() -> None:
    assert set(ZH) == set(EN)
    for lang in CATALOG:
        for key, value in CATALOG[lang].items():
            assert value.strip(), (lang, key)
    used = set()
    for path in TEMPLATES:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.-]+)["']""", path.read_text()))
    assert {f"kind.{k}" for k in KINDS} | {f"role.{r}" for r in ROLES} <= set(ZH)
    prefixes = {k for k in used if k.endswith(".")}  # "kind." ~ entry.kind and the like
    assert all(any(z.startswith(p) for z in ZH) for p in prefixes)
    assert used - prefixes <= set(ZH), used - prefixes - set(ZH)
    js_used = set()
    for path in SCRIPTS:
        js_used |= set(re.findall(r"""\bt\(\s*["`]([\w-]+)["`]""", path.read_text()))
    assert js_used and js_used <= set(js_messages("zh")), js_used - set(js_messages("zh"))


def test_every_page_answers_with_the_security_headers(site: Site) -> None:
    e = site.estate
    for path in (
        "/",
        f"/e/{e}",
        f"/e/{e}/transactions",
        f"/e/{e}/transactions/rows",
        f"/e/{e}/entries/1",
        f"/e/{e}/statements",
        f"/e/{e}/check?size=1&root=x",
        f"/e/{e}/receipt",
        "/e/nope",
    ):
        r = httpx.get(site.url(path))
        assert r.headers["content-type"].startswith("text/html"), path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
        assert "unsafe" not in csp
        assert r.headers["x-frame-options"] == "DENY"
    assert httpx.get(site.url("/static/js/check.js")).headers["cache-control"] == "no-cache"


def test_pages_stay_out_of_the_openapi_document(site: Site) -> None:
    paths = httpx.get(site.url("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/e/")]


def test_bad_requests_are_pages_in_the_readers_language(site: Site) -> None:
    r = httpx.get(site.url(f"/e/{site.estate}/entries/-1"), cookies={"lang": "en"})
    assert r.status_code == 400 and "Bad request" in r.text
    r = httpx.get(site.url(f"/e/{site.estate}/entries/999999"))
    assert r.status_code == 404 and "没有找到" in r.text
    r = httpx.get(site.url(f"/e/{site.estate}/transactions?month=2026-13"))
    assert r.status_code == 200 and "筛选条件有误" in r.text
