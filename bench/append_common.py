"""The signed-append benchmark shared by ``append_sqlite`` and ``append_pg``.

Ours: ``LedgerService.append(estate, [item])`` for each pre-signed transaction, one
entry per database transaction, on a freshly created estate (genesis and a chart of
three accounts). Everything the service does is timed: loading the estate's log key,
locking the estate, validating (Ed25519 signatures, policy, double entry), the
canonical leaf, the tree hashes, signing a checkpoint, the inserts, the commit.

Baseline: only the work no signed log can avoid — verify each Ed25519 signature over
``PAYLOAD_DOMAIN || JCS(payload)``, canonicalise the leaf, hash it for the chain, and
one plain ``INSERT`` of the leaf into a table of its own, committed — through the
same engine factory (:func:`ledger.storage.db.make_engine`, so SQLite has
the same WAL / ``synchronous=FULL`` pragmas) and the same SQLAlchemy Core layer.

JCS on both sides is :func:`ledger.canonical.canonical_json` (the same bytes as
``rfc8785``, tested, and the fastest canonicaliser we have), so neither side is
charged for a slower encoder than the other uses.

Signing is the client's work and is done before timing, for both sides alike.
Each round is a fresh estate and a fresh baseline table; within a round the two
sides alternate in blocks of 100 appends, so that drift and other load on a noisy
machine hit both. Throughput = appends / the sum of their latencies.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, insert

from bench.common import (
    ORIGIN_HOST,
    BenchEstate,
    Result,
    count_statements,
    median,
    percentile,
    spread,
)
from ledger.canonical import b64encode, canonical_json
from ledger.entry import format_recorded_at
from ledger.signing import PAYLOAD_DOMAIN
from ledger.storage.appender import SignedPayload, utcnow
from ledger.storage.service import LedgerService

TARGET = ">= 0.5"

_meta = MetaData()
BASELINE_TABLE = Table(
    "bench_baseline_leaves",
    _meta,
    Column("seq", BigInteger, primary_key=True),
    Column("leaf", LargeBinary, nullable=False),
)


BLOCK = 100
"""Appends per block: a round alternates blocks of ours and of the baseline, so that
whatever else the machine is doing hits both sides alike."""

PlainItem = tuple[dict[str, object], list[dict[str, str]], list[tuple[str, bytes]]]


@dataclass(frozen=True)
class Fixture:
    """Where one round runs: our service (estate already created) and the baseline engine."""

    service: LedgerService
    estate: BenchEstate
    baseline_engine: Engine
    cleanup: Callable[[], None]


def time_ours(service: LedgerService, estate: str, items: Sequence[SignedPayload]) -> list[float]:
    """Append each item in its own transaction; the latency of each."""
    latencies = []
    for item in items:
        t = time.perf_counter()
        service.append(estate, [item])
        latencies.append(time.perf_counter() - t)
    return latencies


def baseline_items(items: Sequence[SignedPayload]) -> list[PlainItem]:
    """Each item as the baseline sees it: payload JSON, signatures JSON, decoded signatures."""
    return [
        (i.payload.raw, [s.to_json() for s in i.signatures], [(s.key, s.sig) for s in i.signatures])
        for i in items
    ]


class BaselineLog:
    """The minimal signed log: verify, canonicalise, chain, one INSERT, commit."""

    def __init__(self, engine: Engine, keys: dict[str, bytes]) -> None:
        self.engine = engine
        self.keys = keys
        self.seq = 0
        self.prev: bytes | None = None
        self.stmt = insert(BASELINE_TABLE)

    def append_each(self, items: Sequence[PlainItem]) -> list[float]:
        latencies = []
        for raw, sigs_json, sigs in items:
            t = time.perf_counter()
            message = PAYLOAD_DOMAIN + canonical_json(raw)
            for key_id, sig in sigs:
                Ed25519PublicKey.from_public_bytes(self.keys[key_id]).verify(sig, message)
            leaf = canonical_json(
                {
                    "seq": self.seq,
                    "prev": None if self.prev is None else b64encode(self.prev),
                    "recorded_at": format_recorded_at(utcnow()),
                    "payload": raw,
                    "signatures": sigs_json,
                }
            )
            with self.engine.begin() as conn:
                conn.execute(self.stmt, {"seq": self.seq, "leaf": leaf})
            self.prev = hashlib.sha256(b"\x00" + leaf).digest()
            self.seq += 1
            latencies.append(time.perf_counter() - t)
        return latencies


def reset_baseline_table(engine: Engine) -> None:
    _meta.drop_all(engine)
    _meta.create_all(engine)


def statements_per_append(fx: Fixture, item: SignedPayload) -> tuple[int, int]:
    """SQL statements one append sends, ours and the baseline's (BEGIN not counted)."""
    with count_statements(fx.service.engine) as ours:
        fx.service.append(fx.estate.id, [item])
    reset_baseline_table(fx.baseline_engine)
    log = BaselineLog(fx.baseline_engine, fx.estate.author_keys)
    with count_statements(fx.baseline_engine) as base:
        log.append_each(baseline_items([item]))
    n_ours = sum(1 for s in ours if s.strip().upper() != "BEGIN")
    n_base = sum(1 for s in base if s.strip().upper() != "BEGIN")
    return n_ours, n_base


def run_append(name: str, quick: bool, make_fixture: Callable[[int], Fixture]) -> list[Result]:
    """``make_fixture(round)`` gives a fresh estate (and a fresh baseline table) per round."""
    n = 200 if quick else 2000
    rounds = 3 if quick else 5
    block = BLOCK // 2 if quick else BLOCK
    ours_tp: list[float] = []
    base_tp: list[float] = []
    lat: list[float] = []
    blat: list[float] = []
    stmts = (0, 0)
    for r in range(rounds):
        fx = make_fixture(r)
        try:
            items = fx.estate.transactions(n + 1)
            timed, extra = items[:n], items[n]
            plain = baseline_items(timed)
            log = BaselineLog(fx.baseline_engine, fx.estate.author_keys)
            ours: list[float] = []
            base: list[float] = []
            for b, at in enumerate(range(0, n, block)):
                for side in ("ours", "base") if (r + b) % 2 == 0 else ("base", "ours"):
                    if side == "ours":
                        ours += time_ours(fx.service, fx.estate.id, timed[at : at + block])
                    else:
                        base += log.append_each(plain[at : at + block])
            ours_tp.append(n / sum(ours))
            base_tp.append(n / sum(base))
            lat.extend(ours)
            blat.extend(base)
            if r == 0:
                stmts = statements_per_append(fx, extra)
        finally:
            fx.cleanup()
    figure, baseline = median(ours_tp), median(base_tp)
    note = (
        f"{rounds}×{n} appends (blocks of {block}, alternating); ours {spread(ours_tp)}/s, "
        f"base {spread(base_tp)}/s; latency p50/p95 ours "
        f"{percentile(lat, 50) * 1e3:.2f}/{percentile(lat, 95) * 1e3:.2f} ms, "
        f"base {percentile(blat, 50) * 1e3:.2f}/{percentile(blat, 95) * 1e3:.2f} ms; "
        f"SQL statements per append: ours {stmts[0]}, base {stmts[1]}"
    )
    return [Result(name, figure, baseline, figure / baseline, TARGET, "appends/s", note)]


def service_for(url: str, data_dir: Path) -> LedgerService:
    return LedgerService(url, data_dir, ORIGIN_HOST)
