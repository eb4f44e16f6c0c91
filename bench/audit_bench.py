"""audit: a full audit of a signed log against the per-entry limit, both on every core.

Ours: ``run_audit`` over a :class:`audits.db.DatabaseSource` of one estate of
1,000,000 entries (quick: 20,000) in SQLite — every check: leaves parsed strictly,
the hash chain, every signature and the policy (``check_append``, judged ahead in
the workers and confirmed against the fold), double entry, every derived row and
stored tree hash compared, every checkpoint's root and signature — with one worker
process per core, run in a child process so its peak memory (``ru_maxrss``) can be
reported.

Baseline, the per-entry limit: for the same leaves, already in memory, only the work
no verifier can skip — decode the JSON, re-encode it canonically (RFC 8785) and
compare, canonicalise the payload, verify each Ed25519 signature (keys given),
SHA-256 the leaf — in chunks over a process pool of the same size.

Target: ours ≤ 1.3 × the baseline's time. The note also gives the same audit
inline (no pool), to show what the pool buys; how many entries a worker judged
against a stale snapshot and the main process judged again; and the auditing
process's peak memory at 1,000,000 and at 20,000 entries (flat: the log is streamed).

Rounds alternate which side goes first (ours, limit, then limit, ours): two at full
size, three in ``--quick``. ``TRUSTLEDGER_BENCH_AUDIT_N`` sets the log's size instead
(e.g. 100000, to work on the audit between full runs).

The log is built once with the real batch path (``LedgerService.append`` of 1,000
pre-signed transactions at a time; signing spread over the cores) and cached under
``bench/out/audit-<n>/`` with a sidecar JSON (size, schema revision, build time); a
cache whose schema is older is brought up to date by the migrations, as a deployed
database would be, instead of being built again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.db import DatabaseSource
from audits.pipeline import default_workers
from audits.run import AuditOptions, run_audit
from bench.common import ORIGIN_HOST, OUT, BenchEstate, Result, median, spread
from ledger import collector
from ledger.canonical import canonical_json
from ledger.signing import PAYLOAD_DOMAIN, AuthorKey
from ledger.storage.appender import SignedPayload
from ledger.storage.db import alembic_config, migrate
from ledger.storage.service import LedgerService

NAME = "audit"
ESTATE = "bench-audit"
BUILD_FORMAT = 1
BATCH = 1000
TARGET = "<= 1.3"
SIZE_ENV = "TRUSTLEDGER_BENCH_AUDIT_N"
"""Environment variable overriding the log size (e.g. 100000 while working on the audit)."""


# -- the cached log ----------------------------------------------------------------------------


def _signed(seeds: tuple[bytes, bytes, bytes], start: int, n: int) -> list[SignedPayload]:
    """Transactions ``start .. start+n`` signed by the estate's keys (in a worker)."""
    estate = BenchEstate(ESTATE)
    estate.operator, estate.committee, estate.trustee = (AuthorKey(s) for s in seeds)
    return estate.transactions(n, start)


def _context() -> multiprocessing.context.BaseContext:
    return multiprocessing.get_context("forkserver")


