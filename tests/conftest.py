"""Shared fixtures: a fresh database on SQLite and on PostgreSQL for every test.

PostgreSQL comes from ``TRUSTLEDGER_TEST_PG_URL`` (the Makefile sets it). Each test
run creates a database of its own, named after the one in the URL and the process
id, and drops it at the end; tests within a run keep apart by using estates of
their own. Without the variable the PostgreSQL half is
skipped, unless ``TRUSTLEDGER_REQUIRE_PG=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger import signing
from ledger.signing import VERIFIED
from ledger.storage.db import migrate
from ledger.storage.service import LedgerService
from tests.factories import EstateFactory

if TYPE_CHECKING:
    from ledger.storage.blobs_s3 import S3BlobStores

PG_ENV = "TRUSTLEDGER_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("TRUSTLEDGER_REQUIRE_PG") == "1":
            pytest.fail(f"{PG_ENV} is not set but PostgreSQL tests are required")
        pytest.skip(f"{PG_ENV} not set")
    parsed = make_url(url)
    name = f"{parsed.database}_{os.getpid()}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = parsed.set(database=name).render_as_string(hide_password=False)
    migrate(test_url)
    yield test_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "ledger.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[LedgerService]:
    svc = LedgerService(db_url, tmp_path / "data", "trustledger.example")
    yield svc
    svc.engine.dispose()


@pytest.fixture
def estate_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def estate(service: LedgerService, estate_id: str) -> EstateFactory:
    """A created estate with founding keys and a small chart of accounts."""
    return EstateFactory.create(service, estate_id)


@pytest.fixture
def memo() -> Iterator[None]:
    """The memo of signatures verified ahead (``VERIFIED``), empty before and after."""
    VERIFIED.clear()
    yield
    VERIFIED.clear()


@pytest.fixture
def crypto_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Messages the ledger's own check verified cryptographically in this process
    (memo misses)."""
    calls: list[bytes] = []
    real = signing._verifies

    def counted(public_key: bytes, message: bytes, sig: bytes) -> bool:
        calls.append(message)
        return real(public_key, message, sig)

    monkeypatch.setattr(signing, "_verifies", counted)
    return calls


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto's, over real HTTP on 127.0.0.1) for the whole run.

    boto3 reads the credentials from the environment, as it would in production.
    """
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "trustledger-test",
    "AWS_SECRET_ACCESS_KEY": "trustledger-test-secret",
    "AWS_DEFAULT_REGION": "cn-north-1",
}


@pytest.fixture
def s3_stores(s3_endpoint: str) -> S3BlobStores:
    """Voucher stores in a fresh bucket of their own (prefix ``vouchers/``)."""
    from ledger.storage.blobs_s3 import S3BlobStores

    bucket = f"tl-{uuid.uuid4().hex[:16]}"
    stores = S3BlobStores(bucket, "vouchers", endpoint_url=s3_endpoint, region="cn-north-1")
    stores.client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"}
    )
    return stores


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Redis (``redis-server`` on a free port, nothing saved) for the run."""
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/system-deps.sh installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield url
    client.close()
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The private Redis, emptied for this test."""
    import redis

    with redis.Redis.from_url(redis_server) as client:
        client.flushdb()
    return redis_server
