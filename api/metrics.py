"""Prometheus metrics of the HTTP edge, labelled by route template (not raw path)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from starlette.types import Scope

REQUESTS = Counter(
    "trustledger_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram("trustledger_http_request_seconds", "HTTP request latency", ["method", "route"])


def observe_route(scope: Scope, status: int, seconds: float) -> None:
    """Count one request of ``scope`` (after routing: its ``route`` names the template)."""
    template = getattr(scope.get("route"), "path", "unmatched")
    method = scope["method"]
    REQUESTS.labels(method, template, str(status)).inc()
    LATENCY.labels(method, template).observe(seconds)