def build(n: int) -> tuple[str, Path, dict[str, Any]]:
    """The cached log of about ``n`` entries: (url, data dir, meta); built if missing or
    stale, brought to the newest schema by the migrations if only that is older."""
    root = OUT / f"audit-{n}"
    url, data, meta_path = f"sqlite:///{root / 'ledger.db'}", root / "data", root / "meta.json"
    head = str(ScriptDirectory.from_config(alembic_config(url)).get_current_head())
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("format") == BUILD_FORMAT and meta.get("n") == n:
            if meta.get("schema") == head:
                return url, data, meta
            began = time.perf_counter()
            migrate(url)  # as a deployment would: a rebuild of 1,000,000 entries takes an hour
            meta["migrated"] = {
                "from": meta.get("schema"),
                "seconds": round(time.perf_counter() - began, 1),
            }
            meta["schema"] = head
            meta_path.write_text(json.dumps(meta, indent=1))
            return url, data, meta
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    migrate(url)
    began = time.perf_counter()
    service = LedgerService(url, data, ORIGIN_HOST)
    estate = BenchEstate(ESTATE)
    estate.create(service)
    seeds = (estate.operator.seed, estate.committee.seed, estate.trustee.seed)
    with ProcessPoolExecutor(default_workers(), mp_context=_context()) as pool:
        starts = range(0, n, BATCH)
        chunks = pool.map(
            _signed, [seeds] * len(starts), starts, [min(BATCH, n - s) for s in starts]
        )
        for items in chunks:
            service.append(ESTATE, items)
    with service.reader(ESTATE) as r:
        size = r.size
    service.engine.dispose()
    meta = {
        "format": BUILD_FORMAT,
        "n": n,
        "size": size,
        "schema": head,
        "build_seconds": round(time.perf_counter() - began, 1),
        "keys": {k: base64.b64encode(v).decode() for k, v in estate.author_keys.items()},
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return url, data, meta


# -- ours --------------------------------------------------------------------------------------


def audit_once(url: str, data: str, workers: int) -> tuple[float, bool, int, int]:
    """One full audit (in a child process): (seconds, clean, entries judged again, peak RSS kB)."""
    source = DatabaseSource(url, Path(data))
    try:
        began = time.perf_counter()
        report = run_audit(source, AuditOptions(workers=workers, parallel_from=0))
        seconds = time.perf_counter() - began
    finally:
        source.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return seconds, report.clean, report.estates[0].rejudged, rss


def time_ours(url: str, data: Path, workers: int) -> tuple[float, int, int]:
    """(seconds, entries judged again, peak RSS in kB of the auditing process)."""
    with ProcessPoolExecutor(1, mp_context=_context()) as child:
        seconds, clean, rejudged, rss = child.submit(audit_once, url, str(data), workers).result()
    if not clean:
        raise RuntimeError("the benchmark log does not audit clean")
    return seconds, rejudged, rss


# -- the per-entry limit -----------------------------------------------------------------------


def limit_chunk(leaves: Sequence[bytes], keys: dict[str, bytes]) -> int:
    """Canonicalise, verify and hash each leaf: the work no verifier can skip."""
    for leaf in leaves:
        entry = json.loads(leaf)
        if canonical_json(entry) != leaf:
            raise ValueError("not canonical")
        message = PAYLOAD_DOMAIN + canonical_json(entry["payload"])
        for s in entry["signatures"]:
            key = keys.get(s["key"])
            if key is not None:
                Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(s["sig"]), message)
        hashlib.sha256(b"\x00" + leaf).digest()
    return len(leaves)


def load_leaves(url: str, data: Path) -> list[bytes]:
    source = DatabaseSource(url, data)
    try:
        return [leaf for batch in source.leaf_batches(ESTATE) for _, leaf in batch]
    finally:
        source.close()


def time_limit(leaves: Sequence[bytes], keys: dict[str, bytes], workers: int) -> float:
    began = time.perf_counter()
    chunks = [leaves[i : i + BATCH] for i in range(0, len(leaves), BATCH)]
    # The same collector settings as the audit's workers (ledger.collector), so that
    # neither side is charged for garbage collection the other is spared.
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=collector.tune_process)
    with pool:
        done = sum(pool.map(limit_chunk, chunks, [keys] * len(chunks)))
    if done != len(leaves):
        raise RuntimeError("the limit did not see every leaf")
    return time.perf_counter() - began


# -- the run -----------------------------------------------------------------------------------


def run(quick: bool) -> list[Result]:
    small, n = 20_000, (20_000 if quick else 1_000_000)
    if os.environ.get(SIZE_ENV):
        n = int(os.environ[SIZE_ENV])
    rounds = 3 if quick else 2  # full size: ours, limit, limit, ours (load changes by the minute)
    workers = default_workers()
    url, data, meta = build(n)
    keys = {k: base64.b64decode(v) for k, v in meta["keys"].items()}
    leaves = load_leaves(url, data)
    ours: list[float] = []
    limit: list[float] = []
    for r in range(rounds):
        if r % 2:
            limit.append(time_limit(leaves, keys, workers))
        seconds, rejudged, rss = time_ours(url, data, workers)
        ours.append(seconds)
        if not r % 2:
            limit.append(time_limit(leaves, keys, workers))
    del leaves
    inline, _, _ = time_ours(url, data, 1)
    _, _, small_rss = time_ours(*build(small)[:2], workers)
    figure, baseline = median(ours), median(limit)
    size = meta["size"]
    note = (
        f"{size:,} entries, {workers} workers, {rounds} round(s): audit {spread(ours, '{:.1f}')} s "
        f"({size / figure:,.0f} entries/s; {rejudged} entries judged again), "
        f"limit {spread(limit, '{:.1f}')} s; inline (no pool) {inline:.1f} s; "
        f"peak RSS {rss / 1024:.0f} MB at {size:,} vs {small_rss / 1024:.0f} MB at {small:,}; "
        f"log built in {meta['build_seconds']} s (cached)"
    )
    peak = rss / 1024  # the auditing process at full size, not this one holding every leaf
    return [Result(NAME, figure, baseline, figure / baseline, TARGET, "s", note, peak)]
