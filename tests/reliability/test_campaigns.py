"""The reliability campaigns (``reliability/``) in their small, CI-sized form, on both engines.

Each test runs one campaign against real ``trustledger serve`` subprocesses over
fresh databases and asserts what the campaign promises: nothing acknowledged is
lost, nothing is duplicated, nothing hostile is let in, the audits are clean, and
the campaign's own properties (below). ``trustledger`` commands run in process
here (Typer's runner) to save the interpreter start-ups; ``python -m
reliability.run`` runs them as subprocesses. The full counts: ``make reliability``.

``pg_restart`` stops the machine's PostgreSQL and runs only with
``TRUSTLEDGER_RELIABILITY_PG_RESTART=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability import access, backup, common, crash, hostile, load, pg_restart, voucher_faults
from reliability.common import Result
from reliability.run import table

PG_ENV = "TRUSTLEDGER_TEST_PG_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not os.environ.get(PG_ENV):
        if os.environ.get("TRUSTLEDGER_REQUIRE_PG") == "1":
            pytest.fail(f"{PG_ENV} is not set but PostgreSQL tests are required")
        pytest.skip(f"{PG_ENV} not set")
    return str(request.param)


@pytest.fixture(autouse=True)
def in_process_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(common, "CLI_IN_PROCESS", True)
    yield


def held(results: list[Result], rows: int) -> dict[str, Result]:
    """Every row held (nothing lost, duplicated or let in; audits clean); rows by scenario."""
    assert len(results) == rows, table(results)
    for r in results:
        assert r.failures == [], table(results)
        assert (r.lost, r.duplicated, r.let_in) == (0, 0, 0), table(results)
        assert r.audit in ("clean", "n/a"), table(results)
        assert r.ok
    return {r.scenario: r for r in results}


def test_load(engine: str, tmp_path: Path) -> None:
    rows = held(load.run([engine], workdir=tmp_path, writers=3, per_writer=8), 2)
    for r in rows.values():
        assert r.acknowledged == 24
        assert r.details["resent_after_ack"] >= 1
        # one creation per payload; a retry after a timeout may find it already made (200)
        assert r.details["acks_201"] <= 24 and r.details["created_twice"] == []
        assert r.throughput and r.p50_ms and r.p99_ms
    assert len(rows["4 estates"].details["log_sizes"]) == 4


def test_crash(engine: str, tmp_path: Path) -> None:
    results = crash.run([engine], workdir=tmp_path, kills=2, writers=2, batch=1, pause=(0.15, 0.4))
    rows = held(results, 2)
    posting = rows["kill -9 during posting"]
    assert posting.details["kills"] == posting.details["restarts"] == 2
    assert posting.acknowledged > 0
    assert posting.details["trustledger_verify_exit"] == 0
    batch = rows["kill -9 during 1,000-item batch"]
    assert sum(batch.details["after_kill"].values()) == 1
    assert set(batch.details["after_kill"]) <= {"all", "none"}


def test_voucher_faults(engine: str, tmp_path: Path) -> None:
    results = voucher_faults.run([engine], workdir=tmp_path)
    rows = held(results, 3)
    for r in rows.values():
        if r.counts == "not run":
            continue
        assert r.details["put_during_fault"] == "503 /problems/voucher-store-unavailable"
        assert r.details["post_referencing_it"] == "422 /problems/missing-voucher"
        assert r.details["voucher_refs_without_bytes"] == []
        assert (r.details["put_after_recovery"], r.details["post_after_recovery"]) == (201, 201)


def test_hostile(engine: str, tmp_path: Path) -> None:
    results = hostile.run([engine], workdir=tmp_path, per_operation=2, stateful=25, injections=6)
    rows = held(results, 5)
    assert rows["schemathesis, per operation"].requests >= 34
    assert rows["schemathesis, stateful"].requests >= 25
    for r in rows.values():
        assert r.details.get("5xx", 0) == 0
    assert rows["voucher path traversal"].details["files_created"] == []


def test_access(engine: str, tmp_path: Path) -> None:
    rows = held(access.run([engine], workdir=tmp_path), 2)
    cases = rows["refusal matrix"].details["cases"]
    assert len(cases) >= 20 and all(c["ok"] for c in cases), cases
    secrets = rows["secrets: logs, database, key files"].details
    assert secrets["found_in_log"] == {} and secrets["found_in_database"] == []
    assert set(secrets["key_file_modes"].values()) == {"0o600"}


def test_backup(engine: str, tmp_path: Path) -> None:
    rows = held(backup.run([engine], workdir=tmp_path), 3)
    restored = rows["export → import → audit"].details
    assert restored["original_root"] == restored["restored_root"]
    rollback = rows["rollback to an older backup (bundle)"].details
    for stage in rollback.values():
        assert stage["audit --url"] == 0
        assert stage["audit --url --since-checkpoint"] == 1
        assert stage["check page for the statement"].startswith("failed")
    rotation = rows["log-key rotation"].details
    assert rotation["handover_verifies_under_old_and_new"]
    assert rotation["earlier_checkpoints_verified_with_old_key"] >= 2


@pytest.mark.skipif(
    os.environ.get("TRUSTLEDGER_RELIABILITY_PG_RESTART") != "1",
    reason="stops the machine's PostgreSQL: set TRUSTLEDGER_RELIABILITY_PG_RESTART=1",
)
def test_pg_restart(tmp_path: Path) -> None:
    rows = held(pg_restart.run(["postgresql"], workdir=tmp_path), 1)
    (r,) = rows.values()
    assert r.details["answers_during_outage"] > 0
    assert set(r.details["answers_during_outage_by_status"]) == {503}


def test_table_names_every_failure() -> None:
    good = Result("load", "sqlite", "one estate", "1×1 posts", acknowledged=1, audit="clean")
    bad = Result("crash", "sqlite", "x", "-", lost=1, failures=["1 acknowledged entry missing"])
    out = table([good, bad])
    assert "ok" in out and "FAILED" in out and "1 acknowledged entry missing" in out
    assert good.ok and not bad.ok
