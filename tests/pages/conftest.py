"""Fixtures for the resident pages: the demo estate served by uvicorn, and Chromium.

``site`` (package) seeds three months of the demo estate 示范花园小区 on SQLite in a
temporary directory, adds a small estate whose memos, counterparties, account and
voucher names are HTML/JS payloads (``xss-estate``), and serves the app with
uvicorn on a free localhost port in a background thread (:mod:`tests.live`). ``browser`` is Debian's
Chromium driven by Playwright; ``phone`` is a fresh 360×740 page that records
console errors and every request, and fails the test on an unexpected console error.

Browser tests are skipped when /usr/bin/chromium is missing, unless
``TRUSTLEDGER_REQUIRE_BROWSER=1`` (CI), where they fail instead. Screenshots go to
``tests/artifacts/pages/`` (gitignored) or ``$TRUSTLEDGER_ARTIFACTS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.app import create_app
from api.demo import DEMO_ESTATE, seed
from api.payloads import payload, sign
from api.settings import Settings
from ledger.household import format_receipt_code
from ledger.signing import AuthorKey
from ledger.storage.keyfiles import load_author_key
from ledger.storage.models import EntryFactRow, HouseholdSaltRow
from ledger.storage.service import LedgerService
from tests.factories import EstateFactory
from tests.live import served

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 360, "height": 740}
XSS_ESTATE = "xss-estate"
EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
EVIL_SHORT = "<img src=x onerror=window.__xss=3>"  # fits a 64-character category
ARTIFACTS = Path(
    os.environ.get("TRUSTLEDGER_ARTIFACTS")
    or Path(__file__).resolve().parent.parent / "artifacts" / "pages"
)


@dataclass
class Site:
    base_url: str
    service: LedgerService
    estate: str
    receipt_code: str
    receipt_seq: int
    xss_seq: int
    data_dir: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def checkpoints(self) -> list[tuple[int, bytes]]:
        with self.service.reader(self.estate) as r:
            return [(c.size, c.root) for c in r.checkpoints()]

    def size(self) -> int:
        with self.service.reader(self.estate) as r:
            return r.size

    def root(self, size: int) -> bytes:
        with self.service.reader(self.estate) as r:
            return r.root(size)


def _receipt(svc: LedgerService, estate: str) -> tuple[str, int]:
    """A demo household's receipt code (the salt table is what its printed receipt holds)."""
    with svc.session() as s:
        row = s.execute(
            select(EntryFactRow.seq, HouseholdSaltRow.salt, HouseholdSaltRow.unit_id)
            .join(
                HouseholdSaltRow,
                (HouseholdSaltRow.estate_id == EntryFactRow.estate_id)
                & (HouseholdSaltRow.commitment == EntryFactRow.household),
            )
            .where(EntryFactRow.estate_id == estate)
            .order_by(EntryFactRow.seq.desc())
            .limit(1)
        ).one()
    return format_receipt_code(row.seq, row.salt, row.unit_id), row.seq


def _xss_estate(svc: LedgerService) -> int:
    """An estate whose free texts try to inject markup; returns the seq of the worst entry."""
    f = EstateFactory.create(svc, XSS_ESTATE)
    f.append(f.open_account("Income:Public:Evil", "income", "停车" + EVIL))
    pdf = b"%PDF-1.4\n% voucher\n%%EOF\n"
    sha = hashlib.sha256(pdf).hexdigest()
    svc.blobs_for(XSS_ESTATE).put(sha, pdf)
    voucher = {"sha256": sha, "media_type": "application/pdf", "size": len(pdf), "name": EVIL}
    body = {
        "postings": [
            {"account": "Assets:Bank:CoManaged", "amount": 12_300},
            {"account": "Income:Public:Evil", "amount": -12_300},
        ],
        "counterparty": "对方" + EVIL,
        "category": "停车" + EVIL_SHORT,
    }
    appended = f.append(
        f.signed("transaction", body, f.trustee, memo="备注" + EVIL, vouchers=[voucher])
    )
    withdraw = {"sha256": sha, "reason": "凭证含住户个人信息" + EVIL}
    f.append(f.signed("redaction", withdraw, f.committee, memo="撤回凭证"))
    return appended[0].entry.seq


def demo_key(data: Path, stem: str) -> AuthorKey:
    return load_author_key(data / "demo-keys" / f"{stem}.key")[0]


def _pending_spend(svc: LedgerService, data: Path) -> None:
    """A payment signed by the trustee only: it waits for the committee (a proposal)."""
    body = {
        "postings": [
            {"account": "Assets:Bank:CoManaged", "amount": -2_860_000},
            {"account": "Expenses:Repairs", "amount": 2_860_000},
        ],
        "counterparty": "常州迅升电梯工程有限公司",
        "category": "维修",
    }
    raw = payload(
        DEMO_ESTATE,
        "transaction",
        body,
        date=dt.date(2026, 11, 20),
        memo="3号楼2单元电梯更换曳引钢丝绳",
    )
    svc.propose(DEMO_ESTATE, sign(raw, [demo_key(data, "trustee")]))


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("pages")
    svc = LedgerService(f"sqlite:///{data / 'trustledger.db'}", data, "trustledger.example")
    svc.migrate()
    seed(svc, data, months=3, today=dt.date(2026, 11, 26), households=120)
    code, seq = _receipt(svc, DEMO_ESTATE)
    _pending_spend(svc, data)
    xss_seq = _xss_estate(svc)
    app = create_app(Settings(data_dir=data, write_rate=0), svc)
    with served(app) as base:
        yield Site(base, svc, DEMO_ESTATE, code, seq, xss_seq, data)
    svc.engine.dispose()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for this package's tests only: Playwright's sync API keeps an asyncio loop
    running on the main thread while it is open, which other packages' asyncio.run() (in
    pyHanko, for one) cannot share."""
    if not CHROMIUM.exists():
        if os.environ.get("TRUSTLEDGER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing but browser tests are required")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@dataclass
class Phone:
    """A page at phone size with what it logged and asked for."""

    page: Any
    site: Site
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.site.url(path))

    def allow_error(self, fragment: str) -> None:
        """An expected console error (e.g. the 404 a wrong receipt code gets)."""
        self.allowed.append(fragment)

    def verdict(self, selector: str = "#verdict", timeout: float = 20_000) -> str:
        """Wait until the element's data-verify-status is ok or failed; return it."""
        self.page.wait_for_selector(
            f'{selector}[data-verify-status="ok"], {selector}[data-verify-status="failed"]',
            timeout=timeout,
        )
        return str(self.page.get_attribute(selector, "data-verify-status"))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


def new_phone(browser: Any, site: Site, **options: Any) -> tuple[Any, Phone]:
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        **options,
    )
    page = context.new_page()
    phone = Phone(page, site)
    page.on("console", lambda m: phone.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: phone.errors.append(f"pageerror: {e}"))
    page.on("request", lambda r: phone.requests.append(r.url))
    return context, phone


@pytest.fixture
def phone(browser: Any, site: Site) -> Iterator[Phone]:
    context, p = new_phone(browser, site)
    yield p
    context.close()
    assert not p.unexpected_errors(), p.unexpected_errors()
