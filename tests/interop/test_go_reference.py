"""The public verification API read by the Go reference implementations, on both engines.

``tlogcheck`` (``tests/interop/tlogcheck/main.go``) uses ``golang.org/x/mod/sumdb/note``
and ``golang.org/x/mod/sumdb/tlog`` — the signed-note and transparency-log code of the
Go checksum database, from which C2SP's specifications come, sharing no code with
trustledger — to open an estate's checkpoint with its pinned key, rebuild the tree
from the entries, and check every served proof and tile against its own (see the
program's comment). The demo estate must pass; a checkpoint under another key, a
stored tree hash or a leaf changed by an insider must not.

Built with Debian's ``golang-go`` and ``golang-golang-x-mod-dev`` (``make test``
installs them: ``scripts/system-deps.sh --test``). Without them these tests are
skipped, unless ``TRUSTLEDGER_REQUIRE_GO=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.demo import seed
from api.settings import Settings
from ledger.note import Signer
from ledger.storage.service import LedgerService
from tests.audits.tampering import insider, leaf_of, sql
from tests.factories import EstateFactory
from tests.live import served

SOURCE = Path(__file__).resolve().parent / "tlogcheck"
GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put Go sources
SUMDB = GOPATH / "src/golang.org/x/mod/sumdb"
OK = re.compile(
    r"ok size=(\d+) inclusion=(\d+) consistency=(\d+) tile_proofs=(\d+) entry_tiles=(\d+)\n"
)


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not SUMDB.is_dir():
        why = "Go or golang.org/x/mod/sumdb is missing (scripts/system-deps.sh --test)"
        if os.environ.get("TRUSTLEDGER_REQUIRE_GO") == "1":
            pytest.fail(f"{why}, but the Go interop tests are required")
        pytest.skip(why)
    out = tmp_path_factory.mktemp("go") / "tlogcheck"
    env = {
        **os.environ,
        "GO111MODULE": "off",  # GOPATH mode: the Debian packages' sources, no download
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out.parent / "cache"),
        "CGO_ENABLED": "0",
    }
    build = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    return out


def check(tlogcheck: Path, url: str, vkey: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tlogcheck), url, vkey], capture_output=True, text=True, timeout=300)


@pytest.fixture
def site(service: LedgerService, tmp_path: Path) -> Iterator[str]:
    app = create_app(Settings(data_dir=tmp_path, write_rate=0), service)
    with served(app) as base:
        yield base


def vkey_of(service: LedgerService, estate: str) -> str:
    with service.reader(estate) as r:
        return r.row.vkey


def test_the_demo_estate_verifies_with_the_go_reference_code(
    service: LedgerService, tmp_path: Path, site: str, tlogcheck: Path
) -> None:
    estate = f"demo-{uuid.uuid4().hex[:12]}"
    size, _ = seed(
        service, tmp_path, months=2, today=dt.date(2026, 11, 26), households=300, estate=estate
    )
    assert size > 2 * 256  # hash and entry tiles beyond the first, a partial one at the end
    done = check(tlogcheck, f"{site}/v1/estates/{estate}", vkey_of(service, estate))
    assert done.returncode == 0, done.stderr
    found = OK.fullmatch(done.stdout)
    assert found, done.stdout
    checked_size, inclusion, consistency, tile_proofs, entry_tiles = map(int, found.groups())
    assert checked_size == size
    assert inclusion > 100 and consistency > 200 and tile_proofs > 10
    assert entry_tiles == -(-size // 256)


def test_a_checkpoint_is_not_taken_under_another_key(
    service: LedgerService, site: str, tlogcheck: Path, estate_id: str
) -> None:
    f = EstateFactory.create(service, estate_id)
    f.append(f.income(1200))
    real = vkey_of(service, estate_id)
    other = Signer.generate(real.split("+")[0]).vkey  # the same name, another key
    url = f"{site}/v1/estates/{estate_id}"
    assert check(tlogcheck, url, real).returncode == 0
    done = check(tlogcheck, url, other)
    assert done.returncode == 1
    assert done.stderr.startswith("tlogcheck: checkpoint: "), done.stderr


def test_a_changed_tree_hash_or_leaf_is_found(
    service: LedgerService, site: str, tlogcheck: Path, estate_id: str
) -> None:
    f = EstateFactory.create(service, estate_id)
    f.append(*[f.income(100 * (n + 1)) for n in range(12)])
    url, vkey = f"{site}/v1/estates/{estate_id}", vkey_of(service, estate_id)
    assert check(tlogcheck, url, vkey).returncode == 0

    with insider(service) as conn:  # the stored hash of leaf 2, as an insider would "fix" it
        sql(
            conn,
            "UPDATE tree_hashes SET hash = :h WHERE estate_id = :e AND level = 0 AND idx = 2",
            h=bytes(32),
            e=estate_id,
        )
    done = check(tlogcheck, url, vkey)
    assert done.returncode == 1
    assert "not tlog's proof" in done.stderr, done.stderr

    with insider(service) as conn:  # a leaf's memo changed, its hash left as it was
        leaf = leaf_of(conn, estate_id, 5).replace(b'"v":1', b'"v":1 ', 1)
        sql(
            conn,
            "UPDATE entries SET leaf = :l WHERE estate_id = :e AND seq = 5",
            l=leaf,
            e=estate_id,
        )
    done = check(tlogcheck, url, vkey)
    assert done.returncode == 1
    assert "do not give the checkpoint's root" in done.stderr or "prev is not" in done.stderr
