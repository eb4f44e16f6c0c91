"""Build big logs through the real batch path, for the scale benchmarks.

::

    python -m bench.generate estate --entries 1000000 --database-url URL --data-dir DIR
    python -m bench.generate city --estates 200 --entries 10000 --database-url URL --data-dir DIR

``estate`` builds one estate whose log holds exactly ``--entries`` entries: the genesis,
the chart of accounts, then signed transactions appended with
:meth:`LedgerService.append` in batches of 1,000 — the call ``POST
/v1/estates/{e}/entries:batch`` makes once it has parsed the request. Payloads are
signed ahead of the appends by ``--workers`` spawned processes (Ed25519 and the RFC
8785 encoding are CPU work); the main process only appends, so with 2 cores signing and
appending overlap. A build that stops half-way resumes where the log ends (the
payloads are a pure function of the seed, so the next ones are the same).

``city`` builds ``--estates`` estates of ``--entries`` entries each, one estate at a
time per process in ``--processes`` spawned processes, each signing and appending its
own estate (appends to different estates are independent; on SQLite they still queue
for the database's one write lock, on PostgreSQL they run side by side).

The mix, per estate (deterministic from ``--seed`` and the estate id):

- ≈ 80 % fee receipts (物业费) for one household each, with its commitment
  ``SHA-256(salt || unit)`` (the salt is derived from the seed, so a benchmark can
  recompute a receipt code), a month, a quarter or a year paid, signed by the trustee;
- ≈ 6 % public income (parking, elevator ads, venue rent, bank interest), trustee;
- ≈ 14 % spending (cleaning, greening, security, elevators, utilities, repairs, staff,
  the trustee's remuneration) from a dozen suppliers with varied memos, co-signed by
  the trustee and the committee;
- every 200th transaction a reversal of one 100–149 entries earlier (0.5 %),
  co-signed by the trustee and the committee.

Business dates run from the oldest to ``--end`` at ``--per-day`` transactions per day
(estate: 100, a 3,000-household estate paying monthly; city: 10), so a log of 1M
entries spans 27 years and one of 10,000 about three months (city: 2.7 years), and a
month holds about the same number of entries at every size.

Progress goes to stdout every 10 s; the end prints the time, the rate (entries/s) and
the peak resident memory of the main process and of the largest worker. On
PostgreSQL the database is created if missing (``--fresh`` drops it first) and
``VACUUM ANALYZE`` runs at the end (what autovacuum does after a bulk load); SQLite
gets no ``ANALYZE``, as in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import sys
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.payloads import genesis_body, payload, sign
from ledger.household import make_commitment
from ledger.signing import AuthorKey
from ledger.storage.appender import SignedPayload
from ledger.storage.db import migrate
from ledger.storage.models import EstateRow
from ledger.storage.service import LedgerService

ORIGIN_HOST = "scale.trustledger.example"
BATCH = 1000
END = dt.date(2026, 10, 31)
REVERSAL_EVERY = 200
FORMAT = 1
"""Bump when the generated payloads change (caches keyed by it are rebuilt)."""

BANK = "Assets:Bank:CoManaged"
FEES = "Income:PropertyFee"
CHART = (
    (BANK, "asset", "共管账户"),
    (FEES, "income", "物业费收入"),
    ("Income:Public:Parking", "income", "停车收益"),
    ("Income:Public:ElevatorAds", "income", "电梯广告收益"),
    ("Income:Public:VenueRent", "income", "场地租赁收益"),
    ("Income:Interest", "income", "利息收入"),
    ("Expenses:Cleaning", "expense", "保洁"),
    ("Expenses:Greening", "expense", "绿化"),
    ("Expenses:Security", "expense", "秩序维护"),
    ("Expenses:ElevatorMaintenance", "expense", "电梯维保"),
    ("Expenses:PublicUtilities", "expense", "公共水电"),
    ("Expenses:Repairs", "expense", "维修"),
    ("Expenses:Staff", "expense", "人员工资"),
    ("Expenses:TrusteeRemuneration", "expense", "物业酬金"),
)
SETUP = 1 + len(CHART)
"""Entries before the first transaction: the genesis and one per account."""
TRUSTEE = "常州澄和物业服务有限公司"

# account, category, counterparties, memo templates, (min, max) fen
Source = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[int, int]]
INCOME: tuple[Source, ...] = (
    (
        "Income:Public:Parking",
        "停车收益",
        ("常州泊安停车管理有限公司", "常州智泊科技有限公司"),
        ("{y}年{m}月停车收益分成", "{m}月临时停车费", "{y}年{m}月月租车位费"),
        (50_000, 2_000_000),
    ),
    (
        "Income:Public:ElevatorAds",
        "电梯广告",
        ("常州分众传媒有限公司", "常州新潮传媒有限公司"),
        ("{y}年{m}月电梯广告收益", "{b}号楼电梯框架广告位租金"),
        (100_000, 1_500_000),
    ),
    (
        "Income:Public:VenueRent",
        "场地租赁",
        ("常州悦邻便利店", "小区快递驿站", "常州童乐托管中心"),
        ("{y}年{m}月场地租金", "{b}号楼架空层场地使用费"),
        (80_000, 600_000),
    ),
    (
        "Income:Interest",
        "利息",
        ("中国银行常州分行", "江苏银行常州分行"),
        ("{y}年第{q}季度共管账户结息",),
        (1_000, 90_000),
    ),
)
SPENDING: tuple[Source, ...] = (
    (
        "Expenses:Cleaning",
        "保洁",
        ("常州洁诚保洁服务有限公司", "常州净美环境服务有限公司"),
        ("{y}年{m}月保洁服务费", "{b}号楼垃圾清运", "外墙及玻璃清洗"),
        (50_000, 1_600_000),
    ),
    (
        "Expenses:Greening",
        "绿化",
        ("常州青禾园林绿化工程有限公司",),
        ("{y}年{m}月绿化养护费", "中心花园补植", "{b}号楼前草坪修剪"),
        (30_000, 700_000),
    ),
    (
        "Expenses:Security",
        "秩序维护",
        ("常州安盾保安服务有限公司",),
        ("{y}年{m}月秩序维护服务费", "门岗监控设备维修"),
        (100_000, 2_900_000),
    ),
    (
        "Expenses:ElevatorMaintenance",
        "电梯维保",
        ("常州迅升电梯工程有限公司", "常州通力电梯服务有限公司"),
        ("{y}年{m}月电梯维保费", "{b}号楼电梯年检", "{b}号楼{u}单元电梯更换钢丝绳"),
        (80_000, 1_100_000),
    ),
    (
        "Expenses:PublicUtilities",
        "公共水电",
        ("常州城北供电服务有限公司", "常州清源供水服务有限公司"),
        ("{y}年{m}月公共区域电费", "{y}年{m}月公共区域水费"),
        (100_000, 800_000),
    ),
    (
        "Expenses:Repairs",
        "维修",
        ("常州匠心房屋维修有限公司", "常州固安防水工程有限公司", "常州顺达管道疏通服务部"),
        ("{b}号楼屋面防水维修", "{b}号楼{u}单元门禁维修", "地下车库排水沟疏通", "路灯更换"),
        (20_000, 3_000_000),
    ),
    (
        "Expenses:Staff",
        "人员工资",
        ("示范花园物业服务中心员工（工资代发）",),
        ("{y}年{m}月服务中心人员工资",),
        (500_000, 4_000_000),
    ),
    (
        "Expenses:TrusteeRemuneration",
        "物业酬金",
        (TRUSTEE,),
        ("{y}年{m}月物业酬金",),
        (1_100_000, 1_100_000),
    ),
)
FEE_MEMOS = (
    (0.70, 1, "{y}年{m}月物业费"),
    (0.85, 3, "{y}年第{q}季度物业费"),
    (0.95, 12, "{y}年度物业费（预缴）"),
    (1.00, 1, "{y}年{m}月物业费（补缴）"),
)
REVERSAL_REASONS = ("重复录入", "金额录入错误", "收款退回业主", "银行退票")
FEE_RATE = 210  # fen per m² and month


# -- what an estate holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One generated estate: its id, log size, density of dates, and seed."""

    id: str
    entries: int  # the log's size once built (genesis and chart included)
    per_day: float = 100.0
    end: dt.date = END
    seed: int = 1
    households: int = 3000

    @property
    def transactions(self) -> int:
        return self.entries - SETUP

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["end"] = self.end.isoformat()
        out["format"] = FORMAT
        return out


