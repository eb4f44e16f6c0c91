"""Backups, restore, rotation: identical roots after a restore; a rollback is caught.

On a running ``trustledger serve`` an estate gets signed entries over HTTP (fee
receipts, a co-signed spending with its voucher, a key revocation), then its log
key is rotated through ``POST /v1/estates/{e}/log-key:rotate`` with an operator
token, more entries are posted, and a **backup** is taken: an export bundle
(``trustledger export``, while the server runs), and with ``--full`` also a raw
copy of the database and data directory (server stopped; a file copy for SQLite, a
``CREATE DATABASE … TEMPLATE`` for PostgreSQL). More entries follow; a resident
keeps the latest checkpoint (the **witness**) and the period statement published
then (``GET /statements/2026-10``, as printed on the notice board).

1. **Export → import**: ``trustledger export`` writes the bundle,
   ``trustledger import --bundle`` restores it into an empty database whose data
   directory holds only the estate's log-key files; the audit of the restored
   database has no findings and the same size and root as the original's. The
   bundle also audits clean offline (``trustledger audit --bundle``).
2. **Rollback**: the older backup is restored (the bundle with ``trustledger
   import``; the raw copy as it is) and served. It audits clean on its own
   (``trustledger audit --url``) — a rollback is a consistent, shorter log — but
   ``--since-checkpoint witness`` exits 1 with ``checkpoint-consistency``, and the
   check page's test (the latest checkpoint must extend the statement's
   checkpoint by a consistency proof) fails for the statement printed after the
   backup. The same after the restored server has appended past the witness's
   size (a fork: longer, but not an extension).
3. **Rotation**: the hand-over checkpoint verifies under the old and the new key
   and is the checkpoint of its size; every checkpoint before it verifies under
   the old key, every later one under the new key; the log audits clean.

``python -m reliability.backup [--engine sqlite|postgresql|both]``
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from ledger.checkpoint import verify_checkpoint
from ledger.merkle import verify_consistency
from ledger.statement import verify_statement
from reliability.common import (
    Authors,
    Databases,
    Db,
    Result,
    Server,
    audit,
    cli,
    connect,
    pdf_voucher,
    problem_type,
    wire,
)

NAME = "backup"


def _post(c: httpx.Client, estate: str, items: Sequence[Any]) -> None:
    for item in items:
        r = c.post(f"/v1/estates/{estate}/entries", json=wire(item))
        if r.status_code != 201:
            raise RuntimeError(f"post answered {r.status_code} {problem_type(r)}")


def _incomes(f: Authors, n: int, start: int) -> list[Any]:
    return [f.income(10_000 + start + i) for i in range(n)]


def check_page(base: str, estate: str, size: int, root: bytes) -> str:
    """What the QR check page concludes (api/static/js/check.js), done with the library.

    The latest checkpoint, verified with the published log key, must be at least as
    large as the statement's and extend it by a verified consistency proof.
    """
    with httpx.Client(base_url=base, timeout=30) as c:
        key = c.get(f"/v1/estates/{estate}/log-key").json()
        cp = verify_checkpoint(c.get(f"/v1/estates/{estate}/checkpoint").text, key["vkey"])
        if size > cp.size:
            return f"failed: the log ({cp.size}) is shorter than the statement ({size})"
        r = c.get(f"/v1/estates/{estate}/proofs/consistency", params={"from": size, "to": cp.size})
        if r.status_code != 200:
            return f"failed: no consistency proof ({r.status_code} {problem_type(r)})"
        try:
            verify_consistency(
                size, cp.size, root, cp.root, [base64.b64decode(h) for h in r.json()["hashes"]]
            )
        except Exception as e:
            return f"failed: {type(e).__name__}"
        page = c.get(
            f"/e/{estate}/check",
            params={"size": size, "root": base64.urlsafe_b64encode(root).decode().rstrip("=")},
        )
        return "ok" if page.status_code == 200 else f"ok (page answered {page.status_code})"


def rotation(server: Server, db: Db, f: Authors, token: str) -> Result:
    result = Result(NAME, db.engine, "log-key rotation", "")
    with httpx.Client(base_url=server.base, timeout=30) as c:
        old = c.get(f"/v1/estates/{f.id}/log-key").json()
        r = c.post(
            f"/v1/estates/{f.id}/log-key:rotate", headers={"Authorization": f"Bearer {token}"}
        )
        result.requests += 2
        if r.status_code != 200:
            result.fail(f"rotate answered {r.status_code} {problem_type(r)}")
            return result
        new = r.json()
        _post(c, f.id, _incomes(f, 4, 500))
        history = c.get(f"/v1/estates/{f.id}/log-keys").json()
        result.requests += 5
    checks: dict[str, Any] = {"from_size": new["from_size"]}
    try:
        under_old = verify_checkpoint(new["handover"], old["vkey"], old["origin"])
        under_new = verify_checkpoint(new["handover"], new["vkey"], old["origin"])
        checks["handover_verifies_under_old_and_new"] = (
            under_old.size == under_new.size == new["from_size"]
        )
    except Exception as e:
        result.fail(f"hand-over note: {e}")
    with connect(db) as conn:
        rows = conn.execute(
            text("SELECT size, root, note FROM checkpoints WHERE estate_id = :e ORDER BY size"),
            {"e": f.id},
        ).all()
    before = after = 0
    for size, root, note in rows:
        key = old["vkey"] if size <= new["from_size"] else new["vkey"]
        try:
            cp = verify_checkpoint(note, key, old["origin"])
            if cp.root != bytes(root):
                result.fail(f"checkpoint {size}: root column differs from the note")
        except Exception as e:
            result.fail(f"checkpoint {size} does not verify under its key: {e}")
            continue
        if size <= new["from_size"]:
            before += 1
        else:
            after += 1
    if rows and [s for s, _, _ in rows if s == new["from_size"]]:
        hand = next(n for s, _, n in rows if s == new["from_size"])
        checks["handover_is_the_checkpoint_of_its_size"] = (
            verify_checkpoint(hand, old["vkey"]).root
            == verify_checkpoint(new["handover"], new["vkey"]).root
        )
    checks["earlier_checkpoints_verified_with_old_key"] = before
    checks["later_checkpoints_verified_with_new_key"] = after
    checks["log_keys_published"] = len(history["keys"])
    if not checks.get("handover_verifies_under_old_and_new"):
        result.fail("the hand-over note does not verify under both keys")
    if not checks.get("handover_is_the_checkpoint_of_its_size"):
        result.fail("the hand-over note is not the checkpoint of its size")
    if before < 2 or after < 1 or len(history["keys"]) != 2:
        result.fail(f"unexpected checkpoint/key counts: {checks}")
    result.counts = f"1 rotation, {before}+{after} checkpoints"
    result.details = checks
    return result


def restore(dbs: Databases, db: Db, f: Authors, bundle: Path, label: str) -> tuple[Db, str]:
    """``trustledger import`` of ``bundle`` into an empty database whose data directory
    holds only the estate's log-key files (restored from their own backup)."""
    target = dbs.empty(db.engine, label)
    (target.data_dir / "logkeys").mkdir(parents=True)
    for p in (db.data_dir / "logkeys").glob(f"{f.id}.*.ed25519"):
        shutil.copy2(p, target.data_dir / "logkeys" / p.name)
    shutil.copy2(db.data_dir / "logkeys" / f"{f.id}.ed25519", target.data_dir / "logkeys")
    code, out, err = cli(target, "import", "--bundle", str(bundle), "--database-url", target.url)
    if code != 0:
        raise RuntimeError(f"import exited {code}: {(err or out).strip()[:300]}")
    return target, out.strip()


