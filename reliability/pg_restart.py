"""PostgreSQL restarted under load: 503 problem+json while it is down, recovery without help.

A reader (latest checkpoint, a page of entries, ``/readyz``) and a writer (signed
posts, each retried until acknowledged) run against ``trustledger serve`` on
PostgreSQL while the database server is stopped, kept down for a few seconds and
started again (``pg_ctlcluster --skip-systemctl-redirect <version> main stop`` /
``start``; with ``--full`` also a plain ``restart`` first). Every answer is timed.

Holds when: every answer to a request made while PostgreSQL was down is
``503 application/problem+json`` of type ``/problems/unavailable`` (with
``Retry-After``) — during a plain ``restart`` (down for part of the command) a
2xx is fine too; no request takes longer than :data:`HANG` seconds; no 500 at any
time; after PostgreSQL is back the service answers 2xx again by itself (no restart
of the service), and every acknowledged post is in the log once, audit clean.

This stops the machine's PostgreSQL: everything else using it is disrupted. It runs
only by name (``python -m reliability.pg_restart``) or with
``TRUSTLEDGER_RELIABILITY_PG_RESTART=1``, and PostgreSQL is started again whatever
happens.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reliability.common import (
    Authors,
    Databases,
    Result,
    Server,
    audit,
    check_log,
    pg_available,
    problem_type,
    wire,
)

NAME = "pg_restart"
HANG = 5.0  # seconds: any answer slower than this is a hang
SMALL = {"cycles": [("restart", 0.0), ("stop-start", 3.0)]}
FULL = {"cycles": [("restart", 0.0), ("stop-start", 5.0), ("stop-start", 10.0)]}


def cluster() -> tuple[str, str]:
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: float(p.name))
    version = versions[-1]
    return version.name, sorted(p.name for p in version.iterdir())[0]


def pg_ctl(action: str) -> None:
    version, name = cluster()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def ensure_running() -> None:
    """Start PostgreSQL if it is not accepting connections (called whatever happened)."""
    for _ in range(3):
        if pg_available():
            return
        with suppress(subprocess.CalledProcessError):
            pg_ctl("start")
        for _ in range(60):
            if pg_available():
                return
            time.sleep(0.5)


@dataclass
class Answer:
    kind: str
    began: float
    seconds: float
    status: int | None  # None: no HTTP answer
    content_type: str
    problem: str
    retry_after: bool


@dataclass
class Record:
    answers: list[Answer] = field(default_factory=list)
    acks: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, a: Answer) -> None:
        with self.lock:
            self.answers.append(a)


def _call(client: httpx.Client, kind: str, method: str, url: str, **kw: object) -> Answer:
    began = time.monotonic()
    try:
        r = client.request(method, url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as e:
        return Answer(kind, began, time.monotonic() - began, None, type(e).__name__, "", False)
    return Answer(
        kind,
        began,
        time.monotonic() - began,
        r.status_code,
        r.headers.get("content-type", ""),
        problem_type(r) if r.status_code >= 400 else "",
        "retry-after" in r.headers,
    )


def reader(base: str, estate: str, stop: threading.Event, rec: Record) -> None:
    urls = [
        ("checkpoint", f"{base}/v1/estates/{estate}/checkpoint"),
        ("entries", f"{base}/v1/estates/{estate}/entries?start=0&limit=5"),
        ("readyz", f"{base}/readyz"),
    ]
    with httpx.Client(timeout=30) as c:
        i = 0
        while not stop.is_set():
            kind, url = urls[i % len(urls)]
            rec.add(_call(c, kind, "GET", url))
            i += 1
            time.sleep(0.05)


def writer(base: str, estate: Authors, stop: threading.Event, rec: Record) -> None:
    url = f"{base}/v1/estates/{estate.id}/entries"
    n = 0
    with httpx.Client(timeout=30) as c:
        while not stop.is_set():
            n += 1
            doc = wire(estate.income(1_000 + n))
            while True:  # the same payload until it is acknowledged
                began = time.monotonic()
                try:
                    r = c.post(url, json=doc)
                except httpx.HTTPError as e:
                    rec.add(
                        Answer("post", began, time.monotonic() - began, None, repr(e), "", False)
                    )
                    time.sleep(0.1)
                    continue
                rec.add(
                    Answer(
                        "post",
                        began,
                        time.monotonic() - began,
                        r.status_code,
                        r.headers.get("content-type", ""),
                        problem_type(r) if r.status_code >= 400 else "",
                        "retry-after" in r.headers,
                    )
                )
                if r.status_code in (200, 201):
                    with rec.lock:
                        rec.acks[doc["payload"]["id"]] = int(r.json()["seq"])
                    break
                if stop.is_set() and r.status_code != 503:
                    break
                time.sleep(0.1)
            time.sleep(0.05)


def run(engines: Sequence[str], *, full: bool = False, workdir: Path) -> list[Result]:
    if "postgresql" not in engines:
        return []
    cycles = (FULL if full else SMALL)["cycles"]
    dbs = Databases(workdir / NAME)
    results: list[Result] = []
    try:
        db = dbs.new("postgresql", NAME)
        estate = Authors.new("pgr")
        estate.create(db)
        with Server(db, db.data_dir.parent / "server.log") as server:
            for how, outage in cycles:
                results.append(_cycle(server, estate, how, outage))
        log = check_log(db, estate.id, {})
        outcome = audit(db, [estate.id])
        for r in results:
            r.audit = outcome.verdict
            if not outcome.clean:
                r.fail(f"audit: {outcome.findings[:5]}")
            r.failures.extend(log.problems)
    finally:
        ensure_running()
        dbs.close()
    return results


def _cycle(server: Server, estate: Authors, how: str, outage: float) -> Result:
    label = "restart" if how == "restart" else f"stop, {outage:g} s down, start"
    result = Result(NAME, "postgresql", f"PostgreSQL {label}", "1 reader + 1 writer")
    rec, stop = Record(), threading.Event()
    threads = [
        threading.Thread(target=reader, args=(server.base, estate.id, stop, rec), daemon=True),
        threading.Thread(target=writer, args=(server.base, estate, stop, rec), daemon=True),
    ]
    for t in threads:
        t.start()
    began = time.monotonic()
    try:
        time.sleep(1.5)
        t_stop = time.monotonic()
        if how == "restart":  # down somewhere inside the command: judge the whole of it
            down_from = time.monotonic()
            pg_ctl("restart")
            down_to = time.monotonic()
        else:
            pg_ctl("stop")
            down_from = time.monotonic()
            time.sleep(outage)
            down_to = time.monotonic()
            pg_ctl("start")
        t_up, wall_up = time.monotonic(), time.time()
        deadline = t_up + 30
        while time.monotonic() < deadline:
            with rec.lock:
                ok_after = [a for a in rec.answers if a.began > t_up and a.status == 200]
            if len(ok_after) >= 3:
                break
            time.sleep(0.1)
        time.sleep(2.0)
    finally:
        stop.set()
        ensure_running()
        for t in threads:
            t.join(timeout=60)
    result.seconds = round(time.monotonic() - began, 1)

    answers = sorted(rec.answers, key=lambda a: a.began)
    during = [a for a in answers if down_from <= a.began and a.began + a.seconds <= down_to]
    statuses = Counter(a.status for a in answers)
    bad_during = [
        a
        for a in during
        if not (how == "restart" and a.status is not None and a.status < 400)
        and not (
            a.status == 503
            and a.content_type.startswith("application/problem+json")
            and a.problem == "/problems/unavailable"
            and a.retry_after
        )
    ]
    slow = [a for a in answers if a.seconds > HANG]
    server_errors = [
        a for a in answers if a.status is not None and a.status >= 500 and a.status != 503
    ]
    no_answer = [a for a in answers if a.status is None]
    first_ok = next(
        (a for a in answers if a.began >= t_up and a.status is not None and a.status < 400), None
    )
    after_first_ok = [a for a in answers if first_ok and a.began > first_ok.began + 1.0]
    failing_later = [a for a in after_first_ok if a.status is None or a.status >= 500]

    result.requests = len(answers)
    result.acknowledged = len(rec.acks)
    log = check_log(server.db, estate.id, rec.acks)
    result.lost = len(log.lost)
    result.duplicated = len(log.duplicated)
    if not during:
        result.fail("no request fell inside the outage")
    if bad_during:
        kinds = Counter((a.kind, a.status, a.problem or a.content_type) for a in bad_during)
        result.fail(
            f"{len(bad_during)} answers during the outage were not 503 unavailable: {kinds}"
        )
    if slow:
        worst = max(a.seconds for a in slow)
        result.fail(f"{len(slow)} answers took more than {HANG} s (max {worst:.1f} s)")
    if server_errors:
        kinds = Counter((a.kind, a.status, a.problem) for a in server_errors)
        result.fail(f"{len(server_errors)} 5xx other than 503: {kinds}")
    if no_answer:
        kinds = Counter(a.content_type for a in no_answer)
        result.fail(f"{len(no_answer)} requests got no HTTP answer: {kinds}")
    if first_ok is None:
        result.fail("the service did not recover after PostgreSQL came back")
    if failing_later:
        late = [
            f"{a.kind} +{a.began - t_up:.2f}s {a.status} {a.problem}" for a in failing_later[:8]
        ]
        result.fail(f"{len(failing_later)} failures more than 1 s after recovery: {late}")
        result.details["server_log_after_recovery"] = _log_after(server, wall_up + 1.0)
    during_ms = sorted(a.seconds * 1000 for a in during)
    result.p50_ms = round(during_ms[len(during_ms) // 2], 1) if during_ms else None
    result.p99_ms = round(during_ms[-1], 1) if during_ms else None
    result.details = {
        "outage_s": round(down_to - down_from, 2),
        "outage": "the restart command" if how == "restart" else "between stop and start",
        "stop_command_s": round(down_from - t_stop, 2),
        "answers_during_outage": len(during),
        "answers_during_outage_by_status": dict(Counter(a.status for a in during)),
        "max_answer_during_outage_ms": result.p99_ms,
        "statuses_whole_run": {str(k): v for k, v in statuses.items()},
        "recovered_s_after_start": None if first_ok is None else round(first_ok.began - t_up, 2),
        "slowest_answer_s": round(max((a.seconds for a in answers), default=0), 2),
        "note": "p50/p99 columns: latency of answers while PostgreSQL was down",
    }
    return result


def _log_after(server: Server, since: float) -> list[str]:
    """The server's warnings and errors logged after ``since`` (epoch seconds)."""
    import datetime as dt
    import json

    out = []
    for line in server.log_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
            when = dt.datetime.strptime(doc["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        except (ValueError, KeyError):
            continue
        if when.replace(tzinfo=dt.UTC).timestamp() >= since and doc["level"] != "info":
            out.append(f"{doc['time']} {doc['message']} {doc.get('error', '')[-300:]}")
    return out[:20]


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
