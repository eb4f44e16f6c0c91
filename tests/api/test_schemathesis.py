"""Property-based tests of the whole HTTP API from its own OpenAPI document (schemathesis).

The app runs in process (ASGI, no server) over a SQLite file seeded with a small
estate; path parameters are steered to that estate half of the time so that the
200 paths are exercised as well as the 404s. For every generated request:

- no 5xx, ever;
- every 4xx is ``application/problem+json`` with ``type``, ``title``, ``status`` (equal
  to the HTTP status) and ``detail``;
- the response conforms to the schema where the document declares one (status and
  media type), and its content type is one the document declares for that status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.app import create_app
from api.settings import Settings
from ledger.storage.db import migrate
from ledger.storage.service import LedgerService
from tests.factories import EstateFactory

ESTATE = "st-estate"
SEEN: dict[str, set[int]] = {}
PROBLEM = "application/problem+json"


@schemathesis.check
def problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is an RFC 9457 problem with the members the API promises."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    if content_type != PROBLEM:
        raise AssertionError(f"{response.status_code} with content type {content_type!r}")
    body = response.json()
    for member in ("type", "title", "status", "detail"):
        if member not in body:
            raise AssertionError(f"problem without {member!r}: {body}")
    if not body["type"].startswith("/problems/"):
        raise AssertionError(f"problem type {body['type']!r} is not a /problems/ URI")
    if body["status"] != response.status_code:
        raise AssertionError(f"problem status {body['status']} != HTTP {response.status_code}")
    if not isinstance(body["title"], str) or not isinstance(body["detail"], str):
        raise AssertionError(f"problem title/detail not strings: {body}")
    return True


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    problem_details,
]


class DeferredApp:
    """An ASGI app that forwards to the app a fixture installs.

    The schema is loaded at import (``schema.parametrize`` needs it to collect one test
    per operation), from an app without a database: producing ``/openapi.json`` needs
    none. The seeded app, with its SQLite file, is made by a fixture at run time.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


NO_DATABASE: Any = object()  # the service is never reached while serving /openapi.json
APP = DeferredApp(create_app(Settings(write_rate=0), NO_DATABASE))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(max_examples=25)


VOUCHER = b"%PDF-1.4\n% minutes of the owners' assembly\n%%EOF\n"
SIZE = 10  # entries in the seeded log


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half of the time, names that exist (so the 200 paths run as well as the 404s)."""
    if not path_parameters or "estate" not in path_parameters:
        return st.just(path_parameters)
    existing = {**path_parameters, "estate": ESTATE}
    if "seq" in existing:
        existing["seq"] = SIZE - 1
    if "sha256" in existing:
        existing["sha256"] = hashlib.sha256(VOUCHER).hexdigest()
    return st.sampled_from([existing, path_parameters])


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    """Half of the time, proof parameters inside the seeded log."""
    if not query:
        return st.just(query)
    pair = st.tuples(st.integers(1, SIZE), st.integers(1, SIZE)).map(sorted)
    if "tree_size" in query:
        inside = pair.map(lambda p: {**query, "seq": p[0] - 1, "tree_size": p[1]})
    elif "from" in query and "to" in query:
        inside = pair.map(lambda p: {**query, "from": p[0], "to": p[1]})
    else:
        return st.just(query)
    return st.one_of(st.just(query), inside)


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{tmp / 'ledger.db'}"
    migrate(url)
    service = LedgerService(url, tmp / "data", "trustledger.example")
    f = EstateFactory.create(service, ESTATE)
    f.append(f.income(120_000), f.spend(30_000), f.income(5_000, "Income:Public:Parking"))
    service.blobs_for(ESTATE).put(hashlib.sha256(VOUCHER).hexdigest(), VOUCHER)
    boot, APP.app = APP.app, create_app(Settings(data_dir=tmp, write_rate=0), service)
    with service.reader(ESTATE) as r:
        assert r.size == SIZE
    yield
    APP.app = boot
    service.engine.dispose()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api(case: Any, seeded_app: None) -> None:
    response = case.call_and_validate(checks=CHECKS)
    SEEN.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)


# The public verification API (DESIGN.md): each must have answered 2xx at least once,
# else the run above did not reach its real code paths.
VERIFICATION_GETS = [
    "/v1/estates",
    "/v1/estates/{estate}",
    "/v1/estates/{estate}/log-key",
    "/v1/estates/{estate}/checkpoint",
    "/v1/estates/{estate}/entries",
    "/v1/estates/{estate}/entries/{seq}",
    "/v1/estates/{estate}/proofs/inclusion",
    "/v1/estates/{estate}/proofs/consistency",
    "/v1/estates/{estate}/vouchers/{sha256}",
    "/v1/estates/{estate}/statements",
]


def test_generated_requests_reached_the_real_paths() -> None:
    """Runs after ``test_api`` (same module, defined later)."""
    missing = [p for p in VERIFICATION_GETS if f"GET {p}" not in SEEN]
    if missing:
        pytest.skip(f"test_api did not run for {missing} (partial run)")
    for path in VERIFICATION_GETS:
        assert any(200 <= s < 300 for s in SEEN[f"GET {path}"]), (path, SEEN[f"GET {path}"])
    statuses = set().union(*SEEN.values())
    assert {200, 400, 404, 405, 422} <= statuses
    assert not any(s >= 500 for s in statuses)
    # Writes were attempted with generated bodies and refused as problems.
    assert SEEN["POST /v1/estates/{estate}/entries"] <= set(range(400, 500))
