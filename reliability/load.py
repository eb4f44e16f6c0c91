"""Load: concurrent writers posting signed payloads over HTTP, with retries.

W writer threads post M pre-signed payloads each to one estate, and then the same
spread over four estates, against one ``trustledger serve`` per engine. Every post
is a real signed payload (an income signed by the trustee, every tenth a spending
co-signed by trustee and committee). Retries are part of the load: a random 5% of
posts are sent again after their acknowledgement (the answer must be ``200`` with
the same seq), and 2% are first sent with a read timeout of 2 ms — the client
gives up before the answer and sends the same signed payload again, as a client
after a timeout does.

Afterwards, per estate: seqs contiguous, one chain (the audit), every payload
acknowledged with 201/200 present exactly once at the seq it was acknowledged
with, no payload acknowledged as created twice, the audit clean. Reported:
throughput (distinct payloads acknowledged per second of wall time), p50/p99
latency of the posts that were not cut short on purpose.

``python -m reliability.load [--full] [--engine sqlite|postgresql|both]``
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reliability.common import (
    Authors,
    Databases,
    Result,
    Server,
    audit,
    check_log,
    percentile,
    problem_type,
    wire,
)

NAME = "load"
FULL = {"writers": 8, "per_writer": 500}
SMALL = {"writers": 4, "per_writer": 20}
RESEND = 0.05  # share of posts sent again after their acknowledgement
TINY = 0.02  # share of posts first sent with a read timeout too short for the answer
TINY_READ_TIMEOUT = 0.002


@dataclass
class Tally:
    acks: list[tuple[str, int, int]] = field(default_factory=list)  # (payload id, status, seq)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    timeouts: int = 0  # client-side timeouts provoked on purpose
    resent: int = 0


def _plan(
    estates: Sequence[Authors], writers: int, per_writer: int, seed: int
) -> list[list[tuple[str, dict[str, Any], str]]]:
    rng = random.Random(seed)
    plans = []
    for w in range(writers):
        docs = []
        for i in range(per_writer):
            f = estates[(w + i) % len(estates)]
            n = w * per_writer + i
            item = f.spend(100 + n % 50) if n % 10 == 9 else f.income(1_000 + n)
            roll = rng.random()
            action = "tiny" if roll < TINY else "resend" if roll < TINY + RESEND else "normal"
            if i == 0 and w < 2:  # every run has at least one of each kind of retry
                action = ("tiny", "resend")[w]
            docs.append((f.id, wire(item), action))
        plans.append(docs)
    return plans


def _writer(
    base: str,
    plan: list[tuple[str, dict[str, Any], str]],
    barrier: threading.Barrier,
    tally: Tally,
    lock: threading.Lock,
) -> None:
    mine = Tally()

    def post(client: httpx.Client, url: str, doc: dict[str, Any]) -> None:
        began = time.perf_counter()
        r = client.post(url, json=doc)
        mine.requests += 1
        if r.status_code in (200, 201):
            mine.latencies.append(time.perf_counter() - began)
            mine.acks.append((doc["payload"]["id"], r.status_code, int(r.json()["seq"])))
        else:
            mine.errors.append(f"{r.status_code} {problem_type(r)}")

    try:
        with httpx.Client(timeout=120) as client:
            barrier.wait(timeout=120)
            for estate, doc, action in plan:
                url = f"{base}/v1/estates/{estate}/entries"
                if action == "tiny":
                    mine.requests += 1
                    try:
                        short = httpx.Timeout(30, read=TINY_READ_TIMEOUT)
                        r = client.post(url, json=doc, timeout=short)
                        if r.status_code in (200, 201):
                            pid = doc["payload"]["id"]
                            mine.acks.append((pid, r.status_code, int(r.json()["seq"])))
                    except httpx.TimeoutException:
                        mine.timeouts += 1
                    post(client, url, doc)  # the retry after the timeout
                else:
                    post(client, url, doc)
                    if action == "resend":
                        mine.resent += 1
                        post(client, url, doc)
    except Exception as e:  # reported with the others
        mine.errors.append(repr(e))
    with lock:
        tally.acks.extend(mine.acks)
        tally.latencies.extend(mine.latencies)
        tally.errors.extend(mine.errors)
        tally.requests += mine.requests
        tally.timeouts += mine.timeouts
        tally.resent += mine.resent


def load_once(
    server: Server,
    estates: Sequence[Authors],
    writers: int,
    per_writer: int,
    *,
    scenario: str,
    seed: int = 7,
) -> Result:
    db = server.db
    result = Result(
        NAME,
        db.engine,
        scenario,
        f"{writers}×{per_writer} posts, {len(estates)} estate{'s' if len(estates) > 1 else ''}",
    )
    plans = _plan(estates, writers, per_writer, seed)
    tally, lock = Tally(), threading.Lock()
    barrier = threading.Barrier(writers + 1)
    threads = [
        threading.Thread(target=_writer, args=(server.base, p, barrier, tally, lock), daemon=True)
        for p in plans
    ]
    for t in threads:
        t.start()
    barrier.wait(timeout=120)
    began = time.perf_counter()
    for t in threads:
        t.join(timeout=3600)
    wall = time.perf_counter() - began
    if any(t.is_alive() for t in threads):
        result.fail("a writer did not finish")

    planned = {doc["payload"]["id"] for p in plans for _, doc, _ in p}
    seq_of: dict[str, int] = {}
    created = Counter(pid for pid, status, _ in tally.acks if status == 201)
    twice = [pid for pid, n in created.items() if n > 1]
    moved = []
    for pid, _, seq in tally.acks:
        if seq_of.setdefault(pid, seq) != seq:
            moved.append(pid)
    unacked = planned - set(seq_of)
    result.requests = tally.requests
    result.acknowledged = len(seq_of)
    result.seconds = round(wall, 2)
    result.throughput = round(len(seq_of) / wall, 1) if wall else None
    p50, p99 = percentile(tally.latencies, 50), percentile(tally.latencies, 99)
    result.p50_ms = None if p50 is None else round(p50 * 1000, 1)
    result.p99_ms = None if p99 is None else round(p99 * 1000, 1)
    if tally.errors:
        result.fail(f"{len(tally.errors)} posts refused or failed: {Counter(tally.errors)}")
    if unacked:
        result.fail(f"{len(unacked)} payloads never acknowledged")

    lost = duplicated = 0
    for f in estates:
        ids = _ids(plans, f.id)
        mine = {pid: seq for pid, seq in seq_of.items() if pid in ids}
        log = check_log(db, f.id, mine)
        lost += len(log.lost)
        duplicated += len(log.duplicated)
        for problem in log.problems:
            result.fail(f"{f.id}: {problem}")
    result.lost = lost
    result.duplicated = duplicated + len(twice) + len(moved)
    outcome = audit(db, [f.id for f in estates])
    result.audit = outcome.verdict
    if not outcome.clean:
        result.fail(f"audit: {outcome.findings[:5]}")
    result.details = {
        "writers": writers,
        "per_writer": per_writer,
        "estates": len(estates),
        "acks_201": sum(created.values()),
        "acks_200": sum(1 for _, s, _ in tally.acks if s == 200),
        "resent_after_ack": tally.resent,
        "client_timeouts_then_retried": tally.timeouts,
        "created_twice": twice[:5],
        "acknowledged_at_two_seqs": moved[:5],
        "log_sizes": {f.id: check_log(db, f.id, {}).size for f in estates},
    }
    return result


def _ids(plans: list[list[tuple[str, dict[str, Any], str]]], estate: str) -> set[str]:
    return {doc["payload"]["id"] for p in plans for e, doc, _ in p if e == estate}


def run(
    engines: Sequence[str],
    *,
    full: bool = False,
    workdir: Path,
    writers: int | None = None,
    per_writer: int | None = None,
) -> list[Result]:
    counts = FULL if full else SMALL
    writers = writers or counts["writers"]
    per_writer = per_writer or counts["per_writer"]
    results = []
    dbs = Databases(workdir / NAME)
    try:
        for engine in engines:
            db = dbs.new(engine, NAME)
            one = Authors.new("load")
            four = [Authors.new("load") for _ in range(4)]
            for f in (one, *four):
                f.create(db, opening=100_000_000)
            with Server(db, db.data_dir.parent / "server.log") as server:
                results.append(load_once(server, [one], writers, per_writer, scenario="one estate"))
                results.append(load_once(server, four, writers, per_writer, scenario="4 estates"))
    finally:
        dbs.close()
    return results


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
