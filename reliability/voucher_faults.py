"""Voucher store faults: full, read-only, or blocked — the post fails cleanly, nothing dangles.

Each scenario gets an estate of its own on a running ``trustledger serve`` and
breaks that estate's voucher directory (``DATA_DIR/vouchers/<estate>``) in a way
that stops root too (the campaign runs as root on the development machine, where
``chmod`` would not):

- **full**: a 64 KiB tmpfs mounted there, filled up but for a few KiB; a 20 KB
  voucher does not fit (``ENOSPC``). Recovery: the filler is deleted.
- **read-only**: the directory bind-mounted read-only onto itself (``EROFS``).
  Recovery: remounted read-write.
- **blocked**: a regular file where the voucher's shard directory should be (no
  mount needed, runs everywhere). Recovery: the file is removed.

Mounting needs root; without it the first two are reported as not run.

In each: ``PUT /vouchers/{sha256}`` must answer a problem (``application/problem+json``,
not 2xx; the status is reported), leave no file under the voucher's name, and the
server stays up; a post referencing the voucher is refused ``422 missing-voucher``
and writes nothing. After the recovery the same upload and post succeed. At the
end the audit (which checks every referenced voucher's bytes) is clean and every
``voucher_refs`` row has its bytes in the store.

``python -m reliability.voucher_faults [--engine sqlite|postgresql|both]``
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

import httpx
from sqlalchemy import text

from reliability.common import (
    Authors,
    Databases,
    Db,
    Result,
    Server,
    audit,
    check_log,
    connect,
    is_problem,
    pdf_voucher,
    problem_type,
    wire,
)

NAME = "voucher_faults"
TMPFS_SIZE = "64k"
PDF = {"content-type": "application/pdf"}


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def _umount(path: Path) -> None:
    for args in (["umount", str(path)], ["umount", "-l", str(path)]):
        if subprocess.run(args, capture_output=True, timeout=30, check=False).returncode == 0:
            return


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as d:
        try:
            _mount("-t", "tmpfs", "-o", "size=4k", "tmpfs", d)
        except (subprocess.CalledProcessError, FileNotFoundError):
            return False
        _umount(Path(d))
        return True


class Fault:
    """Set up a fault on ``store`` for the voucher ``sha``; undo it with :meth:`recover`."""

    name = ""

    def __init__(self, store: Path, sha: str) -> None:
        self.store, self.sha = store, sha
        self.mounted = False

    def apply(self) -> None: ...
    def recover(self) -> None: ...

    def cleanup(self) -> None:
        if self.mounted:
            _umount(self.store)
            self.mounted = False


class Full(Fault):
    name = "store full (tmpfs 64 KiB, filled)"

    def apply(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", str(self.store))
        self.mounted = True
        filler = self.store / "filler"
        with filler.open("wb") as f, suppress(OSError):
            for _ in range(64):
                f.write(b"\0" * 1024)
                f.flush()
        # leave a few KiB: the directory and a small file fit, a 20 KB voucher does not
        with suppress(OSError):
            os.truncate(filler, filler.stat().st_size - 8 * 1024)

    def recover(self) -> None:
        (self.store / "filler").unlink()


class ReadOnly(Fault):
    name = "store read-only (ro bind mount)"

    def apply(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        _mount("--bind", str(self.store), str(self.store))
        self.mounted = True
        _mount("-o", "remount,bind,ro", str(self.store))

    def recover(self) -> None:
        _mount("-o", "remount,bind,rw", str(self.store))


class Blocked(Fault):
    name = "store blocked (file where the directory should be)"

    def apply(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / self.sha[:2]).write_bytes(b"not a directory")

    def recover(self) -> None:
        (self.store / self.sha[:2]).unlink()


def scenario(server: Server, db: Db, fault_type: Callable[[Path, str], Fault]) -> Result:
    estate = Authors.new("vf")
    estate.create(db, opening=1_000_000)
    data, ref = pdf_voucher("voucher that meets a broken store", size=20_000)
    sha = ref["sha256"]
    store = db.data_dir / "vouchers" / estate.id
    fault = fault_type(store, sha)
    result = Result(NAME, db.engine, fault.name, "1 upload + 1 post, then recovery")
    base = f"{server.base}/v1/estates/{estate.id}"
    try:
        fault.apply()
        c = httpx  # a new connection per request: see the keep-alive probe below
        size_before = check_log(db, estate.id, {}).size
        r = c.put(f"{base}/vouchers/{sha}", content=data, headers=PDF, timeout=30)
        result.requests += 1
        result.details["put_during_fault"] = f"{r.status_code} {problem_type(r)}"
        if r.is_success:
            result.fail(f"PUT voucher into the broken store answered {r.status_code}")
        elif not is_problem(r):
            result.fail(f"PUT voucher answered {r.status_code} without a problem+json body")
        if (store / sha[:2] / sha).is_file():
            result.fail("a file exists under the voucher's name after the failed upload")
        leftovers = [p.name for p in store.rglob(".tmp-*")] if store.is_dir() else []
        result.details["temporary_files_left"] = len(leftovers)
        result.details["keep_alive_survives_the_error"] = _keep_alive_probe(base, sha, data)
        if c.get(f"{server.base}/healthz", timeout=30).status_code != 200 or not server.alive:
            result.fail("the server is not up after the failed upload")
        doc = wire(estate.spend(5_000, vouchers=[ref]))
        r = c.post(f"{base}/entries", json=doc, timeout=30)
        result.requests += 1
        result.details["post_referencing_it"] = f"{r.status_code} {problem_type(r)}"
        if not is_problem(r, "missing-voucher") or r.status_code != 422:
            result.fail(f"post referencing the voucher answered {r.status_code} {problem_type(r)}")
        size_after = check_log(db, estate.id, {}).size
        result.let_in = size_after - size_before
        fault.recover()
        r = c.put(f"{base}/vouchers/{sha}", content=data, headers=PDF, timeout=30)
        result.requests += 1
        result.details["put_after_recovery"] = r.status_code
        if r.status_code != 201:
            result.fail(f"PUT after recovery answered {r.status_code} {problem_type(r)}")
        r = c.post(f"{base}/entries", json=doc, timeout=30)
        result.requests += 1
        result.details["post_after_recovery"] = r.status_code
        if r.status_code != 201:
            result.fail(f"post after recovery answered {r.status_code} {problem_type(r)}")
        else:
            result.acknowledged += 1
        dangling = _dangling(db, estate.id)
        result.details["voucher_refs_without_bytes"] = dangling
        if dangling:
            result.fail(f"voucher_refs without bytes: {dangling}")
        outcome = audit(db, [estate.id])
        result.audit = outcome.verdict
        if not outcome.clean:
            result.fail(f"audit: {outcome.findings[:5]}")
    finally:
        fault.cleanup()
    return result


def _keep_alive_probe(base: str, sha: str, data: bytes) -> bool:
    """Does a client's kept-alive connection survive the failed upload's answer?

    (An unhandled error answers 500 and is then re-raised into uvicorn, which closes
    the connection: the client's next request on it is reset.)
    """
    with httpx.Client(timeout=30) as c:
        c.put(f"{base}/vouchers/{sha}", content=data, headers=PDF)
        try:
            c.get(f"{base}/log-key")
        except httpx.TransportError:
            return False
        return True


def _dangling(db: Db, estate: str) -> list[str]:
    with connect(db) as conn:
        shas = conn.execute(
            text("SELECT sha256 FROM voucher_refs WHERE estate_id = :e"), {"e": estate}
        ).scalars()
        store = db.data_dir / "vouchers" / estate
        return [s for s in shas if not (store / s[:2] / s).is_file()]


def run(engines: Sequence[str], *, full: bool = False, workdir: Path) -> list[Result]:
    mounting = can_mount()
    faults: list[Callable[[Path, str], Fault]] = [Blocked]
    if mounting:
        faults = [Full, ReadOnly, Blocked]
    results = []
    dbs = Databases(workdir / NAME)
    try:
        for engine in engines:
            db = dbs.new(engine, NAME)
            with Server(db, db.data_dir.parent / "server.log") as server:
                for fault in faults:
                    results.append(scenario(server, db, fault))
            if not mounting:
                for skipped in (Full, ReadOnly):
                    results.append(
                        Result(
                            NAME,
                            engine,
                            skipped.name,
                            "not run",
                            audit="n/a",
                            details={"not run": "mounting needs root"},
                        )
                    )
    finally:
        dbs.close()
    return results


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
