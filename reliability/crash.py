"""Crashes: ``kill -9`` of the server during sustained posting, and during a batch import.

Sustained posting: W writer threads post signed payloads to one estate without
pause (one in ten uploads a voucher first and references it). The server is
``kill -9``'d at a random moment K times and restarted on the same database and
data directory each time. A writer whose request fails (connection refused while
the server is down, or cut in flight by the kill) sends the same signed payload
again until it is acknowledged — a retry after a lost answer must find the entry
already written (``200``) rather than write it twice. Every 201/200 is recorded
with its seq. Afterwards: every acknowledged payload is in the log exactly once at
its seq, seqs are contiguous, the estate head and latest checkpoint cover exactly
the log (nothing half-written), the audit is clean, ``trustledger verify`` passes,
and one more append after the last restart continues the chain (its ``prev`` is
the last leaf's hash, and the new checkpoint is consistent with the one before).

Batch import: a 1,000-item ``entries:batch`` is posted and the server killed at a
random moment while it works (calibrated on a first, undisturbed batch); after the
restart either all 1,000 payloads are in the log or none, and posting the batch
again completes it.

``python -m reliability.crash [--full] [--engine sqlite|postgresql|both]``
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.checkpoint import verify_checkpoint
from ledger.merkle import hash_leaf, verify_consistency
from reliability.common import (
    Authors,
    Databases,
    Db,
    Result,
    Server,
    audit,
    check_log,
    cli,
    connect,
    pdf_voucher,
    percentile,
    problem_type,
    wire,
)

NAME = "crash"
FULL = {"kills": 20, "writers": 4, "batch_kills": 5}
SMALL = {"kills": 3, "writers": 3, "batch_kills": 1}
BATCH = 1000
VOUCHER_SHARE = 0.1
GIVE_UP = 180.0  # seconds a writer keeps retrying one payload


@dataclass
class Tally:
    acks: list[tuple[str, int, int]] = field(default_factory=list)  # (payload id, status, seq)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    refused_connections: int = 0  # the server was down: nothing sent
    cut_in_flight: int = 0  # requests cut by a kill
    retried_outcome: Counter[int] = field(default_factory=Counter)  # final status after a cut
    vouchers: int = 0


class Writer(threading.Thread):
    def __init__(
        self, base: str, estate: Authors, stop: threading.Event, seed: int, tally: Tally
    ) -> None:
        super().__init__(daemon=True)
        self.base, self.estate, self.stop, self.tally = base, estate, stop, tally
        self.rng = random.Random(seed)
        self.seed = seed

    def _send(self, client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
        """Send until an HTTP answer comes back; count what the kills did to the attempts."""
        deadline = time.monotonic() + GIVE_UP
        cut = False
        while True:
            self.tally.requests += 1
            try:
                r = client.request(method, url, **kw)
            except httpx.ConnectError:
                self.tally.refused_connections += 1
            except httpx.TransportError:
                self.tally.cut_in_flight += 1
                cut = True
            else:
                if r.status_code != 503:
                    if cut and method == "POST":
                        self.tally.retried_outcome[r.status_code] += 1
                    return r
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {url}: no answer for {GIVE_UP} s")
            time.sleep(0.05)

    def run(self) -> None:
        n = 0
        url = f"{self.base}/v1/estates/{self.estate.id}"
        try:
            with httpx.Client(timeout=30) as client:
                while not self.stop.is_set():
                    n += 1
                    vouchers = []
                    if self.rng.random() < VOUCHER_SHARE:
                        data, ref = pdf_voucher(f"crash voucher {self.seed}-{n}")
                        r = self._send(
                            client,
                            "PUT",
                            f"{url}/vouchers/{ref['sha256']}",
                            content=data,
                            headers={"content-type": "application/pdf"},
                        )
                        if r.status_code not in (200, 201):
                            self.tally.errors.append(f"voucher {r.status_code} {problem_type(r)}")
                            continue
                        self.tally.vouchers += 1
                        vouchers = [ref]
                    doc = wire(self.estate.income(1_000 + n, vouchers=vouchers))
                    r = self._send(client, "POST", f"{url}/entries", json=doc)
                    if r.status_code in (200, 201):
                        self.tally.acks.append(
                            (doc["payload"]["id"], r.status_code, int(r.json()["seq"]))
                        )
                    else:
                        self.tally.errors.append(f"post {r.status_code} {problem_type(r)}")
        except Exception as e:
            self.tally.errors.append(repr(e))


def _continues_chain(server: Server, estate: Authors) -> list[str]:
    """One more append after the last restart: it extends the chain and the tree."""
    problems = []
    base = f"{server.base}/v1/estates/{estate.id}"
    with httpx.Client(timeout=30) as c:
        key = c.get(f"{base}/log-key").json()
        before = verify_checkpoint(c.get(f"{base}/checkpoint").text, key["vkey"], key["origin"])
        last = c.get(f"{base}/entries/{before.size - 1}").json()
        r = c.post(f"{base}/entries", json=wire(estate.income(4_242)))
        if r.status_code != 201:
            return [f"the append after the last restart answered {r.status_code}"]
        body = r.json()
        if body["seq"] != before.size:
            problems.append(f"next append got seq {body['seq']}, expected {before.size}")
        prev = base64.b64encode(hash_leaf(base64.b64decode(last["leaf"]))).decode()
        if body["entry"]["prev"] != prev:
            problems.append("next append's prev is not the hash of the last leaf")
        after = verify_checkpoint(c.get(f"{base}/checkpoint").text, key["vkey"], key["origin"])
        if after.size != before.size + 1:
            problems.append(f"checkpoint after the append has size {after.size}")
        proof = c.get(
            f"{base}/proofs/consistency", params={"from": before.size, "to": after.size}
        ).json()
        try:
            verify_consistency(
                before.size,
                after.size,
                before.root,
                after.root,
                [base64.b64decode(h) for h in proof["hashes"]],
            )
        except Exception as e:
            problems.append(f"consistency proof across the last restart fails: {e}")
    return problems


def sustained(
    server: Server,
    *,
    kills: int,
    writers: int,
    seed: int,
    pause: tuple[float, float] = (0.3, 1.2),
) -> tuple[Result, Authors]:
    rng = random.Random(seed)
    db = server.db
    estate = Authors.new("crash")
    estate.create(db)
    result = Result(NAME, db.engine, "kill -9 during posting", f"{kills} kills, {writers} writers")
    tally, stop = Tally(), threading.Event()
    restarts: list[float] = []
    began = time.monotonic()
    kills_before = server.kills
    threads = [Writer(server.base, estate, stop, seed * 100 + w, tally) for w in range(writers)]
    try:
        for t in threads:
            t.start()
        for _ in range(kills):
            time.sleep(rng.uniform(*pause))  # posting runs, then the kill lands anywhere
            server.kill9()
            time.sleep(rng.uniform(0.0, 0.3))
            restarts.append(server.start())
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=GIVE_UP + 30)
        if any(t.is_alive() for t in threads):
            result.fail("a writer did not finish")
        result.failures.extend(_continues_chain(server, estate))
    finally:
        stop.set()
    result.seconds = round(time.monotonic() - began, 1)

    seq_of: dict[str, int] = {}
    moved = []
    for pid, _, seq in tally.acks:
        if seq_of.setdefault(pid, seq) != seq:
            moved.append(pid)
    created = Counter(pid for pid, status, _ in tally.acks if status == 201)
    log = check_log(db, estate.id, seq_of)
    result.requests = tally.requests
    result.acknowledged = len(seq_of)
    result.lost = len(log.lost)
    result.duplicated = len(log.duplicated) + len(moved) + sum(1 for n in created.values() if n > 1)
    result.failures.extend(log.problems)
    if tally.errors:
        result.fail(f"{len(tally.errors)} errors: {Counter(tally.errors).most_common(5)}")
    outcome = audit(db, [estate.id])
    result.audit = outcome.verdict
    if not outcome.clean:
        result.fail(f"audit: {outcome.findings[:5]}")
    code, out, err = cli(db, "verify", "--estate", estate.id)
    if code != 0:
        result.fail(f"trustledger verify exited {code}: {err.strip() or out.strip()}")
    torn, temporary = _blob_store(db, estate.id)
    if torn:
        result.fail(f"voucher files whose bytes do not hash to their name: {torn[:3]}")
    result.throughput = round(len(seq_of) / result.seconds, 1) if result.seconds else None
    p50 = percentile(restarts, 50)
    result.details = {
        "kills": server.kills - kills_before,
        "restarts": len(restarts),
        "restart_to_ready_s_p50": None if p50 is None else round(p50, 2),
        "restart_to_ready_s_max": round(max(restarts), 2) if restarts else None,
        "log_size": log.size,
        "vouchers_uploaded": tally.vouchers,
        "connections_refused_while_down": tally.refused_connections,
        "requests_cut_in_flight": tally.cut_in_flight,
        "cut_posts_then_retried_answered": dict(tally.retried_outcome),
        "trustledger_verify_exit": code,
        "voucher_files_torn": len(torn),
        "voucher_temp_files_left": temporary,
    }
    return result, estate


def _blob_store(db: Db, estate: str) -> tuple[list[str], int]:
    """Files under a voucher's final name whose bytes are not that voucher (torn writes),
    and how many temporary files kills left behind (never served, never referenced)."""
    store = db.data_dir / "vouchers" / estate
    torn, temporary = [], 0
    for p in store.rglob("*") if store.is_dir() else []:
        if not p.is_file():
            continue
        if p.name.startswith(".tmp-"):
            temporary += 1
        elif hashlib.sha256(p.read_bytes()).hexdigest() != p.name:
            torn.append(p.name)
    return torn, temporary


def _present(db: Db, estate: str, ids: Sequence[str]) -> int:
    wanted = set(ids)
    with connect(db) as conn:
        from sqlalchemy import text

        rows = conn.execute(
            text("SELECT payload_id FROM entries WHERE estate_id = :e"), {"e": estate}
        ).scalars()
        return sum(1 for pid in rows if pid in wanted)


def _post_batch(url: str, items: list[dict[str, Any]], answer: list[Any]) -> None:
    try:
        answer.append(httpx.post(url, json={"items": items}, timeout=600).status_code)
    except httpx.TransportError as e:
        answer.append(type(e).__name__)


def batch_kills(server: Server, *, kills: int, seed: int) -> Result:
    rng = random.Random(seed)
    db = server.db
    estate = Authors.new("batch")
    estate.create(db)
    start_size = check_log(db, estate.id, {}).size
    result = Result(NAME, db.engine, "kill -9 during 1,000-item batch", f"{kills} kills")
    outcomes: Counter[str] = Counter()  # of the kills that landed before the answer
    answered_before_kill = in_flight = k = 0
    url = f"/v1/estates/{estate.id}/entries:batch"
    began = time.monotonic()
    with httpx.Client(base_url=server.base, timeout=600) as c:
        calibration = {"items": [wire(estate.income(10 + i)) for i in range(BATCH)]}
        t0 = time.perf_counter()
        r = c.post(url, json=calibration)
        duration = time.perf_counter() - t0
        if r.status_code != 201 or len(r.json()["entries"]) != BATCH:
            result.fail(f"undisturbed batch answered {r.status_code} {problem_type(r)}")
        result.requests += 1
        result.acknowledged += BATCH
    k = 0
    reach = 0.9  # kill within this share of an undisturbed batch's time
    while in_flight < kills and k < 3 * kills:
        k += 1
        items = [wire(estate.income(100_000 + k * BATCH + i)) for i in range(BATCH)]
        ids = [d["payload"]["id"] for d in items]
        answer: list[Any] = []
        t = threading.Thread(
            target=_post_batch, args=(server.base + url, items, answer), daemon=True
        )
        t.start()
        time.sleep(rng.uniform(0.05, reach) * duration)
        late = bool(answer)  # the answer came before the kill: not a kill during the batch
        server.kill9()
        t.join(timeout=60)
        server.start()
        present = _present(db, estate.id, ids)
        outcome = "all" if present == BATCH else "none" if present == 0 else "PARTIAL"
        if late:
            answered_before_kill += 1
            reach *= 0.7
            if outcome != "all":
                result.fail(f"batch {k} was answered {answer[0]} but has {present} items")
        else:
            in_flight += 1
            outcomes[outcome] += 1
        if outcome == "PARTIAL":
            result.fail(f"batch {k}: {present} of {BATCH} items present after the kill")
            result.lost += BATCH - present
        r = httpx.post(server.base + url, json={"items": items}, timeout=600)
        result.requests += 2
        expected = 200 if outcome == "all" else 201
        if r.status_code != expected:
            result.fail(f"batch {k} posted again answered {r.status_code}, not {expected}")
        if _present(db, estate.id, ids) != BATCH:
            result.fail(f"batch {k}: not complete after posting it again")
        else:
            result.acknowledged += BATCH
    if in_flight < kills:
        result.fail(f"only {in_flight} of {kills} kills landed before the batch's answer")
    result.seconds = round(time.monotonic() - began, 1)
    log = check_log(db, estate.id, {})
    result.duplicated = len(log.duplicated)
    result.failures.extend(log.problems)
    if log.size != start_size + BATCH * (k + 1):
        result.fail(f"log has {log.size} entries, expected {start_size + BATCH * (k + 1)}")
    outcome_audit = audit(db, [estate.id])
    result.audit = outcome_audit.verdict
    if not outcome_audit.clean:
        result.fail(f"audit: {outcome_audit.findings[:5]}")
    result.details = {
        "batch_items": BATCH,
        "undisturbed_batch_s": round(duration, 2),
        "kills_before_the_answer": in_flight,
        "after_kill": dict(outcomes),
        "late_kills_answered_first_all_present": answered_before_kill,
        "log_size": log.size,
    }
    return result


def run(
    engines: Sequence[str],
    *,
    full: bool = False,
    workdir: Path,
    kills: int | None = None,
    writers: int | None = None,
    batch: int | None = None,
    seed: int = 11,
    pause: tuple[float, float] = (0.3, 1.2),
) -> list[Result]:
    counts = FULL if full else SMALL
    kills = counts["kills"] if kills is None else kills
    writers = writers or counts["writers"]
    batch = counts["batch_kills"] if batch is None else batch
    results = []
    dbs = Databases(workdir / NAME)
    try:
        for engine in engines:
            db = dbs.new(engine, NAME)
            server = Server(db, db.data_dir.parent / "server.log")
            server.start()
            try:
                result, _ = sustained(server, kills=kills, writers=writers, seed=seed, pause=pause)
                results.append(result)
                if batch:
                    results.append(batch_kills(server, kills=batch, seed=seed))
            finally:
                server.stop()
    finally:
        dbs.close()
    return results


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
