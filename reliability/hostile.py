"""Hostile input against a real server: generated requests, huge and deep bodies, paths, SQL.

1. **Schemathesis** over the server's own ``/openapi.json``: every operation with
   generated parameters and bodies (path parameters steered to the seeded estate
   half of the time, so the 200 paths run as well as the 404s), then the
   stateful state machine built from the links schemathesis infers (``GET
   /v1/estates`` → the estate → its entries, proofs, vouchers, proposals …).
   Every answer is judged without stopping: no 5xx, every 4xx an RFC 9457 problem
   (``application/problem+json`` with ``type`` under ``/problems/``, ``title``,
   ``status`` equal to the HTTP status, ``detail``).
2. **Huge and deep bodies**: a declared 50 MB post, batch and voucher are answered
   413 after the headers and a first chunk, a 50 MB chunked post is cut off after
   about the limit, a body nested 10,000 deep (arrays and objects), a 5,000-digit
   number, 60,000 keys and a 900 KB string are refused 4xx problem+json within
   seconds; the server stays up and its memory does not grow by the bodies' size.
3. **Voucher paths**: ``..``, ``%2e%2e``, ``%2F``, double encoding, backslashes,
   absolute paths, NUL, in the voucher name and in the estate name, with GET and
   PUT, sent byte for byte (``http.client``, no client-side normalisation). A
   canary file is planted exactly where ``vouchers/..`` would lead: no answer may
   carry it, no file may appear outside the store, no probe may answer 2xx or 5xx.
4. **SQL injection** strings in every query filter and path parameter of the
   query API and the pages: no 5xx, 4xx are problems, text filters that match
   nothing return nothing (``%`` and ``_`` are literal), no answer is slow (a
   ``pg_sleep`` would show), and the tables and the log are intact afterwards.

``python -m reliability.hostile [--full] [--engine sqlite|postgresql|both]``
"""

from __future__ import annotations

import hashlib
import http.client
import json
import select
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from reliability.common import (
    PROBLEM,
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
)

NAME = "hostile"
FULL = {"per_operation": 150, "stateful_target": 2500, "steps": 8}
SMALL = {"per_operation": 4, "stateful_target": 60, "steps": 4}
BIG = 50 * 1024 * 1024
SLOW = 3.0  # seconds: an answer slower than this to a short query is suspicious


# -- 1. schemathesis -------------------------------------------------------------------------


@dataclass
class Judge:
    """Counts every generated request and what came back; never stops the run."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    not_problems: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)

    def judge(self, label: str, status: int, content_type: str, body: bytes) -> None:
        self.requests += 1
        self.statuses[status] += 1
        self.by_operation.setdefault(label, Counter())[status] += 1
        if status >= 500:
            self.server_errors.append(f"{status} {label}: {body[:200]!r}")
            return
        if 400 <= status < 500:
            reason = _not_a_problem(status, content_type, body)
            if reason:
                self.not_problems.append(f"{status} {label}: {reason}")


def _not_a_problem(status: int, content_type: str, body: bytes) -> str | None:
    if content_type.split(";")[0].strip() != PROBLEM:
        # The resident pages answer people in HTML; the JSON API answers problems.
        return None if content_type.startswith("text/html") else f"content type {content_type!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return "problem body is not JSON"
    for member in ("type", "title", "status", "detail"):
        if member not in doc:
            return f"problem without {member!r}"
    if not str(doc["type"]).startswith("/problems/"):
        return f"type {doc['type']!r}"
    if doc["status"] != status:
        return f"problem status {doc['status']} != {status}"
    return None


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name, "")
    return value[0] if isinstance(value, list) else str(value)


def schemathesis_run(
    server: Server,
    estate: str,
    seq: int,
    voucher: str,
    *,
    per_operation: int,
    stateful: int,
    steps: int,
) -> tuple[Judge, Judge, list[str]]:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    notes: list[str] = []

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters or "estate" not in path_parameters:
            return st.just(path_parameters)
        existing = {**path_parameters, "estate": estate}
        if "seq" in existing:
            existing["seq"] = seq
        if "sha256" in existing:
            existing["sha256"] = voucher
        return st.sampled_from([existing, path_parameters])

    stateless = Judge()
    quiet = settings(
        max_examples=per_operation,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )

    def make_test(op: Any) -> Any:
        label = f"{op.method.upper()} {op.path}"

        @quiet
        @given(op.as_strategy())
        def one(case: Any) -> None:
            try:
                r = case.call(timeout=60)
            except Exception as e:  # a refused header value is the client's, not the server's
                if "Connection" in type(e).__name__ or "Timeout" in type(e).__name__:
                    stateless.transport_errors.append(f"{label}: {type(e).__name__}")
                return
            stateless.judge(label, r.status_code, _header(r, "content-type"), r.content)

        return one

    for result in schema.get_all_operations():
        make_test(result.ok())()

    stateful_judge = Judge()
    machine = schema.as_state_machine()

    class Recording(machine):  # type: ignore[misc,valid-type]
        def call(self, case: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", 60)
            return case.call(**kwargs)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            label = f"{case.method.upper()} {case.operation.path}"
            stateful_judge.judge(
                label, response.status_code, _header(response, "content-type"), response.content
            )

    rounds = 0
    while stateful_judge.requests < stateful and rounds < 50:
        rounds += 1
        try:
            Recording.run(
                settings=settings(
                    max_examples=max(5, (stateful - stateful_judge.requests) // steps),
                    stateful_step_count=steps,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
        except Exception as e:  # a failure of the machine itself, reported, not fatal
            notes.append(f"stateful round {rounds} stopped: {type(e).__name__}: {str(e)[:200]}")
            if rounds > 3 and stateful_judge.requests == 0:
                break
    return stateless, stateful_judge, notes


# -- 2. huge and deep bodies -----------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _declared_but_unsent(port: int, method: str, path: str, length: int, ctype: str) -> str:
    """Send the headers of a ``length``-byte body and 64 KiB of it; the answer's status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        s.sendall(head.encode() + b"{" + b" " * (64 * 1024))
        data = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0].decode("latin-1") + (
            " problem+json" if b"application/problem+json" in data else ""
        )


