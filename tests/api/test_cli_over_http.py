"""What a person does: seed the demo, serve it, post a dual-signed payment with its voucher.

Runs the real ``trustledger`` command line and a real server (``trustledger serve``)
in subprocesses, on SQLite in a temporary data directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.demo_pdf import pdf_document

CLI = [sys.executable, "-c", "from api.cli import main; main()"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    data = tmp_path_factory.mktemp("data")
    env = {**os.environ, "TRUSTLEDGER_DATA_DIR": str(data), "TRUSTLEDGER_LANG": "en"}
    assert run(["demo", "--months", "1"], env).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, data, env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dual_signed_payment_with_voucher_over_http(
    served: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    base, data, env = served
    keys = data / "demo-keys"
    pdf = tmp_path / "电梯维保发票.pdf"
    pdf.write_bytes(pdf_document("INVOICE 2026-11-0007", ["Elevator maintenance", "CNY 1,200.00"]))
    info = run(["voucher", str(pdf)], env)
    assert info.returncode == 0, info.stderr
    voucher = json.loads(info.stdout)
    payload = {
        "v": 1,
        "estate": "shifan-garden",
        "id": str(uuid.uuid4()),
        "kind": "transaction",
        "date": dt.date.today().isoformat(),
        "body": {
            "postings": [
                {"account": "Assets:Bank:CoManaged", "amount": -120000},
                {"account": "Expenses:ElevatorMaintenance", "amount": 120000},
            ],
            "counterparty": "常州某电梯工程有限公司",
            "category": "电梯维保",
        },
        "vouchers": [voucher],
        "memo": "11月电梯维保费",
    }
    draft = tmp_path / "pay.json"
    draft.write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
    half = tmp_path / "pay.signed.json"

    # The trustee alone cannot spend: the server refuses and names the missing role.
    alone = run(
        [
            "post",
            "--key",
            str(keys / "trustee.key"),
            "--payload",
            str(draft),
            "--url",
            base,
            "--voucher",
            str(pdf),
        ],
        env,
    )
    assert alone.returncode == 2 and "committee" in alone.stderr

    signed = run(
        [
            "post",
            "--key",
            str(keys / "trustee.key"),
            "--payload",
            str(draft),
            "--sign-only",
            "--out",
            str(half),
        ],
        env,
    )
    assert signed.returncode == 0, signed.stderr
    cosigned = run(
        [
            "post",
            "--key",
            str(keys / "committee-1.key"),
            "--payload",
            str(half),
            "--url",
            base,
            "--voucher",
            str(pdf),
        ],
        env,
    )
    assert cosigned.returncode == 0, cosigned.stderr
    seq = int(cosigned.stdout.split("entry ")[1].split(" ")[0])

    entry = httpx.get(f"{base}/v1/estates/shifan-garden/entries/{seq}").json()["entry"]
    assert entry["payload"] == payload
    assert len(entry["signatures"]) == 2
    got = httpx.get(f"{base}/v1/estates/shifan-garden/vouchers/{voucher['sha256']}")
    assert got.status_code == 200 and got.content == pdf.read_bytes()

    again = run(
        ["post", "--key", str(keys / "committee-1.key"), "--payload", str(half), "--url", base], env
    )
    assert again.returncode == 0 and f"entry {seq}" in again.stdout and "already" in again.stdout
