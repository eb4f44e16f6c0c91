"""Rate limits shared by the API's replicas through Redis (a private ``redis-server``).

Two apps over one service stand for two replicas behind a load balancer: with
``rate_limit_redis_url`` they draw from the same buckets, without it each has its own.
When Redis does not answer, writes go through (and the limiter says so in the log).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest
import redis
from fastapi.testclient import TestClient

from api.ratelimit import Buckets, MemoryBuckets, RedisBuckets
from ledger.storage.service import LedgerService
from tests.api.conftest import ClientFactory
from tests.api.test_operator import bearer, new_estate
from tests.api.test_posting_api import Log, assert_problem, wire
from tests.factories import EstateFactory

BucketFactory = Callable[[float, int], Buckets]


@pytest.fixture
def token(service: LedgerService) -> str:
    return service.create_operator_token("测试运营")[1]


@pytest.fixture(params=["memory", "redis"])
def make_buckets(request: pytest.FixtureRequest) -> BucketFactory:
    def make(rate: float, burst: int) -> Buckets:
        if request.param == "memory":
            return MemoryBuckets(rate, burst)
        url = request.getfixturevalue("redis_url")
        return RedisBuckets(url, "test", rate, burst)

    return make


def test_a_bucket_gives_its_burst_then_refills(make_buckets: BucketFactory) -> None:
    buckets = make_buckets(20.0, 3)
    assert not buckets.empty("10.0.0.1")
    assert [buckets.take("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert buckets.empty("10.0.0.1")
    assert buckets.take("10.0.0.2")  # another address has its own bucket
    time.sleep(0.2)  # 20 tokens a second: at least two whole tokens again
    assert not buckets.empty("10.0.0.1")
    assert buckets.take("10.0.0.1") and buckets.take("10.0.0.1")


def test_a_redis_bucket_expires_once_it_would_be_full(redis_url: str) -> None:
    buckets = RedisBuckets(redis_url, "writes", 2.0, 10)
    buckets.take("10.0.0.1")
    ttl = redis.Redis.from_url(redis_url).pttl("trustledger:ratelimit:writes:10.0.0.1")
    assert 0 < ttl <= 1_500  # one token to refill at 2 a second, plus a second


def test_replicas_share_the_write_limit(
    make_client: ClientFactory, estate: EstateFactory, redis_url: str
) -> None:
    a = make_client(write_rate=0.01, write_burst=3, rate_limit_redis_url=redis_url)
    b = make_client(write_rate=0.01, write_burst=3, rate_limit_redis_url=redis_url)
    assert Log(a, estate).post(wire(estate.income(1))).status_code == 201
    assert Log(b, estate).post(wire(estate.income(2))).status_code == 201
    assert Log(a, estate).post(wire(estate.income(3))).status_code == 201
    before = Log(b, estate).state()
    for client in (a, b):
        r = Log(client, estate).post(wire(estate.income(4)))
        assert_problem(r, 429, "rate-limited")
    assert Log(a, estate).state() == before


def test_without_redis_each_replica_has_its_own_limit(
    make_client: ClientFactory, estate: EstateFactory
) -> None:
    a = make_client(write_rate=0.01, write_burst=2)
    b = make_client(write_rate=0.01, write_burst=2)
    for i, client in enumerate((a, a, b, b)):
        assert Log(client, estate).post(wire(estate.income(i + 1))).status_code == 201
    assert_problem(Log(a, estate).post(wire(estate.income(9))), 429, "rate-limited")


def test_replicas_share_the_operator_failure_limit(
    make_client: ClientFactory, service: LedgerService, token: str, redis_url: str
) -> None:
    a = make_client(operator_auth_burst=2, rate_limit_redis_url=redis_url)
    b = make_client(operator_auth_burst=2, rate_limit_redis_url=redis_url)
    f = new_estate(service, "op-shared-limit")
    bad = bearer("tlop_" + "x" * 43)
    for client in (a, b):
        r = client.post("/v1/estates", json=wire(f.genesis()), headers=bad)
        assert_problem(r, 403, "forbidden")
    for client in (a, b):  # blocked everywhere, even with the right token
        r = client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token))
        assert_problem(r, 429, "rate-limited")


def test_writes_go_through_when_redis_does_not_answer(
    make_client: ClientFactory, estate: EstateFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client: TestClient = make_client(
        write_rate=0.01, write_burst=1, rate_limit_redis_url=f"redis://127.0.0.1:{port}/0"
    )
    with caplog.at_level(logging.ERROR, logger="trustledger.ratelimit"):
        for i in range(3):
            assert Log(client, estate).post(wire(estate.income(i + 1))).status_code == 201
    assert [r.message for r in caplog.records].count(
        next(r.message for r in caplog.records if "Redis does not answer" in r.message)
    ) == 1  # said once, not per request


def test_a_redis_that_failed_is_not_asked_again_for_a_while(redis_url: str) -> None:
    buckets = RedisBuckets(redis_url, "writes", 0.01, 1)
    calls = []

    def down(**kwargs: object) -> int:
        calls.append(kwargs)
        raise redis.exceptions.ConnectionError("connection refused")

    buckets._script = down  # type: ignore[assignment]
    assert all(buckets.take("10.0.0.1") for _ in range(5))  # fail open
    assert len(calls) == 1  # the other four did not wait for Redis
    buckets._down_until = 0.0  # RETRY_AFTER seconds later
    assert buckets.take("10.0.0.1") and len(calls) == 2