def _chunked_flood(port: int, path: str, total: int) -> tuple[str, int]:
    """POST a chunked body of up to ``total`` bytes; (status line, bytes sent before it)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b" " * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            while sent < total:
                ready, _, _ = select.select([s], [], [], 0)
                if ready:
                    break
                s.sendall(frame)
                sent += len(chunk)
        except OSError:
            pass
        s.settimeout(10)
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
    line = data.split(b"\r\n", 1)[0].decode("latin-1") or "(connection closed without an answer)"
    return line, sent


def bodies(server: Server, estate: str) -> tuple[list[str], dict[str, Any]]:
    failures: list[str] = []
    seen: dict[str, Any] = {}
    assert server.proc is not None
    rss_before = _rss_kb(server.proc.pid)
    base = f"/v1/estates/{estate}"
    for label, method, path, ctype in [
        ("50 MB post, declared", "POST", f"{base}/entries", "application/json"),
        ("50 MB batch, declared", "POST", f"{base}/entries:batch", "application/json"),
        ("50 MB voucher, declared", "PUT", f"{base}/vouchers/{'ab' * 32}", "application/pdf"),
        ("50 MB proposal, declared", "POST", f"{base}/proposals", "application/json"),
    ]:
        began = time.monotonic()
        line = _declared_but_unsent(server.port, method, path, BIG, ctype)
        seen[label] = f"{line} in {time.monotonic() - began:.2f} s"
        if " 413 " not in line + " " or "problem+json" not in line:
            failures.append(f"{label}: {line}")
    began = time.monotonic()
    line, sent = _chunked_flood(server.port, f"{base}/entries", BIG)
    seen["50 MB chunked post"] = (
        f"{line} after {sent / 1024 / 1024:.1f} MiB sent, {time.monotonic() - began:.2f} s"
    )
    if " 413 " not in line + " " or sent >= BIG:
        failures.append(f"50 MB chunked post: {line} after {sent} bytes")
    began = time.monotonic()
    try:
        r = httpx.post(f"{server.base}{base}/entries", content=b" " * BIG, timeout=60)
        seen["50 MB post, sent whole"] = f"{r.status_code} {problem_type(r)}"
    except httpx.TransportError as e:
        seen["50 MB post, sent whole"] = f"connection closed by the server ({type(e).__name__})"
    seen["50 MB post, sent whole"] += f" in {time.monotonic() - began:.2f} s"

    deep = 10_000
    cases = {
        "arrays nested 10,000 deep": b'{"payload": '
        + b"[" * deep
        + b"]" * deep
        + b', "signatures": []}',
        "objects nested 10,000 deep": b'{"payload": '
        + b'{"a":' * deep
        + b"1"
        + b"}" * deep
        + b', "signatures": []}',
        "a 5,000-digit number": b'{"payload": {"v": ' + b"9" * 5000 + b'}, "signatures": []}',
        "60,000 keys": b"{" + b",".join(b'"k%d":0' % i for i in range(60_000)) + b"}",
        "a 900 KB string": json.dumps(
            {"payload": {"memo": "x" * 900_000}, "signatures": []}
        ).encode(),
    }
    for label, body in cases.items():
        for path in (f"{base}/entries", f"{base}/entries:batch", f"{base}/proposals"):
            began = time.monotonic()
            r = httpx.post(
                f"{server.base}{path}",
                content=body,
                headers={"content-type": "application/json"},
                timeout=60,
            )
            took = time.monotonic() - began
            seen[f"{label} → {path.rsplit('/', 1)[1]}"] = (
                f"{r.status_code} {problem_type(r)} in {took:.2f} s"
            )
            if not (400 <= r.status_code < 500 and is_problem(r)) or took > SLOW:
                failures.append(
                    f"{label} → {path}: {r.status_code} {problem_type(r)} in {took:.2f} s"
                )
    alive = server.alive and httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200
    rss_after = _rss_kb(server.proc.pid) if server.alive else 0
    seen["server RSS before/after (MB)"] = f"{rss_before / 1024:.0f} / {rss_after / 1024:.0f}"
    if not alive:
        failures.append("the server is not up after the huge bodies")
    if rss_after - rss_before > 40 * 1024:
        failures.append(f"server memory grew by {(rss_after - rss_before) / 1024:.0f} MB")
    return failures, seen


# -- 3. voucher paths ------------------------------------------------------------------------

MARKER = b"CANARY-4f1c9b-outside-the-voucher-store"


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _raw(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/pdf"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("content-type", ""), r.read()
    finally:
        conn.close()


def voucher_paths(server: Server, db: Db, estate: str) -> tuple[list[str], dict[str, Any]]:
    failures: list[str] = []
    canary = b"%PDF-1.4\n% " + MARKER + b"\n%%EOF\n"
    sha = hashlib.sha256(canary).hexdigest()
    # where voucher_root / ".." / sha[:2] / sha would lead (the data directory), and next to it
    planted = [
        db.data_dir / sha[:2] / sha,
        db.data_dir / "canary.pdf",
        db.data_dir.parent / "canary.pdf",
    ]
    for p in planted:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(canary)
    upload, _ = pdf_voucher("a voucher uploaded under a hostile name")
    upload_sha = hashlib.sha256(upload).hexdigest()
    names = [
        "..%2F..%2F..%2Fcanary.pdf",
        "../../../canary.pdf",
        "%2e%2e%2f%2e%2e%2fcanary.pdf",
        "%2e%2e/%2e%2e/canary.pdf",
        "%252e%252e%252fcanary.pdf",
        "..%5C..%5Ccanary.pdf",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "....//....//canary.pdf",
        f"{sha}%00",
        f"{sha}%2F..",
        f"{sha[:2]}%2F{sha}",
        "%00",
        sha.upper(),
    ]
    estates = ["..", "%2e%2e", "..%2F..", "%2Fetc", "..%2Fdata", ".", "%2E", estate + "%2F.."]
    targets = [f"/v1/estates/{estate}/vouchers/{n}" for n in names]
    targets += [f"/v1/estates/{e}/vouchers/{sha}" for e in estates]
    targets += [f"/v1/estates/{e}/vouchers/{upload_sha}" for e in estates]
    targets += [f"/v1/estates/{estate}/vouchers/../../{sha[:2]}/{sha}"]
    workdir = db.data_dir.parent
    before = _files(workdir)
    answers: Counter[str] = Counter()
    for target in targets:
        for method, body in (("GET", None), ("PUT", upload)):
            status, ctype, content = _raw(server.port, method, target, body)
            answers[f"{method} {status}"] += 1
            if MARKER in content or b"root:x:0:0" in content:
                failures.append(f"{method} {target} served the canary or /etc/passwd")
            if status < 300 or status >= 500:
                failures.append(f"{method} {target}: {status}")
            elif ctype.startswith("application/json"):  # errors of the JSON API are problems
                failures.append(f"{method} {target}: {status} with {ctype}")
    created = sorted(str(p.relative_to(workdir)) for p in _files(workdir) - before)
    created = [c for c in created if not c.endswith(("-wal", "-shm", "-journal", ".log"))]
    if created:
        failures.append(f"files created by hostile uploads: {created[:5]}")
    for p in planted:
        if p.read_bytes() != canary:
            failures.append(f"the canary {p} was changed")
        p.unlink()
    return failures, {
        "probes": len(targets) * 2,
        "answers": dict(answers),
        "files_created": created,
    }


# -- 4. SQL injection ------------------------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE entries; --",
    '" OR ""="',
    "%' OR 1=1 --",
    "') OR ('1'='1",
    "1; SELECT pg_sleep(5); --",
    "'||(SELECT pg_sleep(5))||'",
    "' UNION SELECT leaf, leaf FROM entries --",
    "1 UNION SELECT token_hash FROM operator_tokens",
    "%",
    "_",
    "%%",
    "\\",
    "'",
    "物业费' OR '1'='1",
    "Assets' OR '1'='1",
    "Assets:Bank') --",
    "2026-10-15' OR '1'='1",
    "-1 OR 1=1",
    "0x7fffffff",
]


def sql_injection(
    server: Server, db: Db, estate: str, strings: Sequence[str] = INJECTIONS
) -> tuple[list[str], dict[str, Any]]:
    failures: list[str] = []
    base = f"{server.base}/v1/estates/{estate}"
    size_before = check_log(db, estate, {}).size
    answered: Counter[int] = Counter()
    slowest = 0.0
    text_filters = ("q", "counterparty", "category")
    with httpx.Client(timeout=30) as c:
        for s in strings:
            e = quote(s, safe="")
            probes: list[tuple[str, str, dict[str, str] | None]] = [
                (name, f"{base}/transactions", {name: s}) for name in text_filters
            ]
            probes += [
                ("account", f"{base}/transactions", {"account": s}),
                ("from", f"{base}/transactions", {"from": s}),
                ("to", f"{base}/transactions", {"to": s}),
                ("cursor", f"{base}/transactions", {"cursor": s}),
                ("order", f"{base}/transactions", {"order": s}),
                ("limit", f"{base}/transactions", {"limit": s}),
                ("csv q", f"{base}/transactions.csv", {"q": s}),
                ("date", f"{base}/balances", {"date": s}),
                ("period", f"{base}/summary", {"period": s}),
                ("year", f"{base}/budget", {"year": s}),
                ("start", f"{base}/entries", {"start": s}),
                ("seq", f"{base}/entries/{e}", None),
                ("inclusion", f"{base}/proofs/inclusion", {"seq": s, "tree_size": s}),
                ("consistency", f"{base}/proofs/consistency", {"from": s, "to": s}),
                ("statement", f"{base}/statements/{e}", None),
                ("receipt", f"{base}/receipts/{e}", None),
                ("proposals", f"{base}/proposals", {"status": s}),
                ("proposal", f"{base}/proposals/{e}", None),
                ("estate", f"{server.base}/v1/estates/{e}", None),
                ("page q", f"{server.base}/e/{estate}/transactions", {"q": s}),
                ("page estate", f"{server.base}/e/{e}", None),
                ("problem", f"{server.base}/problems/{e}", None),
            ]
            for name, url, params in probes:
                began = time.monotonic()
                r = c.get(url, params=params)
                took = time.monotonic() - began
                slowest = max(slowest, took)
                answered[r.status_code] += 1
                where = f"{name}={s!r}"
                if r.status_code >= 500:
                    failures.append(f"{where}: {r.status_code} {problem_type(r)}")
                elif r.status_code >= 400:
                    ctype = r.headers.get("content-type", "")
                    if not ctype.startswith("text/html") and not is_problem(r):
                        failures.append(f"{where}: {r.status_code} not a problem ({ctype})")
                if took > SLOW:
                    failures.append(f"{where}: took {took:.1f} s")
                if name in text_filters and r.status_code == 200:
                    body = r.json()
                    if body["transactions"] or any(body["sum"].values()):
                        failures.append(f"{where}: matched {len(body['transactions'])} rows")
                if (
                    name == "csv q"
                    and r.status_code == 200
                    and len(r.text.strip().splitlines()) > 1
                ):
                    failures.append(f"{where}: the CSV has rows")
    with connect(db) as conn:
        from sqlalchemy import text

        tables = conn.execute(text("SELECT count(*) FROM entries")).scalar()
        tokens = conn.execute(text("SELECT count(*) FROM operator_tokens")).scalar()
    size_after = check_log(db, estate, {}).size
    if size_after != size_before:
        failures.append(f"the log changed: {size_before} → {size_after}")
    return failures, {
        "strings": len(strings),
        "requests": sum(answered.values()),
        "answers": {str(k): v for k, v in sorted(answered.items())},
        "slowest_s": round(slowest, 2),
        "entries_rows_after": tables,
        "operator_tokens_rows_after": tokens,
    }


# -- the campaign ----------------------------------------------------------------------------


def _seed(db: Db) -> tuple[Authors, int, str]:
    estate = Authors.new("hostile")
    estate.create(db, opening=10_000_000)
    data, ref = pdf_voucher("seeded voucher for generated requests")
    svc = db.service()
    try:
        svc.blobs_for(estate.id).put(ref["sha256"], data)
        appended = svc.append(
            estate.id,
            [
                estate.spend(30_000, vouchers=[ref], memo="10月保洁费"),
                estate.income(5_000, "Income:Public:Parking", memo="停车收益"),
            ],
        )
    finally:
        svc.engine.dispose()
    return estate, appended[-1].entry.seq, ref["sha256"]


def _judged(engine: str, label: str, judge: Judge, seconds: float, notes: list[str]) -> Result:
    r = Result(NAME, engine, label, f"{judge.requests} generated requests")
    r.requests = judge.requests
    r.seconds = seconds
    for what, items in (
        ("5xx", judge.server_errors),
        ("4xx not problem+json", judge.not_problems),
        ("transport errors", judge.transport_errors),
    ):
        if items:
            r.fail(f"{len(items)} {what}: {items[:3]}")
    r.details = {
        "statuses": {str(k): v for k, v in sorted(judge.statuses.items())},
        "operations": len(judge.by_operation),
        "5xx": len(judge.server_errors),
        "4xx_not_problem": len(judge.not_problems),
    }
    if label.endswith("stateful"):
        r.details["notes"] = notes
        if judge.requests == 0:
            r.fail("the stateful run sent nothing")
    return r


def run_engine(
    dbs: Databases,
    engine: str,
    per_operation: int,
    stateful: int,
    steps: int,
    injections: Sequence[str] = INJECTIONS,
) -> list[Result]:
    db = dbs.new(engine, NAME)
    estate, seq, voucher = _seed(db)
    results = []
    with Server(db, db.data_dir.parent / "server.log") as server:
        began = time.monotonic()
        stateless, stateful_j, notes = schemathesis_run(
            server,
            estate.id,
            seq,
            voucher,
            per_operation=per_operation,
            stateful=stateful,
            steps=steps,
        )
        seconds = round(time.monotonic() - began, 1)
        results.append(_judged(engine, "schemathesis, per operation", stateless, seconds, notes))
        results.append(_judged(engine, "schemathesis, stateful", stateful_j, seconds, notes))
        checks = [
            (
                "huge and deep bodies",
                "5 huge + 15 hostile bodies",
                partial(bodies, server, estate.id),
            ),
            (
                "voucher path traversal",
                "GET/PUT probes",
                partial(voucher_paths, server, db, estate.id),
            ),
            (
                "SQL injection in filters",
                "strings × 25 params",
                partial(sql_injection, server, db, estate.id, injections),
            ),
        ]
        for label, counts, check in checks:
            began = time.monotonic()
            failures, details = check()
            r = Result(NAME, engine, label, counts)
            r.failures.extend(failures)
            r.details = details
            r.seconds = round(time.monotonic() - began, 1)
            r.requests = int(details.get("requests", details.get("probes", len(details))))
            if "probes" in details:
                r.counts = f"{details['probes']} {counts}"
            if "strings" in details:
                r.counts = f"{details['strings']} {counts}"
            results.append(r)
    outcome = audit(db, [estate.id])
    size = check_log(db, estate.id, {}).size
    for r in results:
        r.audit = outcome.verdict
        r.let_in = size - (seq + 1)  # nothing hostile may have been appended
        if not outcome.clean:
            r.fail(f"audit: {outcome.findings[:3]}")
    return results


def run(
    engines: Sequence[str],
    *,
    full: bool = False,
    workdir: Path,
    per_operation: int | None = None,
    stateful: int | None = None,
    injections: int | None = None,
) -> list[Result]:
    counts = FULL if full else SMALL
    per_operation = per_operation or counts["per_operation"]
    stateful = stateful or counts["stateful_target"]
    results = []
    dbs = Databases(workdir / NAME)
    try:
        for engine in engines:
            strings = INJECTIONS[:injections] if injections else INJECTIONS
            results.extend(
                run_engine(dbs, engine, per_operation, stateful, counts["steps"], strings)
            )
    finally:
        dbs.close()
    return results


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