def _digest(spec: Spec, label: str) -> bytes:
    return hashlib.sha256(f"{spec.seed}:{spec.id}:{label}".encode()).digest()


ROLES = ("operator", "committee", "trustee")


@functools.lru_cache(maxsize=64)
def author_keys(spec: Spec) -> dict[str, AuthorKey]:
    """The estate's operator, committee and trustee keys (derived from the seed)."""
    return {role: AuthorKey(_digest(spec, f"key/{role}")) for role in ROLES}


def _id(digest: bytes) -> str:
    return str(uuid.UUID(bytes=digest[:16], version=4))


def payload_id(spec: Spec, label: str) -> str:
    """The payload id of ``"genesis"``, an account name, or ``f"tx/{k}"``."""
    return _id(_digest(spec, label))


def setup_payloads(spec: Spec) -> tuple[SignedPayload, list[SignedPayload]]:
    """The genesis (signed by the operator) and the chart (one entry per account)."""
    keys = author_keys(spec)
    founders = [
        (keys[r].public_key, r, h) for r, h in zip(ROLES, ("平台", "业委会", TRUSTEE), strict=True)
    ]
    start = date_of(spec, 0)
    body = genesis_body("规模测试小区", "江苏省常州市测试路 1 号", spec.households, founders)
    raw = payload(spec.id, "genesis", body, date=start, id=_id(_digest(spec, "genesis")))
    genesis = sign(raw, [keys["operator"]])
    chart = []
    for name, type_, display in CHART:
        body = {"action": "open", "name": name, "type": type_, "display_name": display}
        raw = payload(spec.id, "account", body, date=start, id=_id(_digest(spec, name)))
        chart.append(sign(raw, [keys["committee"]]))
    return genesis, chart


