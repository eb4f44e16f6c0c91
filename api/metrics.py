"""Prometheus metrics of the HTTP edge, labelled by route template (not raw path)."""

from __future__ import annotations

from fastapi import Request
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "trustledger_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram("trustledger_http_request_seconds", "HTTP request latency", ["method", "route"])


def observe(request: Request, status: int, seconds: float) -> None:
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    REQUESTS.labels(request.method, template, str(status)).inc()
    LATENCY.labels(request.method, template).observe(seconds)
