"""Live mode: ``trustledger audit --url`` against a real server (uvicorn in a subprocess).

The server is started the way ``trustledger serve`` starts it, over the test's
database and data directory. The fork test builds a second, different history of
the same estate signed with the *same* log key (an operator who rewrites the books
and re-signs everything): on its own it audits clean, and only a checkpoint saved
before the rewrite exposes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ledger.storage.db import migrate
from ledger.storage.service import LedgerService
from tests.audits.conftest import pairs, populate, run_cli
from tests.audits.tampering import insider, leaf_of, sql
from tests.factories import EstateFactory
from tests.live import free_port


@contextmanager
def serving(db_url: str, data_dir: Path) -> Iterator[str]:
    """Run ``trustledger serve`` over this database; yield its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "TRUSTLEDGER_DATABASE_URL": db_url,
        "TRUSTLEDGER_DATA_DIR": str(data_dir),
        "TRUSTLEDGER_WRITE_RATE": "0",
    }
    code = "from api.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v1/estates", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def audit_url(
    service: LedgerService, base: str, *extra: str
) -> tuple[int, set[tuple[str, int | None]]]:
    code, report, output = run_cli(service, "audit", "--url", base, "--json", *extra)
    assert report is not None, output
    return code, pairs(report)


def test_live_clean_and_tampered(estate: EstateFactory) -> None:
    seqs = populate(estate)
    svc = estate.service
    with serving(svc.url, svc.data_dir) as base:
        assert audit_url(svc, base, "--estate", estate.id) == (0, set())
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
        code, found = audit_url(svc, base, "--estate", estate.id)
    assert code == 1
    assert {("signatures", k), ("chain", k + 1), ("checkpoint-root", None)} <= found


def test_forked_history_against_a_saved_checkpoint(estate: EstateFactory, tmp_path: Path) -> None:
    populate(estate)
    svc = estate.service
    with serving(svc.url, svc.data_dir) as base:
        saved = httpx.get(f"{base}/v1/estates/{estate.id}/checkpoint").text
    assert saved.split("\n")[1] == "19"
    # The rewrite: a fresh database and data dir holding the same log key file.
    forged_dir = tmp_path / "forged"
    (forged_dir / "logkeys").mkdir(parents=True)
    key_file = f"{estate.id}.ed25519"
    shutil.copy(svc.data_dir / "logkeys" / key_file, forged_dir / "logkeys" / key_file)
    forged_url = f"sqlite:///{tmp_path / 'forged.db'}"
    migrate(forged_url)
    forged = LedgerService(forged_url, forged_dir, "trustledger.example")
    try:
        other = EstateFactory.create(forged, estate.id)
        populate(other)
        other.append(other.income(1), other.income(2), other.income(3))
        saved_file = tmp_path / "saved.checkpoint"
        saved_file.write_text(saved, "utf-8")
        with serving(forged_url, forged_dir) as base:
            assert audit_url(forged, base, "--estate", estate.id) == (0, set())
            code, report, output = run_cli(
                forged, "audit", "--url", base, "--since-checkpoint", str(saved_file), "--json"
            )
    finally:
        forged.engine.dispose()
    assert code == 1, output
    assert report is not None
    broken = [f for f in report["findings"] if f["check"] == "checkpoint-consistency"]
    assert {f["evidence"]["method"] for f in broken} == {"leaves", "proof"}
    sizes = {f["evidence"].get("saved_size", f["evidence"].get("old_size")) for f in broken}
    assert sizes == {19}


def test_unreachable_url_exits_2(estate: EstateFactory) -> None:
    code, _, output = run_cli(estate.service, "audit", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 2, output


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://127.0.0.1:9", "--bundle", "x.tar"],
        ["--since-checkpoint", "/nonexistent/checkpoint"],
        ["--estate", "no-such-estate"],
    ],
)
def test_bad_arguments_exit_2(estate: EstateFactory, args: list[str]) -> None:
    code, _, output = run_cli(estate.service, "audit", *args)
    assert code == 2, output