def date_of(spec: Spec, k: int) -> dt.date:
    """Business date of transaction ``k`` (0-based): ``per_day`` a day, ending at ``end``."""
    return spec.end - dt.timedelta(days=int((spec.transactions - 1 - k) / spec.per_day))


def seq_of(k: int) -> int:
    return SETUP + k


def reversal_target(k: int) -> int | None:
    """The transaction index reversed by transaction ``k``, if ``k`` is a reversal.

    Every 200th transaction reverses one 100–149 before it: targets are never
    reversals themselves (their index is 50–99 mod 200) and never reversed twice.
    """
    if k % REVERSAL_EVERY != REVERSAL_EVERY - 1:
        return None
    return k - 100 - (k // REVERSAL_EVERY) % 50


def _unit(rng: random.Random, households: int) -> str:
    buildings = max(1, households // 120)
    return (
        f"{rng.randint(1, buildings)}-{rng.randint(1, 4)}-{rng.randint(1, 30)}0{rng.randint(1, 4)}"
    )


def household(spec: Spec, k: int) -> tuple[bytes, str] | None:
    """(salt, unit) of transaction ``k`` if it is a fee receipt, else ``None``."""
    if reversal_target(k) is not None:
        return None
    h = _digest(spec, f"tx/{k}")
    rng = random.Random(h)
    if rng.random() >= 0.80:
        return None
    return hashlib.sha256(b"salt" + h).digest()[:16], _unit(rng, spec.households)


def plan(spec: Spec, k: int) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Transaction ``k``'s payload and the roles that sign it (no signing here)."""
    h = _digest(spec, f"tx/{k}")
    day = date_of(spec, k)
    y, m, q = day.year, day.month, (day.month - 1) // 3 + 1
    target = reversal_target(k)
    if target is not None:
        reason = REVERSAL_REASONS[k // REVERSAL_EVERY % len(REVERSAL_REASONS)]
        body: dict[str, Any] = {"target": seq_of(target), "reason": reason}
        memo = f"冲销第 {seq_of(target)} 笔：{reason}"
        raw = payload(spec.id, "reversal", body, date=day, memo=memo, id=_id(h))
        return raw, ("trustee", "committee")
    rng = random.Random(h)
    r = rng.random()
    if r < 0.80:  # a fee receipt: the same draws as household()
        salt = hashlib.sha256(b"salt" + h).digest()[:16]
        unit = _unit(rng, spec.households)
        x = rng.random()
        months, memo_t = next((n, t) for p, n, t in FEE_MEMOS if x < p)
        fen = rng.randint(60, 180) * FEE_RATE * months
        body = {
            "postings": [{"account": BANK, "amount": fen}, {"account": FEES, "amount": -fen}],
            "counterparty": "业主",
            "category": "物业费",
            "household": make_commitment(salt, unit),
        }
        memo = memo_t.format(y=y, m=m, q=q)
        return payload(spec.id, "transaction", body, date=day, memo=memo, id=_id(h)), ("trustee",)
    b, u = rng.randint(1, max(1, spec.households // 120)), rng.randint(1, 4)
    if r < 0.86:
        account, category, parties, memos, (lo, hi) = INCOME[int((r - 0.80) / 0.015)]
        fen = rng.randint(lo, hi)
        postings = [{"account": BANK, "amount": fen}, {"account": account, "amount": -fen}]
        roles: tuple[str, ...] = ("trustee",)
    else:
        account, category, parties, memos, (lo, hi) = SPENDING[int((r - 0.86) / 0.0175)]
        fen = rng.randint(lo, hi)
        postings = [{"account": account, "amount": fen}, {"account": BANK, "amount": -fen}]
        roles = ("trustee", "committee")
    body = {"postings": postings, "counterparty": rng.choice(parties), "category": category}
    memo = rng.choice(memos).format(y=y, m=m, q=q, b=b, u=u)
    return payload(spec.id, "transaction", body, date=day, memo=memo, id=_id(h)), roles


def signed(spec: Spec, start: int, stop: int) -> list[SignedPayload]:
    """Transactions ``start`` to ``stop`` (exclusive), signed and parsed."""
    keys = author_keys(spec)
    out = []
    for k in range(start, stop):
        raw, roles = plan(spec, k)
        out.append(sign(raw, [keys[r] for r in roles]))
    return out


# -- databases -------------------------------------------------------------------------------------


def prepare_database(url: str, fresh: bool) -> None:
    """Create (``fresh``: re-create) the database if needed and migrate it to the head."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if fresh:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                name = parsed.database
                if fresh:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                found = conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
                if not found:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
    migrate(url)


def finish_database(url: str) -> float:
    """``VACUUM ANALYZE`` on PostgreSQL (nothing on SQLite); returns its seconds."""
    if make_url(url).get_backend_name() == "sqlite":
        return 0.0
    started = time.perf_counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


class AutoAnalyze:
    """``ANALYZE`` as autovacuum's autoanalyze would run it, when the server does not.

    PostgreSQL with ``autovacuum = off`` (as in this repository's CI configuration)
    never gathers statistics during a bulk load, and without them the idempotency
    lookup of a 1,000-payload batch (``payload_id IN (…)``) is planned as a scan of the
    estate's entries filtered by the list: every append then costs O(log size) and
    the build is quadratic. With autovacuum off, this runs ``ANALYZE`` whenever the
    log has grown by 50 rows plus 10 % since the last one (autovacuum's default
    threshold); nothing on SQLite or when autovacuum is on.
    """

    def __init__(self, url: str) -> None:
        self.engine = None
        self.at = 0
        self.runs = 0
        self.seconds = 0.0
        if make_url(url).get_backend_name() != "postgresql":
            return
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            if conn.scalar(text("SHOW autovacuum")) == "off":
                self.engine = engine
                return
        engine.dispose()

    def maybe(self, rows: int) -> None:
        if self.engine is None or rows < 50 + 1.1 * self.at:
            return
        started = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
        self.seconds += time.perf_counter() - started
        self.runs += 1
        self.at = rows

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def note(self) -> dict[str, Any]:
        if self.engine is None:
            return {}
        return {"analyze_runs": self.runs, "analyze_seconds": self.seconds}


def size_of(svc: LedgerService, estate: str) -> int | None:
    with svc.session() as s:
        row = s.get(EstateRow, estate)
        return None if row is None else int(row.size)


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its largest reaped child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


# -- one estate ------------------------------------------------------------------------------------


@dataclass
class BuildStats:
    entries: int  # appended by this build (resumed builds count only their part)
    seconds: float  # from the first signing to the last commit
    rate: float  # entries / seconds
    first_rate: float  # entries/s over the first tenth of the appends
    last_rate: float  # … and over the last tenth
    vacuum_seconds: float = 0.0
    peak_rss_mb: float = 0.0  # main process
    peak_child_rss_mb: float = 0.0  # largest worker
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Progress:
    """Prints ``done/total`` with the overall and the recent rate every ``every`` seconds."""

    def __init__(self, total: int, label: str, every: float = 10.0, quiet: bool = False) -> None:
        self.total, self.label, self.every, self.quiet = total, label, every, quiet
        self.start = self.last_t = time.perf_counter()
        self.last_n = 0

    def update(self, done: int, extra: str = "") -> None:
        now = time.perf_counter()
        if self.quiet or (now - self.last_t < self.every and done < self.total):
            return
        recent = (done - self.last_n) / max(now - self.last_t, 1e-9)
        overall = done / max(now - self.start, 1e-9)
        print(
            f"  {self.label}: {done:,}/{self.total:,} entries, {overall:,.0f}/s "
            f"(last {now - self.last_t:.0f} s: {recent:,.0f}/s), {now - self.start:,.0f} s{extra}",
            flush=True,
        )
        self.last_t, self.last_n = now, done


def _rates(marks: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Rates over the first and the last tenth of ``(entries done, time)`` marks."""
    if len(marks) < 2:
        return 0.0, 0.0
    n = marks[-1][0]
    first = next((m for m in marks if m[0] >= n / 10), marks[-1])
    last = next((m for m in reversed(marks) if m[0] <= n - n / 10), marks[0])
    first_rate = (first[0] - marks[0][0]) / max(first[1] - marks[0][1], 1e-9)
    last_rate = (n - last[0]) / max(marks[-1][1] - last[1], 1e-9)
    return first_rate, last_rate


def build_estate(
    url: str,
    data_dir: Path,
    spec: Spec,
    *,
    workers: int = 2,
    batch: int = BATCH,
    quiet: bool = False,
) -> BuildStats:
    """Append ``spec``'s log (or its missing end) on a migrated database."""
    svc = LedgerService(url, data_dir, ORIGIN_HOST)
    try:
        size = size_of(svc, spec.id)
        if size is None:
            genesis, chart = setup_payloads(spec)
            svc.create_estate(genesis)
            svc.append(spec.id, chart)
            size = SETUP
        if size >= spec.entries:
            return BuildStats(0, 0.0, 0.0, 0.0, 0.0)
        first = size - SETUP
        total = spec.transactions - first
        progress = Progress(total, spec.id, quiet=quiet)
        started = time.perf_counter()
        marks = [(0, started)]
        done = 0
        waited = appending = 0.0  # main process: waiting for signed batches, appending
        analyze = AutoAnalyze(url)
        ranges = [
            (k, min(k + batch, spec.transactions)) for k in range(first, spec.transactions, batch)
        ]
        if workers <= 0:
            for a, b in ranges:
                t0 = time.perf_counter()
                items = signed(spec, a, b)
                t1 = time.perf_counter()
                svc.append(spec.id, items)
                waited += t1 - t0
                appending += time.perf_counter() - t1
                done += b - a
                analyze.maybe(size + done)
                marks.append((done, time.perf_counter()))
                progress.update(done)
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers) as pool:
                pending: deque[Any] = deque()
                todo = deque(ranges)
                window = 2 * workers + 2  # signed batches kept ready: bounded memory
                while todo or pending:
                    while todo and len(pending) < window:
                        a, b = todo.popleft()
                        pending.append(pool.apply_async(signed, (spec, a, b)))
                    t0 = time.perf_counter()
                    items = pending.popleft().get()
                    t1 = time.perf_counter()
                    svc.append(spec.id, items)
                    waited += t1 - t0
                    appending += time.perf_counter() - t1
                    done += len(items)
                    analyze.maybe(size + done)
                    marks.append((done, time.perf_counter()))
                    progress.update(done)
                pool.close()
                pool.join()
        seconds = time.perf_counter() - started
        final = size_of(svc, spec.id)
        if final != spec.entries:
            raise RuntimeError(f"{spec.id}: the log has {final} entries, not {spec.entries}")
    finally:
        svc.engine.dispose()
    first_rate, last_rate = _rates(marks)
    own, child = peak_rss_mb()
    extra = {"append_seconds": appending, "sign_wait_seconds": waited, **analyze.note()}
    analyze.close()
    return BuildStats(done, seconds, done / seconds, first_rate, last_rate, 0.0, own, child, extra)


# -- a city ----------------------------------------------------------------------------------------

_SERVICES: dict[tuple[str, str], LedgerService] = {}


def _city_estate(url: str, data_dir: str, spec: Spec, batch: int) -> tuple[str, int, float, float]:
    """In a worker: build one estate, signing and appending here. (id, entries, s, peak MB)."""
    svc = _SERVICES.get((url, data_dir))
    if svc is None:
        svc = _SERVICES[url, data_dir] = LedgerService(url, Path(data_dir), ORIGIN_HOST)
    started = time.perf_counter()
    size = size_of(svc, spec.id)
    if size is None:
        genesis, chart = setup_payloads(spec)
        svc.create_estate(genesis)
        svc.append(spec.id, chart)
        size = SETUP
    added = max(0, spec.entries - size)
    for k in range(size - SETUP, spec.transactions, batch):
        svc.append(spec.id, signed(spec, k, min(k + batch, spec.transactions)))
    return spec.id, added, time.perf_counter() - started, peak_rss_mb()[0]


def city_specs(
    estates: int, entries: int, per_day: float, seed: int, prefix: str, households: int
) -> list[Spec]:
    width = len(str(estates))
    return [
        Spec(f"{prefix}-{i:0{width}d}", entries, per_day, END, seed, households)
        for i in range(1, estates + 1)
    ]


def build_city(
    url: str,
    data_dir: Path,
    specs: Sequence[Spec],
    *,
    processes: int = 2,
    batch: int = BATCH,
    quiet: bool = False,
) -> BuildStats:
    total = sum(s.entries for s in specs)
    progress = Progress(total, "city", quiet=quiet)
    started = time.perf_counter()
    marks = [(0, started)]
    done = estates_done = 0
    per_estate: list[float] = []
    worker_peak = 0.0
    analyze = AutoAnalyze(url)  # runs here while the workers append
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        jobs = [(url, str(data_dir), s, batch) for s in specs]
        for _id, n, seconds, peak in pool.imap_unordered(_star_city, jobs):
            done += n
            analyze.maybe(done)
            estates_done += 1
            per_estate.append(seconds)
            worker_peak = max(worker_peak, peak)
            marks.append((done, time.perf_counter()))
            progress.update(done, f", {estates_done}/{len(specs)} estates")
        pool.close()
        pool.join()
    seconds = time.perf_counter() - started
    first_rate, last_rate = _rates(marks)
    own, child = peak_rss_mb()
    per_estate.sort()
    extra = {
        "estates": len(specs),
        "estate_seconds_p50": per_estate[len(per_estate) // 2] if per_estate else 0.0,
        "estate_seconds_max": per_estate[-1] if per_estate else 0.0,
        **analyze.note(),
    }
    analyze.close()
    return BuildStats(
        done,
        seconds,
        done / seconds,
        first_rate,
        last_rate,
        0.0,
        own,
        max(child, worker_peak),
        extra,
    )


def _star_city(job: tuple[str, str, Spec, int]) -> tuple[str, int, float, float]:
    return _city_estate(*job)


def write_stats(path: Path, url: str, specs: Sequence[Spec], stats: BuildStats) -> None:
    """The build's figures as JSON, with what was built and the machine's load."""
    doc = {
        "engine": make_url(url).get_backend_name(),
        "database": make_url(url).database,
        "specs": [s.to_json() for s in specs[:3]],
        "estates": len(specs),
        "stats": stats.to_json(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "nproc": os.cpu_count(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


# -- command line ----------------------------------------------------------------------------------


def _report(kind: str, stats: BuildStats, url: str) -> None:
    engine = make_url(url).get_backend_name()
    print(
        f"{kind} on {engine}: {stats.entries:,} entries appended in {stats.seconds:,.1f} s "
        f"({stats.seconds / 60:.1f} min) = {stats.rate:,.0f} entries/s; first tenth "
        f"{stats.first_rate:,.0f}/s, last tenth {stats.last_rate:,.0f}/s"
        + (f"; VACUUM ANALYZE {stats.vacuum_seconds:.1f} s" if stats.vacuum_seconds else "")
        + f"; peak RSS {stats.peak_rss_mb:,.0f} MB main, {stats.peak_child_rss_mb:,.0f} MB "
        "largest worker"
        + "".join(
            f"; {k} {v:,.1f}" if isinstance(v, float) else f"; {k} {v}"
            for k, v in stats.extra.items()
        ),
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cpus = os.cpu_count() or 2

    def common(p: argparse.ArgumentParser, per_day: float) -> None:
        p.add_argument("--entries", type=int, required=True, help="log size of each estate")
        p.add_argument("--database-url", required=True)
        p.add_argument("--data-dir", type=Path, required=True, help="log keys go here")
        p.add_argument("--per-day", type=float, default=per_day, help="transactions a day")
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--batch", type=int, default=BATCH, help="entries per append")
        p.add_argument("--fresh", action="store_true", help="drop the database first")
        p.add_argument("--stats-json", type=Path, help="also write the figures here (JSON)")

    est = sub.add_parser("estate", help="one estate of --entries entries")
    common(est, 100.0)
    est.add_argument("--estate", default="bench-scale", help="estate id")
    est.add_argument("--households", type=int, default=3000)
    est.add_argument("--workers", type=int, default=cpus, help="signing processes (0: none)")
    city = sub.add_parser("city", help="--estates estates of --entries entries each")
    common(city, 10.0)
    city.add_argument("--estates", type=int, required=True)
    city.add_argument("--prefix", default="city", help="estate ids are PREFIX-001 …")
    city.add_argument("--households", type=int, default=300)
    city.add_argument("--processes", type=int, default=cpus)
    args = parser.parse_args(argv)
    if args.entries <= SETUP:
        parser.error(f"--entries must be more than {SETUP} (genesis and chart)")
    started = time.perf_counter()
    prepare_database(args.database_url, args.fresh)
    if args.fresh and args.data_dir.exists():
        shutil.rmtree(args.data_dir / "log-keys", ignore_errors=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    prepared = time.perf_counter() - started
    if args.command == "estate":
        spec = Spec(args.estate, args.entries, args.per_day, END, args.seed, args.households)
        print(
            f"estate {spec.id}: {spec.entries:,} entries, dates {date_of(spec, 0)} to "
            f"{spec.end}, {args.workers} signing workers",
            flush=True,
        )
        stats = build_estate(
            args.database_url, args.data_dir, spec, workers=args.workers, batch=args.batch
        )
    else:
        specs = city_specs(
            args.estates, args.entries, args.per_day, args.seed, args.prefix, args.households
        )
        print(
            f"city: {len(specs)} estates × {args.entries:,} entries, dates "
            f"{date_of(specs[0], 0)} to {END}, {args.processes} processes",
            flush=True,
        )
        stats = build_city(
            args.database_url, args.data_dir, specs, processes=args.processes, batch=args.batch
        )
    stats.vacuum_seconds = finish_database(args.database_url)
    _report(args.command, stats, args.database_url)
    if args.stats_json:
        write_stats(
            args.stats_json, args.database_url, specs if args.command == "city" else [spec], stats
        )
    print(
        f"total wall time {time.perf_counter() - started:,.1f} s (schema {prepared:.1f} s)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