def run_engine(dbs: Databases, engine: str, *, full: bool = False) -> list[Result]:
    db = dbs.new(engine, NAME)
    work = db.data_dir.parent
    f = Authors.new("backup")
    f.create(db, opening=1_000_000)
    svc = db.service()
    try:
        _, token = svc.create_operator_token("reliability backup")
    finally:
        svc.engine.dispose()
    results: list[Result] = []
    older: list[tuple[str, Db]] = []
    server = Server(db, work / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=30) as c:
            data, ref = pdf_voucher("保洁发票 2026-10", size=3000)
            c.put(
                f"/v1/estates/{f.id}/vouchers/{ref['sha256']}",
                content=data,
                headers={"content-type": "application/pdf"},
            )
            revoke = f.signed(
                "key",
                {"action": "revoke", "key_id": f.committee2.key_id, "reason": "换届离任"},
                f.committee,
                f.operator,
            )
            _post(c, f.id, [*_incomes(f, 6, 0), f.spend(20_000, vouchers=[ref]), revoke])
        results.append(rotation(server, db, f, token))
        with httpx.Client(base_url=server.base, timeout=30) as c:
            _post(c, f.id, _incomes(f, 3, 100))
        # the older backup: an export bundle taken now (restored later with import) …
        code, _, err = cli(db, "export", "--estate", f.id, "--out", str(work / "older.tar"))
        if code != 0:
            raise RuntimeError(f"export exited {code}: {err.strip()}")
        if full:  # … and, with --full, a raw copy of the database and data directory
            server.stop()
            older.append(("raw copy", dbs.copy(db, "backup-copy")))
            server.start()
        with httpx.Client(base_url=server.base, timeout=30) as c:
            _post(c, f.id, _incomes(f, 5, 200))
            witness = c.get(f"/v1/estates/{f.id}/checkpoint").text
            statement = c.get(f"/v1/estates/{f.id}/statements/2026-10")
        (work / "witness.checkpoint").write_text(witness, "utf-8")
        if statement.status_code != 200:
            raise RuntimeError(
                f"statement answered {statement.status_code} {problem_type(statement)}"
            )
        printed = verify_statement(statement.json())
        results.append(export_import(dbs, db, f, work))
    finally:
        server.stop()
    older.insert(0, ("bundle", restore(dbs, db, f, work / "older.tar", "older")[0]))
    for how, backup in older:
        results.append(rollback(backup, f, work, printed.size, printed.root, how))
    original = audit(db, [f.id])
    for r in results:
        if r.audit == "n/a":
            r.audit = original.verdict
        if not original.clean:
            r.fail(f"audit of the original: {original.findings[:3]}")
    return results


