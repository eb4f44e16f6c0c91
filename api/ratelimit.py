"""Token buckets per client address: writes, and failed operator authentications.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a write
takes one. The buckets live in the process (:class:`MemoryBuckets`) by default, or in
Redis (:class:`RedisBuckets`, ``TRUSTLEDGER_RATE_LIMIT_REDIS_URL``) so that every
replica of the API draws from the same bucket: behind a load balancer, a client then
gets ``rate`` writes a second in all, not ``rate`` per replica.

Redis keeps each bucket as a hash that expires once it would be full again, updated
by one Lua script (atomic, timed by the Redis server's clock, so replicas whose
clocks differ agree), asked from a worker thread. When Redis does not answer, the
limiter lets requests through for a few seconds without asking again, and logs it: a
rate limit must not take the ledger down with it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.problems import Problem

log = logging.getLogger("trustledger.ratelimit")


class Buckets(Protocol):
    def take(self, client: str) -> bool:
        """Take a token from ``client``'s bucket if it has one; whether it had."""
        ...

    def empty(self, client: str) -> bool:
        """Whether ``client``'s bucket has no whole token now (takes nothing)."""
        ...


class MemoryBuckets:
    """The buckets of this process."""

    MAX_CLIENTS = 100_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _tokens(self, client: str, now: float) -> float:
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def take(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(client, now)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > self.MAX_CLIENTS:  # forget idle clients
                self._buckets.clear()
            return True

    def empty(self, client: str) -> bool:
        with self._lock:
            return self._tokens(client, time.monotonic()) < 1


# KEYS[1]: the bucket; ARGV: rate, burst, 1 to take a token (0 to look only).
# Returns 1 when the bucket had a whole token.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local had = tokens >= 1
if ARGV[3] == '1' then
  if had then tokens = tokens - 1 end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
end
if had then return 1 end
return 0
"""


class RedisBuckets:
    """Buckets shared by every process that uses the same Redis and ``name``."""

    WARN_EVERY = 60.0
    RETRY_AFTER = 5.0
    """Seconds without asking Redis after it failed to answer (requests go through)."""

    def __init__(self, url: str, name: str, rate: float, burst: int, *, client: Any = None) -> None:
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.client = client
        self.prefix = f"trustledger:ratelimit:{name}:"
        self.rate, self.burst = rate, burst
        self._script = client.register_script(_SCRIPT)
        self._warned = 0.0
        self._down_until = 0.0

    def _run(self, client: str, take: bool) -> bool:
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:  # a Redis that just failed is not waited for
            return True
        try:
            had = self._script(
                keys=[self.prefix + client], args=[self.rate, self.burst, 1 if take else 0]
            )
        except RedisError as e:  # fail open: the ledger keeps working without its limits
            now = time.monotonic()
            self._down_until = now + self.RETRY_AFTER
            if now - self._warned > self.WARN_EVERY:
                self._warned = now
                log.error("rate limits off: Redis does not answer (%s)", e)
            return True
        return bool(had)

    def take(self, client: str) -> bool:
        return self._run(client, take=True)

    def empty(self, client: str) -> bool:
        return not self._run(client, take=False)


def buckets(rate: float, burst: int, name: str, redis_url: str | None) -> Buckets:
    if redis_url:
        return RedisBuckets(redis_url, name, rate, burst)
    return MemoryBuckets(rate, burst)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """Writes per client address: each takes a token (``rate`` ≤ 0: no limit)."""

    def __init__(
        self, rate: float, burst: int, *, name: str = "writes", redis_url: str | None = None
    ) -> None:
        self.rate, self.burst = rate, burst
        self.buckets = buckets(rate, burst, name, redis_url) if rate > 0 else None

    def allow(self, client: str) -> bool:
        return self.buckets is None or self.buckets.take(client)

    async def check(self, request: Request) -> None:
        """Refuse the request (429) if its address has no token left. Asking Redis is
        network I/O: it runs in a worker thread, never on the event loop."""
        if self.buckets is None:
            return
        client = client_address(request)
        if isinstance(self.buckets, MemoryBuckets):
            allowed = self.buckets.take(client)
        else:
            allowed = await run_in_threadpool(self.buckets.take, client)
        if not allowed:
            raise Problem("rate-limited", "too many writes from this address; slow down")
