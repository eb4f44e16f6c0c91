"""Concurrent signed posts to a real server (uvicorn in a subprocess), on both engines.

Eight client threads post 25 signed payloads each to one estate over HTTP; some
payloads are posted twice by the same thread (a retry) and a few are posted by
every thread at once (racing retries). Afterwards every acknowledgement must be
true: seqs are contiguous, each acknowledged payload is in the log exactly once,
at the seq it was acknowledged with, and ``verify_estate`` passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.checkpoint import verify_checkpoint
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory
from tests.live import free_port

THREADS = 8
PER_THREAD = 25
SHARED = 4  # payloads every thread posts
STARTUP_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    base: str
    service: LedgerService
    proc: subprocess.Popen[bytes]


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "ledger.db")
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    data_dir = tmp_path / "data"
    service = LedgerService(url, data_dir, "trustledger.example")
    port = free_port()
    env = {
        **os.environ,
        "TRUSTLEDGER_DATABASE_URL": url,
        "TRUSTLEDGER_DATA_DIR": str(data_dir),
        "TRUSTLEDGER_LOG_ORIGIN_HOST": "trustledger.example",
        "TRUSTLEDGER_WRITE_RATE": "0",
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
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
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.05)
        yield Server(base, service, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        service.engine.dispose()


def wire(item: Any) -> dict[str, Any]:
    return {
        "payload": dict(item.payload.raw),
        "signatures": [s.to_json() for s in item.signatures],
    }


def test_concurrent_posts(server: Server, estate_id: str) -> None:
    f = EstateFactory.create(server.service, estate_id)
    f.append(f.income(10_000_000))
    start_size = 8
    url = f"{server.base}/v1/estates/{estate_id}/entries"

    shared = [wire(f.income(7_000 + i)) for i in range(SHARED)]
    plans: list[list[dict[str, Any]]] = []
    for t in range(THREADS):
        docs = []
        for i in range(PER_THREAD):
            n = t * PER_THREAD + i
            item = f.spend(100 + n) if n % 5 == 4 else f.income(1_000 + n)
            docs.append(wire(item))
        plans.append(docs)

    acks: list[tuple[str, int, int]] = []  # (payload id, status, seq)
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def run(t: int) -> None:
        mine: list[tuple[str, int, int]] = []
        try:
            with httpx.Client(timeout=60) as client:
                barrier.wait(timeout=30)
                for i, doc in enumerate(plans[t]):
                    tries = 2 if i % 4 == 0 else 1  # a retry of the same payload
                    for _ in range(tries):
                        r = client.post(url, json=doc)
                        if r.status_code not in (200, 201):
                            errors.append(f"{r.status_code} {r.text}")
                            continue
                        assert r.json()["entry"]["payload"] == doc["payload"]
                        mine.append((doc["payload"]["id"], r.status_code, r.json()["seq"]))
                    if i % 6 == 0:
                        doc = shared[(t + i) % SHARED]
                        r = client.post(url, json=doc)
                        if r.status_code not in (200, 201):
                            errors.append(f"{r.status_code} {r.text}")
                        else:
                            mine.append((doc["payload"]["id"], r.status_code, r.json()["seq"]))
        except Exception as e:  # reported below, with the others
            errors.append(repr(e))
        with lock:
            acks.extend(mine)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads)
    assert errors == []

    unique = {pid for pid, _, _ in acks}
    assert len(unique) == THREADS * PER_THREAD + SHARED
    # Exactly one 201 per payload; every other acknowledgement is a 200 with the same seq.
    created = Counter(pid for pid, status, _ in acks if status == 201)
    assert set(created) == unique and set(created.values()) == {1}
    seq_of: dict[str, int] = {}
    for pid, _, seq in acks:
        assert seq_of.setdefault(pid, seq) == seq, pid
    assert sum(1 for _, status, _ in acks if status == 200) >= THREADS * 7

    # The log as a client reads it: contiguous, each acknowledged payload once, at its seq.
    with httpx.Client(base_url=server.base, timeout=30) as client:
        entries: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None:
            page = client.get(
                f"/v1/estates/{estate_id}/entries", params={"start": start, "limit": 100}
            ).json()
            entries.extend(page["entries"])
            start = page["next"]
        key = client.get(f"/v1/estates/{estate_id}/log-key").json()
        note = client.get(f"/v1/estates/{estate_id}/checkpoint").text
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    assert len(entries) == start_size + len(unique)
    ids = Counter(e["entry"]["payload"]["id"] for e in entries)
    assert max(ids.values()) == 1
    for pid, seq in seq_of.items():
        assert entries[seq]["entry"]["payload"]["id"] == pid
    cp = verify_checkpoint(note, key["vkey"], key["origin"])
    assert cp.size == len(entries)

    with server.service.session() as s:
        assert verify_estate(s, estate_id).tree.size == len(entries)