def export_import(dbs: Databases, db: Db, f: Authors, work: Path) -> Result:
    result = Result(NAME, db.engine, "export → import → audit", "")
    began = time.monotonic()
    bundle = work / "bundle.tar"
    code, out, err = cli(db, "export", "--estate", f.id, "--out", str(bundle))
    if code != 0:
        result.fail(f"export exited {code}: {err.strip()}")
        return result
    code, out, err = cli(None, "audit", "--bundle", str(bundle), "--json")
    offline = json.loads(out) if out.strip().startswith("{") else {}
    result.details["offline_bundle_audit_exit"] = code
    if code != 0:
        result.fail(f"audit --bundle exited {code}: {err.strip()[:300]}")
    from api.cli import app

    if "import" not in {c.name for c in app.registered_commands}:
        result.audit = "pending"
        result.details["import"] = "pending: `trustledger import` does not exist yet"
        return result
    try:
        target, said = restore(dbs, db, f, bundle, "restored")
    except RuntimeError as e:
        result.fail(str(e))
        return result
    result.requests = 1
    result.details["import"] = said[:300]
    original, restored = audit(db, [f.id]), audit(target, [f.id])
    result.audit = restored.verdict
    result.details["original_root"] = original.roots.get(f.id)
    result.details["restored_root"] = restored.roots.get(f.id)
    if offline:
        result.details["offline_bundle_root"] = [
            (e.get("size"), e.get("root")) for e in offline.get("estates", [])
        ]
    if original.roots.get(f.id) != restored.roots.get(f.id):
        result.fail(f"roots differ: {original.roots} vs {restored.roots}")
    if not restored.clean:
        result.fail(f"audit of the restored database: {restored.findings[:5]}")
    size = original.roots.get(f.id, (0, None))[0]
    result.acknowledged = size
    result.lost = size - restored.roots.get(f.id, (0, None))[0]
    # the restored database serves and appends: the next checkpoint extends the old root
    with (
        Server(target, target.data_dir.parent / "server.log") as server,
        httpx.Client(base_url=server.base, timeout=30) as c,
    ):
        r = c.post(f"/v1/estates/{f.id}/entries", json=wire(f.income(77_777)))
        result.details["append_after_restore"] = r.status_code
        if r.status_code != 201 or r.json()["seq"] != size:
            result.fail(f"append after the restore answered {r.status_code}")
    result.counts = f"{size} entries, 1 bundle"
    result.seconds = round(time.monotonic() - began, 1)
    return result


def rollback(
    backup: Db, f: Authors, work: Path, statement_size: int, statement_root: bytes, how: str
) -> Result:
    result = Result(NAME, backup.engine, f"rollback to an older backup ({how})", "")
    witness = work / "witness.checkpoint"
    verdicts: dict[str, Any] = {}
    with Server(backup, backup.data_dir.parent / "server.log") as server:

        def audit_url(*extra: str) -> tuple[int, list[str]]:
            code, out, _ = cli(
                None, "audit", "--url", server.base, "--estate", f.id, "--json", *extra
            )
            report = json.loads(out) if out.strip().startswith("{") else {"findings": []}
            methods = sorted(
                {
                    f"{x['check']}:{x.get('evidence', {}).get('method', '-')}"
                    for x in report["findings"]
                }
            )
            return code, methods

        for stage in ("shorter", "forked past the witness"):
            if stage.startswith("forked"):
                with httpx.Client(base_url=server.base, timeout=30) as c:
                    _post(c, f.id, _incomes(f, 8, 900))
            alone = audit_url()
            since = audit_url("--since-checkpoint", str(witness))
            page = check_page(server.base, f.id, statement_size, statement_root)
            verdicts[stage] = {
                "audit --url": alone[0],
                "audit --url --since-checkpoint": since[0],
                "since findings": since[1],
                "check page for the statement": page,
            }
            result.requests += 3
            if alone[0] != 0:
                result.fail(f"{stage}: audit --url alone exited {alone[0]}")
            if since[0] != 1 or not any(m.startswith("checkpoint-consistency") for m in since[1]):
                result.fail(f"{stage}: --since-checkpoint did not catch the rollback: {since}")
            else:
                result.let_in += 0
            if not page.startswith("failed"):
                result.let_in += 1
                result.fail(f"{stage}: the check page accepts the statement: {page}")
    result.counts = "2 stages (shorter, forked)"
    result.details = verdicts
    return result


def run(engines: Sequence[str], *, full: bool = False, workdir: Path) -> list[Result]:
    results = []
    dbs = Databases(workdir / NAME)
    try:
        for engine in engines:
            results.extend(run_engine(dbs, engine, full=full))
    finally:
        dbs.close()
    return results


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
