"""Fixtures for the HTTP API: a TestClient over the app, on both engines.

``client`` is the app over the parametrised ``service`` (SQLite and PostgreSQL) with
no write rate limit; ``estate_client`` adds a created estate (founding keys and a
small chart of accounts) and returns ``(client, EstateFactory)``; ``make_client``
builds a client with other settings (limits, rate) over the same service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from ledger.storage.service import LedgerService
from tests.factories import EstateFactory

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(service: LedgerService, tmp_path: Path) -> Iterator[ClientFactory]:
    """``make_client(**settings)``: a client over ``service`` with these settings."""
    made: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        overrides.setdefault("write_rate", 0)
        client = TestClient(create_app(Settings(data_dir=tmp_path, **overrides), service))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


@pytest.fixture
def estate_client(client: TestClient, estate: EstateFactory) -> tuple[TestClient, EstateFactory]:
    return client, estate
