"""Problem types the other HTTP tests do not reach: account state, reversals, a method
the route does not have, and a database that does not answer. Both engines.

Every problem type the server answers with has an HTTP test; these types are never
answered over HTTP: ``signature-error`` and ``accounting-error`` (the families of the
more precise types, never raised themselves), ``root-mismatch`` and ``bad-note``
(a verifier's findings about what a server sent), and ``statement-invalid`` and
``ca-error`` (``trustledger statement verify`` and ``trustledger ca``, on the command line).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.payloads import payload, sign
from api.problems import TYPES
from api.settings import Settings
from ledger.errors import LedgerError
from ledger.signing import AuthorKey
from ledger.storage.service import LedgerService
from tests.api.conftest import ClientFactory
from tests.api.test_posting_api import Log, assert_problem, wire
from tests.factories import EstateFactory

NOT_OVER_HTTP = {
    "signature-error",
    "accounting-error",
    "root-mismatch",
    "bad-note",
    "statement-invalid",
    "ca-error",
}


def test_the_types_not_answered_over_http_exist() -> None:
    assert set(TYPES) >= NOT_OVER_HTTP
    codes = {cls.code for cls in _subclasses(LedgerError)}
    assert NOT_OVER_HTTP - {"ca-error"} <= codes


def _subclasses(cls: type) -> set[type]:
    out = set(cls.__subclasses__())
    for sub in list(out):
        out |= _subclasses(sub)
    return out


def test_account_state(make_client: ClientFactory, estate: EstateFactory) -> None:
    log = Log(make_client(), estate)
    before = log.state()
    again = estate.open_account("Expenses:Cleaning", "expense", "保洁")
    body = assert_problem(log.post(wire(again)), 409, "account-state", "payload.body.name")
    assert "already exists" in body["detail"]
    never_opened = {
        "action": "close",
        "name": "Expenses:Security",
        "type": "expense",
        "display_name": "秩序维护",
    }
    close = estate.signed("account", never_opened)
    body = assert_problem(log.post(wire(close)), 409, "account-state", "payload.body.name")
    assert "not open" in body["detail"]
    assert log.state() == before


def test_invalid_reversal(make_client: ClientFactory, estate: EstateFactory) -> None:
    log = Log(make_client(), estate)
    keys = (estate.trustee, estate.committee, estate.committee2)
    posted = log.post(wire(estate.income(10_000)))
    assert posted.status_code == 201, posted.text
    seq = posted.json()["seq"]
    reverse = estate.signed("reversal", {"target": seq, "reason": "重复入账"}, *keys)
    assert log.post(wire(reverse)).status_code == 201
    before = log.state()
    twice = estate.signed("reversal", {"target": seq, "reason": "再次冲销"}, *keys)
    body = assert_problem(log.post(wire(twice)), 409, "invalid-reversal", "payload.body.target")
    assert "already reversed" in body["detail"]
    account = estate.signed("reversal", {"target": 1, "reason": "冲销开户"}, *keys)
    body = assert_problem(log.post(wire(account)), 409, "invalid-reversal", "payload.body.target")
    assert "not a transaction" in body["detail"]
    assert log.state() == before


def test_a_method_the_route_does_not_have(client: TestClient, estate: EstateFactory) -> None:
    r = client.delete(f"/v1/estates/{estate.id}/entries")
    assert_problem(r, 405, "method-not-allowed")
    assert "allow" in {k.lower() for k in r.headers}


def test_a_database_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    down = "postgresql+psycopg://postgres@127.0.0.1:1/trustledger?connect_timeout=2"
    svc = LedgerService(down, tmp_path, "trustledger.example")
    with TestClient(create_app(Settings(data_dir=tmp_path, write_rate=0), svc)) as client:
        assert_problem(client.get("/v1/estates"), 503, "unavailable")
        assert_problem(client.get("/v1/estates/demo/checkpoint"), 503, "unavailable")
        postings = [
            {"account": "Assets:Bank:CoManaged", "amount": 100},
            {"account": "Income:PropertyFee", "amount": -100},
        ]
        body = {"postings": postings, "counterparty": "业主", "category": "物业费"}
        raw = payload("demo", "transaction", body, date=dt.date(2026, 11, 1))
        item = wire(sign(raw, [AuthorKey.generate()]))
        assert_problem(client.post("/v1/estates/demo/entries", json=item), 503, "unavailable")
        ready = assert_problem(client.get("/readyz"), 503, "unavailable")
        assert "database" in ready["detail"]
        assert client.get("/healthz").status_code == 200  # alive, only not ready
    svc.engine.dispose()
