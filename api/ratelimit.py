"""A token bucket per client address for writes (in process; set the rate in settings)."""

from __future__ import annotations

import threading
import time

from fastapi import Request

from api.problems import Problem


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # forget idle clients
                self._buckets.clear()
            return True

    def check(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not self.allow(client):
            raise Problem("rate-limited", "too many writes from this address; slow down")
