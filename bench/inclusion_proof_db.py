"""inclusion_proof_db: inclusion proofs from SQLite at 1,000 and at 1,000,000 entries.

Ours and baseline are the same code, :meth:`ledger.storage.reader.LogReader.inclusion_proof`
on a SQLite file opened with :func:`ledger.storage.db.make_engine`; the baseline is a
log of 1,000 entries, the figure a log of 1,000,000 (quick: 100,000). Each proof
reads the leaf's two tiles (8 leaf hashes and 8 level-3 nodes, two key ranges) in one
statement and the nodes of level ≥ 6 from memory, so its cost should barely grow:
target p50(1M) ≤ 1.5 × p50(1k). Samples: ≥ 200 proofs of uniformly random leaves
per size (3 rounds alternating the sizes), all in one read transaction per size and
round (as one HTTP request would do per proof, minus the session set-up, which does
not depend on the size of the log).

Warm and cold: stored nodes at level ≥ 6 are cached in memory once read, in runs of
32 nodes of a level (:mod:`ledger.storage.nodes`; fewer than size/32 of them,
immutable). The figure is a running server's: each round first proves 2,000 random
leaves (not timed; at 1M they leave 98 % of the level-6 runs cached), then times its
samples. The note gives the cold figure too: the cache emptied before each round and
only 10 proofs of warm-up.

Shortcut (the proof path only reads ``estates`` and ``tree_hashes``): the logs are
not built with signed appends. Each file gets the migrated schema, one ``estates``
row of the right size, and every ``tree_hashes`` row a real append would store,
computed with :class:`ledger.merkle.CompactRange` over synthetic leaves
``b"bench leaf <i>"`` and bulk-inserted with the ``sqlite3`` module; ``entries`` and
every other table stay empty. The files are cached under ``bench/out/`` with a
sidecar JSON (size, root, schema revision) and rebuilt when that does not match.
The warm-up proofs are verified against the root, and each round reads the tree's
right edge once (what every append does first) and checks it gives the root; that
read's time is in the note.
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import time
from pathlib import Path

from alembic.script import ScriptDirectory

from bench.common import OUT, Result, median, percentile, spread
from ledger.merkle import CompactRange, hash_leaf, verify_inclusion
from ledger.storage import nodes
from ledger.storage.db import alembic_config, make_engine, migrate, session_factory
from ledger.storage.reader import LogReader

NAME = "inclusion_proof_db"
ESTATE = "bench-proofs"
BUILD_FORMAT = 1
CHUNK = 200_000
COLD_WARMUP = 10
WARM_WARMUP = 2_000


def leaf(i: int) -> bytes:
    return b"bench leaf %d" % i


def _schema_head(url: str) -> str:
    return str(ScriptDirectory.from_config(alembic_config(url)).get_current_head())


def build(n: int) -> tuple[str, bytes]:
    """The cached SQLite file of an ``n``-leaf log (built if missing or stale): (url, root)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"proofs-{n}.db"
    meta_path = path.with_suffix(".json")
    url = f"sqlite:///{path}"
    head = _schema_head(url)
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("format") == BUILD_FORMAT
            and meta.get("size") == n
            and meta.get("schema") == head
        ):
            return url, base64.b64decode(meta["root"])
    for p in (meta_path, path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    migrate(url)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        con.execute(
            "INSERT INTO estates (id, name, origin, vkey, policy, size, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ESTATE, "proof bench", f"bench/{ESTATE}", "", "", n, "2026-10-15T00:00:00.000Z"),
        )
        edge = CompactRange.empty()
        rows: list[tuple[str, int, int, bytes]] = []
        sql = "INSERT INTO tree_hashes (estate_id, level, idx, hash) VALUES (?, ?, ?, ?)"
        for i in range(n):
            for (level, idx), h in edge.append(hash_leaf(leaf(i))):
                rows.append((ESTATE, level, idx, h))
            if len(rows) >= CHUNK:
                con.executemany(sql, rows)
                rows.clear()
        con.executemany(sql, rows)
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    root = edge.root()
    meta = {
        "format": BUILD_FORMAT,
        "size": n,
        "schema": head,
        "root": base64.b64encode(root).decode(),
    }
    meta_path.write_text(json.dumps(meta))
    return url, root


def _proof_times(
    url: str, n: int, seqs: list[int], root: bytes, warmup: int
) -> tuple[list[float], float]:
    """Timed proofs of ``seqs[warmup:]`` (the warm-up ones are verified), and the time of
    one read of the tree's right edge — the read every append starts with."""
    if warmup <= COLD_WARMUP:
        nodes._node_cache.clear()  # a server that has just started
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session, session.begin():
            reader = LogReader(session, ESTATE)
            for seq in seqs[:warmup]:
                proof = reader.inclusion_proof(seq, n)
                verify_inclusion(hash_leaf(leaf(seq)), seq, n, proof, root)
            out = []
            for seq in seqs[warmup:]:
                t = time.perf_counter()
                reader.inclusion_proof(seq, n)
                out.append(time.perf_counter() - t)
            t = time.perf_counter()
            edge = CompactRange(n, reader.view.read_hashes(CompactRange.indexes_for(n)))
            edge_read = time.perf_counter() - t
            if edge.root() != root:
                raise RuntimeError(f"the stored tree of size {n} has the wrong root")
            return out, edge_read
    finally:
        engine.dispose()


def run(quick: bool) -> list[Result]:
    small, big = 1_000, (100_000 if quick else 1_000_000)
    # A proof at 1M costs far more than at 1k when the read does not use the index;
    # 3 × 70 (quick) or 3 × 100 samples keep the run short and above 200 per size.
    per_round, rounds = (70, 3) if quick else (100, 3)
    dbs = {n: build(n) for n in (small, big)}
    rng = random.Random(6962)
    samples: dict[int, list[float]] = {small: [], big: []}
    cold: dict[int, list[float]] = {small: [], big: []}
    round_p50: dict[int, list[float]] = {small: [], big: []}
    edge_reads: dict[int, list[float]] = {small: [], big: []}
    for r in range(rounds):
        for n in (small, big) if r % 2 == 0 else (big, small):
            url, root = dbs[n]
            seqs = [rng.randrange(n) for _ in range(COLD_WARMUP + per_round)]
            times, _ = _proof_times(url, n, seqs, root, COLD_WARMUP)
            cold[n].extend(times)
            seqs = [rng.randrange(n) for _ in range(WARM_WARMUP + per_round)]
            times, edge_read = _proof_times(url, n, seqs, root, WARM_WARMUP)
            edge_reads[n].append(edge_read * 1e6)
            samples[n].extend(times)
            round_p50[n].append(percentile(times, 50) * 1e6)
    figure = percentile(samples[big], 50) * 1e6
    baseline = percentile(samples[small], 50) * 1e6
    cold_p50 = {n: percentile(cold[n], 50) * 1e6 for n in cold}
    p95 = {n: percentile(samples[n], 95) * 1e6 for n in samples}
    note = (
        f"cold cache {cold_p50[big]:.0f} vs {cold_p50[small]:.0f} µs "
        f"({cold_p50[big] / cold_p50[small]:.2f} ×); "
        f"{rounds}×{per_round} proofs per size; p50 per round {spread(round_p50[big])} µs at "
        f"{big:,} vs {spread(round_p50[small])} µs at {small:,}; p95 {p95[big]:.0f} vs "
        f"{p95[small]:.0f} µs; "
        f"proof length {(big - 1).bit_length()} vs {(small - 1).bit_length()} hashes; "
        f"an append's right-edge read {median(edge_reads[big]):.0f} vs "
        f"{median(edge_reads[small]):.0f} µs"
    )
    return [Result(NAME, figure, baseline, figure / baseline, "<= 1.5", "µs p50", note)]
