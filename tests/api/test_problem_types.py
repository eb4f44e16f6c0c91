"""Every error the core can raise has a documented problem type, served at its `type` URI."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.problems import TYPES
from ledger import errors


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_every_ledger_error_code_has_a_problem_type() -> None:
    codes = {c.code for c in _subclasses(errors.LedgerError)}
    assert codes, "no error classes found"
    assert codes <= set(TYPES), sorted(codes - set(TYPES))


def test_problem_types_are_served_at_their_uri(client: TestClient) -> None:
    listed = client.get("/problems").json()["problems"]
    assert {p["code"] for p in listed} == set(TYPES)
    for p in listed:
        one = client.get(p["type"])
        assert one.status_code == 200 and one.json() == p
    missing = client.get("/problems/no-such-problem")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
