"""Export and offline audit: a bundle finds what the database audit finds.

The comparison covers the checks a bundle can run (it carries no tree hashes and no
derived tables); the standalone ``verify_bundle.py`` shipped in every bundle must
agree on clean versus broken.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from audits.bundle import BundleSource
from audits.run import AuditOptions, run_audit
from tests.audits.conftest import audit_service, pairs, populate, run_cli
from tests.audits.tampering import insider, leaf_of, sql
from tests.factories import EstateFactory

COMMON = {
    "leaf",
    "chain",
    "signatures",
    "policy",
    "double-entry",
    "reversals",
    "rules",
    "budgets",
    "vouchers",
    "checkpoint-signature",
    "checkpoint-root",
    "checkpoint-order",
    "checkpoint-coverage",
    "log-key",
}
"""Checks whose findings depend only on the leaves, checkpoints, keys and vouchers."""


def export(estate: EstateFactory, out: Path) -> None:
    code, _, output = run_cli(estate.service, "export", "--estate", estate.id, "--out", str(out))
    assert code == 0, output


def audit_bundle(path: Path) -> set[tuple[str, int | None]]:
    source = BundleSource(path)
    try:
        return pairs(run_audit(source, AuditOptions()))
    finally:
        source.close()


def standalone(path: Path) -> subprocess.CompletedProcess[str]:
    script = path / "verify_bundle.py"
    return subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True, check=False
    )


def test_clean_bundle_dir_and_tar(estate: EstateFactory, tmp_path: Path) -> None:
    populate(estate)
    export(estate, tmp_path / "bundle")
    export(estate, tmp_path / "bundle.tar")
    assert audit_bundle(tmp_path / "bundle") == set()
    assert audit_bundle(tmp_path / "bundle.tar") == set()
    code, report, output = run_cli(
        estate.service, "audit", "--bundle", str(tmp_path / "bundle.tar"), "--json"
    )
    assert code == 0, output
    assert report is not None and report["source"]["kind"] == "bundle"
    done = standalone(tmp_path / "bundle")
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert (
        manifest["estate"] == estate.id and manifest["vouchers"] == 2
    )  # the contract was redacted
    assert "verify" in (tmp_path / "bundle" / "README.md").read_text().lower()
    with tarfile.open(tmp_path / "bundle.tar") as tar:
        assert f"{estate.id}-bundle/leaves.jsonl" in tar.getnames()


def test_tampered_bundle_gives_the_database_findings(estate: EstateFactory, tmp_path: Path) -> None:
    seqs = populate(estate)
    k = seqs["spend"]
    with insider(estate.service) as conn:
        leaf = leaf_of(conn, estate.id, k)
        changed = leaf.replace("10月保洁费".encode(), "10月保洁費".encode())
        sql(
            conn,
            "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s",
            l=changed,
            e=estate.id,
            s=k,
        )
    with estate.service.reader(estate.id) as r:
        sha = json.loads(r.leaf(seqs["budget"]))["payload"]["vouchers"][0]["sha256"]
    (estate.service.data_dir / "vouchers" / estate.id / sha[:2] / sha).unlink()
    from_db = {
        p for p in pairs(audit_service(estate.service, estates=(estate.id,))) if p[0] in COMMON
    }
    assert {("signatures", k), ("chain", k + 1), ("vouchers", seqs["budget"])} <= from_db
    export(estate, tmp_path / "bundle")
    from_bundle = {p for p in audit_bundle(tmp_path / "bundle") if p[0] in COMMON}
    assert from_bundle == from_db
    done = standalone(tmp_path / "bundle")
    assert done.returncode == 1, done.stdout
    assert f"{k}\tsignatures" in done.stdout and f"{seqs['budget']}\tvouchers" in done.stdout


def test_export_refuses_to_overwrite(estate: EstateFactory, tmp_path: Path) -> None:
    export(estate, tmp_path / "b.tar")
    code, _, output = run_cli(
        estate.service, "export", "--estate", estate.id, "--out", str(tmp_path / "b.tar")
    )
    assert code == 2, output


@pytest.mark.parametrize("damage", ["no-manifest", "bad-line", "missing"])
def test_unreadable_bundle_exits_2(estate: EstateFactory, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bundle"
    export(estate, path)
    if damage == "no-manifest":
        (path / "manifest.json").unlink()
    elif damage == "bad-line":
        with (path / "leaves.jsonl").open("a") as f:
            f.write("{not json\n")
    else:
        path = tmp_path / "nothing-here"
    code, _, output = run_cli(estate.service, "audit", "--bundle", str(path))
    assert code == 2, output
