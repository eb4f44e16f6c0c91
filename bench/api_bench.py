"""api_bench: the HTTP API against the ledger core, over real HTTP (uvicorn).

Each server is ``uvicorn api.app:create_app --factory`` in a subprocess (one worker,
``TRUSTLEDGER_WRITE_RATE=0``, access log off, uvicorn's defaults: httptools and
uvloop, which the project depends on) on 127.0.0.1. The timed requests go through
:class:`RawClient`, one keep-alive ``http.client`` connection per client thread:
the benchmark measures the server's cost, and ``httpx``'s own (≈ 1 ms of CPU per
request on the 2 cores the server shares with the client, as much as the server's
whole HTTP overhead) is the client's. The GETs of ``api_inclusion_proof`` use an
``httpx.Client``.

1. ``api_inclusion_proof`` — ``GET /v1/estates/{e}/proofs/inclusion`` latency p50 on a
   log of 1,000,000 entries (quick: 100,000) against one of 1,000, each served by
   its own server over the synthetic ``tree_hashes`` files of
   :mod:`bench.inclusion_proof_db` (cached in ``bench/out/``). ≥ 200 proofs of
   uniformly random leaves per size, 3 rounds alternating the sizes, after a
   warm-up whose proofs are verified against the root. Target: p50 ≤ 1.5 × (a
   proof is O(log n) hashes in one query, so HTTP should hide the size of the log).

2. ``api_post`` — signed ``POST /v1/estates/{e}/entries``, one entry per request, one
   client posting one after another, against ``LedgerService.append`` of one item
   per call in process (the ledger core's rate), both on SQLite files made by
   :func:`ledger.storage.db.make_engine` (WAL, ``synchronous=FULL``), the same
   pre-signed mix of transactions (:meth:`bench.common.BenchEstate.transactions`),
   a fresh estate per side and round, rounds alternating which side goes first.
   Request bodies are encoded before the clock starts (a client's cost, not the
   server's). Every answer must be 201. Target: ≥ 0.5 × the core's rate.

   ``api_post_concurrent`` — the same comparison with :data:`CLIENTS` posting at
   once: as many client threads, each with its own keep-alive connection, against
   as many threads calling ``LedgerService.append_one`` in process (the group-commit
   path the route takes). Same target. With one client, every post pays the HTTP
   round trip and the server's thread hop on top of an append the core does in a
   few milliseconds; with several, both sides group their commits and the figure
   says what HTTP costs a loaded server. The sequential figure stays ``api_post``.

3. ``api_batch_import`` — ``POST /v1/estates/{e}/entries:batch`` with 1,000 signed
   entries per request (full: 5 batches per round, quick: 1), against the Ed25519
   verification bound: the time ``cryptography`` takes just to verify the same
   signatures in one thread (public keys loaded and signing messages built before
   the clock starts). Figures are entries per second. Target: ≥ 0.7 × the bound.
   The server verifies a batch's signatures in its verifying processes
   (:mod:`api.preverify`) while it reads and appends the batch. The note also
   gives the bound with the RFC 8785 encoding of each message included.

``TRUSTLEDGER_BENCH_API_ONLY`` (comma-separated row names) runs only those rows.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench.common import (
    ORIGIN_HOST,
    OUT,
    BenchEstate,
    Result,
    SqliteFiles,
    median,
    percentile,
    spread,
    wire_form,
)
from bench.inclusion_proof_db import ESTATE as PROOF_ESTATE
from bench.inclusion_proof_db import build as build_proof_db
from bench.inclusion_proof_db import leaf as proof_leaf
from ledger.canonical import b64decode, canonical_json
from ledger.merkle import hash_leaf, verify_inclusion
from ledger.signing import PAYLOAD_DOMAIN
from ledger.storage.appender import SignedPayload
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0
BATCH = 1000
CLIENTS = 4
"""Concurrent clients (and in-process appending threads) of ``api_post_concurrent``."""
ONLY_ENV = "TRUSTLEDGER_BENCH_API_ONLY"


class RawClient:
    """One keep-alive HTTP/1.1 connection: a POST costs the client little CPU."""

    def __init__(self, base: str, timeout: float) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def reconnect(self) -> None:
        """A new connection (before a timed round: the server closes idle ones after 5 s)."""
        self.conn.close()
        self.conn.connect()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


# -- a server in a subprocess -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(url: str, data_dir: Path) -> Iterator[str]:
    """Run uvicorn over the database ``url``; yield its base URL; always stop it."""
    port = _free_port()
    env = {
        **os.environ,
        "TRUSTLEDGER_DATABASE_URL": url,
        "TRUSTLEDGER_DATA_DIR": str(data_dir),
        "TRUSTLEDGER_LOG_ORIGIN_HOST": ORIGIN_HOST,
        "TRUSTLEDGER_WRITE_RATE": "0",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"uvicorn exited: {log.read().decode(errors='replace')}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start")
                time.sleep(0.05)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _scratch_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="api-", dir=OUT))


# -- 1. inclusion proofs over HTTP at 1k and 1M -----------------------------------------------


def _proof_times(
    client: httpx.Client, n: int, root: bytes, seqs: Sequence[int], warmup: int
) -> list[float]:
    path = f"/v1/estates/{PROOF_ESTATE}/proofs/inclusion"
    for seq in seqs[:warmup]:
        r = client.get(path, params={"seq": seq, "tree_size": n})
        r.raise_for_status()
        proof = [b64decode(h, "hash", length=32) for h in r.json()["hashes"]]
        verify_inclusion(hash_leaf(proof_leaf(seq)), seq, n, proof, root)
    out = []
    for seq in seqs[warmup:]:
        t = time.perf_counter()
        r = client.get(path, params={"seq": seq, "tree_size": n})
        out.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"inclusion proof {seq}/{n}: {r.status_code} {r.text}")
    return out


def bench_inclusion(quick: bool) -> Result:
    small, big = 1_000, (100_000 if quick else 1_000_000)
    per_round, rounds, warmup = (70, 3, 10) if quick else (100, 3, 10)
    dbs = {n: build_proof_db(n) for n in (small, big)}
    scratch = _scratch_dir()
    rng = random.Random(9162)
    samples: dict[int, list[float]] = {small: [], big: []}
    round_p50: dict[int, list[float]] = {small: [], big: []}
    try:
        with (
            serve(dbs[small][0], scratch / "small") as base_small,
            serve(dbs[big][0], scratch / "big") as base_big,
            httpx.Client(base_url=base_small, timeout=30) as c_small,
            httpx.Client(base_url=base_big, timeout=30) as c_big,
        ):
            clients = {small: c_small, big: c_big}
            for r in range(rounds):
                for n in (small, big) if r % 2 == 0 else (big, small):
                    seqs = [rng.randrange(n) for _ in range(warmup + per_round)]
                    times = _proof_times(clients[n], n, dbs[n][1], seqs, warmup)
                    samples[n].extend(times)
                    round_p50[n].append(percentile(times, 50) * 1e6)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figure = percentile(samples[big], 50) * 1e6
    baseline = percentile(samples[small], 50) * 1e6
    p95 = {n: percentile(samples[n], 95) * 1e6 for n in samples}
    note = (
        f"{rounds}×{per_round} GETs per size over HTTP; p50 per round "
        f"{spread(round_p50[big])} µs at {big:,} vs {spread(round_p50[small])} µs at "
        f"{small:,}; p95 {p95[big]:.0f} vs {p95[small]:.0f} µs"
    )
    return Result(
        "api_inclusion_proof", figure, baseline, figure / baseline, "<= 1.5", "µs p50", note
    )


# -- 2. signed posts over HTTP against the core's appends --------------------------------------


def _encode(wire: Sequence[tuple[dict[str, Any], list[dict[str, str]]]]) -> list[bytes]:
    return [canonical_json({"payload": p, "signatures": s}) for p, s in wire]


def _post_round(client: RawClient, estate: str, bodies: Sequence[bytes]) -> float:
    url = f"/v1/estates/{estate}/entries"
    client.reconnect()
    start = time.perf_counter()
    for body in bodies:
        status, answer = client.post(url, body)
        if status != 201:
            raise RuntimeError(f"post: {status} {answer[:500]!r}")
    return len(bodies) / (time.perf_counter() - start)


def _direct_round(service: LedgerService, estate: BenchEstate, n: int) -> float:
    items = estate.transactions(n)
    start = time.perf_counter()
    for item in items:
        service.append(estate.id, [item])
    return n / (time.perf_counter() - start)


def bench_post(quick: bool, http_url: str, base: str, http_svc: LedgerService) -> Result:
    n = 100 if quick else 500
    rounds = 3 if quick else 5
    files = SqliteFiles()
    direct_dir = _scratch_dir()
    direct = LedgerService(files.fresh(), direct_dir, ORIGIN_HOST)
    ours: list[float] = []
    core: list[float] = []
    client = RawClient(base, timeout=60)
    try:
        for r in range(rounds):
            over_http = BenchEstate(f"bench-api-post-{r}")
            over_http.create(http_svc)
            bodies = _encode(wire_form(over_http.transactions(n)))
            in_core = BenchEstate(f"bench-core-post-{r}")
            in_core.create(direct)
            if r % 2 == 0:
                ours.append(_post_round(client, over_http.id, bodies))
                core.append(_direct_round(direct, in_core, n))
            else:
                core.append(_direct_round(direct, in_core, n))
                ours.append(_post_round(client, over_http.id, bodies))
        with http_svc.session() as s:
            assert verify_estate(s, "bench-api-post-0").tree.size == n + 1 + 3
    finally:
        client.close()
        direct.engine.dispose()
        files.cleanup()
        shutil.rmtree(direct_dir, ignore_errors=True)
    figure, baseline = median(ours), median(core)
    note = (
        f"{rounds}×{n} posts, SQLite; HTTP {spread(ours)}/s, core {spread(core)}/s; "
        f"HTTP cost per post ≈ {(1 / figure - 1 / baseline) * 1e3:.2f} ms"
    )
    return Result("api_post", figure, baseline, figure / baseline, ">= 0.5", "entries/s", note)


def _in_threads(work: Sequence[Callable[[], object]]) -> float:
    """Run each callable in its own thread, all released at once; seconds until the last ends."""
    ready = threading.Barrier(len(work) + 1)
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        ready.wait()
        try:
            job()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def _concurrent_post_round(base: str, estate: str, bodies: Sequence[bytes]) -> float:
    clients = [RawClient(base, timeout=60) for _ in range(CLIENTS)]
    try:
        shares = [bodies[i::CLIENTS] for i in range(CLIENTS)]
        jobs = [
            functools.partial(_post_round, c, estate, share)
            for c, share in zip(clients, shares, strict=True)
        ]
        return len(bodies) / _in_threads(jobs)
    finally:
        for c in clients:
            c.close()


def _concurrent_direct_round(service: LedgerService, estate: BenchEstate, n: int) -> float:
    items = estate.transactions(n)
    shares = [items[i::CLIENTS] for i in range(CLIENTS)]

    def append_all(share: Sequence[SignedPayload]) -> None:
        for item in share:
            service.append_one(estate.id, item)

    return n / _in_threads([functools.partial(append_all, share) for share in shares])


def bench_post_concurrent(quick: bool, base: str, http_svc: LedgerService) -> Result:
    n = 200 if quick else 1000
    rounds = 3 if quick else 5
    files = SqliteFiles()
    direct_dir = _scratch_dir()
    direct = LedgerService(files.fresh(), direct_dir, ORIGIN_HOST)
    ours: list[float] = []
    core: list[float] = []
    try:
        for r in range(rounds):
            over_http = BenchEstate(f"bench-api-cpost-{r}")
            over_http.create(http_svc)
            bodies = _encode(wire_form(over_http.transactions(n)))
            in_core = BenchEstate(f"bench-core-cpost-{r}")
            in_core.create(direct)
            if r % 2 == 0:
                ours.append(_concurrent_post_round(base, over_http.id, bodies))
                core.append(_concurrent_direct_round(direct, in_core, n))
            else:
                core.append(_concurrent_direct_round(direct, in_core, n))
                ours.append(_concurrent_post_round(base, over_http.id, bodies))
        with http_svc.session() as s:
            assert verify_estate(s, "bench-api-cpost-0").tree.size == n + 1 + 3
    finally:
        direct.engine.dispose()
        files.cleanup()
        shutil.rmtree(direct_dir, ignore_errors=True)
    figure, baseline = median(ours), median(core)
    note = (
        f"{rounds}×{n} posts by {CLIENTS} clients at once, SQLite; HTTP {spread(ours)}/s, "
        f"core ({CLIENTS} threads, append_one) {spread(core)}/s"
    )
    return Result(
        "api_post_concurrent", figure, baseline, figure / baseline, ">= 0.5", "entries/s", note
    )


# -- 3. batch import over HTTP against the Ed25519 verification bound --------------------------


def _verify_round(
    jobs: Sequence[tuple[bytes, Sequence[tuple[Ed25519PublicKey, bytes]]]],
) -> float:
    start = time.perf_counter()
    for message, sigs in jobs:
        for key, sig in sigs:
            key.verify(sig, message)
    return len(jobs) / (time.perf_counter() - start)


def _verify_with_encoding_round(
    wire: Sequence[tuple[dict[str, Any], list[dict[str, str]]]],
    keys: dict[str, Ed25519PublicKey],
    sigs: Sequence[Sequence[tuple[str, bytes]]],
) -> float:
    start = time.perf_counter()
    for (raw, _), item_sigs in zip(wire, sigs, strict=True):
        message = PAYLOAD_DOMAIN + canonical_json(raw)
        for key_id, sig in item_sigs:
            keys[key_id].verify(sig, message)
    return len(wire) / (time.perf_counter() - start)


def _batch_round(client: RawClient, estate: str, batches: Sequence[bytes]) -> float:
    url = f"/v1/estates/{estate}/entries:batch"
    answers = []
    client.reconnect()
    start = time.perf_counter()
    for body in batches:
        status, answer = client.post(url, body)
        if status != 201:
            raise RuntimeError(f"batch: {status} {answer[:500]!r}")
        answers.append(answer)
    elapsed = time.perf_counter() - start
    return sum(len(json.loads(a)["entries"]) for a in answers) / elapsed


def bench_batch(quick: bool, base: str, http_svc: LedgerService) -> Result:
    per_round = 1 if quick else 5
    rounds = 3
    ours: list[float] = []
    bound: list[float] = []
    bound_jcs: list[float] = []
    client = RawClient(base, timeout=300)
    try:
        for r in range(rounds):
            estate = BenchEstate(f"bench-api-batch-{r}")
            estate.create(http_svc)
            wire = wire_form(estate.transactions(per_round * BATCH))
            batches = [
                canonical_json(
                    {"items": [{"payload": p, "signatures": s} for p, s in wire[i : i + BATCH]]}
                )
                for i in range(0, len(wire), BATCH)
            ]
            keys = {
                k: Ed25519PublicKey.from_public_bytes(pk) for k, pk in estate.author_keys.items()
            }
            sigs = [
                [(s["key"], b64decode(s["sig"], "sig", length=64)) for s in item_sigs]
                for _, item_sigs in wire
            ]
            jobs = [
                (PAYLOAD_DOMAIN + canonical_json(raw), [(keys[k], sig) for k, sig in item])
                for (raw, _), item in zip(wire, sigs, strict=True)
            ]
            if r % 2 == 0:
                ours.append(_batch_round(client, estate.id, batches))
                bound.append(_verify_round(jobs))
            else:
                bound.append(_verify_round(jobs))
                ours.append(_batch_round(client, estate.id, batches))
            bound_jcs.append(_verify_with_encoding_round(wire, keys, sigs))
    finally:
        client.close()
    with http_svc.session() as s:
        assert verify_estate(s, "bench-api-batch-0").tree.size == per_round * BATCH + 1 + 3
    n_sigs = sum(len(x) for x in sigs)
    figure, baseline = median(ours), median(bound)
    note = (
        f"{rounds}×{per_round}×{BATCH} entries ({n_sigs / len(sigs):.2f} signatures each), "
        f"SQLite; HTTP {spread(ours)}/s; verify only {spread(bound)}/s; verify with RFC 8785 "
        f"encoding {median(bound_jcs):,.0f}/s (ratio {figure / median(bound_jcs):.2f})"
    )
    return Result(
        "api_batch_import", figure, baseline, figure / baseline, ">= 0.7", "entries/s", note
    )


# -- entry point ------------------------------------------------------------------------------


def run(quick: bool) -> list[Result]:
    only = {n.strip() for n in os.environ.get(ONLY_ENV, "").split(",") if n.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    results = [bench_inclusion(quick)] if wanted("api_inclusion_proof") else []
    writes = ("api_post", "api_post_concurrent", "api_batch_import")
    if not any(wanted(n) for n in writes):
        return results
    files = SqliteFiles()
    data_dir = _scratch_dir()
    url = files.fresh()
    http_svc = LedgerService(url, data_dir, ORIGIN_HOST)
    try:
        with serve(url, data_dir) as base:
            if wanted("api_post"):
                results.append(bench_post(quick, url, base, http_svc))
            if wanted("api_post_concurrent"):
                results.append(bench_post_concurrent(quick, base, http_svc))
            if wanted("api_batch_import"):
                results.append(bench_batch(quick, base, http_svc))
    finally:
        http_svc.engine.dispose()
        files.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
    return results
