"""The demo estate: seeded on both engines, it verifies, follows every rule, and is idempotent.

Each test seeds two months under an estate id of its own (the PostgreSQL database is
shared by the whole session); the CLI test seeds the real ``shifan-garden`` into a
fresh SQLite data directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from api.demo import DEMO_ESTATE, seed
from api.demo_data import KEYS
from ledger.entry import Entry, parse_leaf
from ledger.payload import BANK_PREFIX, GenesisBody, ReversalBody, TransactionBody
from ledger.storage.keyfiles import load_author_key
from ledger.storage.models import HouseholdSaltRow
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate

TODAY = dt.date(2026, 11, 26)
MONTHS = 2
HOUSEHOLDS = 120  # a quarter of the real demo's, to keep the tests quick


@dataclass
class Demo:
    service: LedgerService
    data_dir: Path
    estate: str
    size: int

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        with self.service.reader(self.estate) as r:
            while len(out) < r.size:
                out += [parse_leaf(leaf) for _, leaf in r.leaves(len(out), 1000)]
        return out

    def roles(self) -> dict[str, str]:
        """key id -> role of the founding keys (the demo registers no others)."""
        with self.service.reader(self.estate) as r:
            return founders(parse_leaf(r.leaf(0)))


def founders(genesis: Entry) -> dict[str, str]:
    assert isinstance(genesis.payload.body, GenesisBody)
    return {k.key_id: k.role for k in genesis.payload.body.keys}


@pytest.fixture
def demo(service: LedgerService, tmp_path: Path) -> Demo:
    estate = f"demo-{uuid.uuid4().hex[:12]}"
    size, created = seed(
        service, tmp_path, months=MONTHS, today=TODAY, households=HOUSEHOLDS, estate=estate
    )
    assert created
    return Demo(service, tmp_path, estate, size)


def test_seed_creates_an_estate_that_verifies(demo: Demo) -> None:
    assert demo.estate in [e.id for e in demo.service.estates()]
    with demo.service.session() as s:
        result = verify_estate(s, demo.estate)
    assert result.tree.size == demo.size
    assert demo.size > MONTHS * HOUSEHOLDS * 0.8  # fee receipts and the rest


def test_seed_is_idempotent(demo: Demo) -> None:
    again = seed(demo.service, demo.data_dir, months=MONTHS, today=TODAY, estate=demo.estate)
    assert again == (demo.size, False)
    again = seed(demo.service, demo.data_dir, months=12, today=TODAY, estate=demo.estate)
    assert again == (demo.size, False)
    with demo.service.reader(demo.estate) as r:
        assert r.size == demo.size


def test_books_cover_the_months_before_today(demo: Demo) -> None:
    entries = demo.entries()
    kinds = {e.payload.kind for e in entries}
    assert kinds == {"genesis", "account", "transaction", "reversal", "budget", "document"}
    dates = {e.payload.date for e in entries}
    assert min(dates) == dt.date(2026, 9, 1)
    assert max(dates) <= dt.date(2026, 10, 31)
    assert all(e.payload.estate == demo.estate for e in entries)


def test_reversal_cancels_a_duplicate(demo: Demo) -> None:
    entries = demo.entries()
    reversals = [e for e in entries if e.payload.kind == "reversal"]
    assert reversals
    for rev in reversals:
        assert isinstance(rev.payload.body, ReversalBody)
        assert rev.payload.body.reason == "重复入账，冲销"
        target = entries[rev.payload.body.target]
        assert target.payload.kind == "transaction"
        twins = [
            e
            for e in entries[: target.seq]
            if e.payload.kind == "transaction" and e.payload.body == target.payload.body
        ]
        assert twins, "the reversed entry duplicates an earlier one"


def test_spending_is_signed_by_trustee_and_committee(demo: Demo) -> None:
    roles = demo.roles()
    spending = [
        e
        for e in demo.entries()
        if isinstance(e.payload.body, TransactionBody) and e.payload.body.bank_outflow
    ]
    assert len(spending) >= MONTHS * 8
    for e in spending:
        signers = {roles[s.key] for s in e.signatures}
        assert {"trustee", "committee"} <= signers, e.seq
        assert e.payload.vouchers, f"payment {e.seq} has no invoice"
    for e in demo.entries():
        if e.payload.kind == "reversal":
            assert {roles[s.key] for s in e.signatures} >= {"trustee", "committee"}


def test_every_voucher_is_stored_under_its_hash(demo: Demo) -> None:
    blobs = demo.service.blobs_for(demo.estate)
    seen = 0
    for e in demo.entries():
        for v in e.payload.vouchers:
            data = blobs.get(v.sha256)
            assert data is not None, f"voucher {v.name} of entry {e.seq} is missing"
            assert hashlib.sha256(data).hexdigest() == v.sha256
            assert len(data) == v.size
            assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
            seen += 1
    assert seen >= MONTHS * 8 + 2  # invoices, the contract, the budget minutes


def test_every_household_commitment_has_its_salt(demo: Demo) -> None:
    commitments = [
        e.payload.body.household
        for e in demo.entries()
        if isinstance(e.payload.body, TransactionBody) and e.payload.body.household is not None
    ]
    assert len(commitments) > MONTHS * HOUSEHOLDS * 0.8
    with demo.service.session() as s:
        rows = s.scalars(select(HouseholdSaltRow).where(HouseholdSaltRow.estate_id == demo.estate))
        salts = {r.commitment: (r.salt, r.unit_id) for r in rows}
    assert len(salts) == len(commitments)
    for c in commitments:
        salt, unit = salts[base64.b64encode(c).decode()]
        assert len(salt) == 16
        assert hashlib.sha256(salt + unit.encode()).digest() == c


def test_key_files_are_private_and_reused(demo: Demo) -> None:
    folder = demo.data_dir / "demo-keys"
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(f"{stem}.key" for stem, _, _ in KEYS)
    before = {}
    for name in files:
        assert (folder / name).stat().st_mode & 0o777 == 0o600
        key, holder, role = load_author_key(folder / name)
        before[name] = (folder / name).read_bytes()
        assert demo.roles()[key.key_id] == role and holder
    # the keys outlive a lost database: a new estate is founded by the same keys
    other = f"demo-{uuid.uuid4().hex[:12]}"
    seed(demo.service, demo.data_dir, months=1, today=TODAY, households=5, estate=other)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with demo.service.reader(other) as r:
        genesis = parse_leaf(r.leaf(0))
    assert founders(genesis) == demo.roles()


def test_transactions_balance_and_touch_the_bank_or_prepaid_fees(demo: Demo) -> None:
    for e in demo.entries():
        body = e.payload.body
        if isinstance(body, TransactionBody):
            assert sum(p.amount for p in body.postings) == 0
            assert any(p.account.startswith((BANK_PREFIX, "Liabilities:")) for p in body.postings)


def test_cli_demo_then_verify(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "trustledger"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLEDGER_")}
    env |= {"TRUSTLEDGER_DATA_DIR": str(tmp_path), "TRUSTLEDGER_LANG": "en"}
    done = subprocess.run(
        [str(exe), "demo", "--months", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert DEMO_ESTATE in done.stdout
    again = subprocess.run(
        [str(exe), "demo", "--months", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "already exists" in again.stdout
    checked = subprocess.run(
        [str(exe), "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    assert DEMO_ESTATE in checked.stdout
    assert (tmp_path / "demo-keys" / "operator.key").stat().st_mode & 0o777 == 0o600
