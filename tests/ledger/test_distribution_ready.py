"""The schema distributes by estate (Citus): checked against the migrated database itself.

Rules (docs/scale.md): every table but the platform's own ``operator_tokens`` (a
reference table) carries the estate id — ``estates.id`` for the estates table,
``estate_id`` elsewhere — as the first column of its primary key and in every
unique index; every foreign key stays inside one estate; no sequence exists (ids
are estate-scoped seqs, payload ids or hashes, never a counter shared across
estates); and every statement the service runs against an estate's tables names
that estate, so no query crosses estates.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, inspect, text

from api.app import create_app
from api.settings import Settings
from ledger.storage.service import LedgerService
from tests.factories import EstateFactory

REFERENCE_TABLES = {"operator_tokens", "alembic_version"}
"""Platform-wide tables, replicated to every node rather than distributed."""


def distribution_column(table: str) -> str:
    return "id" if table == "estates" else "estate_id"


def tables(service: LedgerService) -> list[str]:
    names = inspect(service.engine).get_table_names()
    return sorted(n for n in names if n not in REFERENCE_TABLES)


def test_every_key_and_unique_index_leads_with_the_estate(service: LedgerService) -> None:
    insp = inspect(service.engine)
    checked = 0
    for table in tables(service):
        column = distribution_column(table)
        assert column in {c["name"] for c in insp.get_columns(table)}, table
        pk = insp.get_pk_constraint(table)["constrained_columns"]
        assert pk and pk[0] == column, f"{table}: primary key {pk} does not lead with {column}"
        uniques = [u["column_names"] for u in insp.get_unique_constraints(table)]
        uniques += [i["column_names"] for i in insp.get_indexes(table) if i["unique"]]
        for cols in uniques:
            assert column in cols, f"{table}: unique {cols} does not include {column}"
        for fk in insp.get_foreign_keys(table):
            pairs = dict(zip(fk["constrained_columns"], fk["referred_columns"], strict=True))
            target = distribution_column(fk["referred_table"])
            assert pairs.get(column) == target, f"{table}: foreign key {fk} crosses estates"
        checked += 1
    assert checked >= 15


def test_no_sequence_is_shared_across_estates(service: LedgerService) -> None:
    if service.engine.dialect.name != "postgresql":
        pytest.skip("sequences are a PostgreSQL object")
    with service.engine.connect() as conn:
        sequences = conn.execute(text("SELECT sequence_name FROM information_schema.sequences"))
        assert sequences.all() == []


WORDS = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+\"?(\w+)\"?", re.IGNORECASE)


def test_every_statement_on_an_estate_names_the_estate(
    service: LedgerService, estate_id: str, tmp_path
) -> None:
    """Capture every SQL statement of a busy session: posting, queries, proofs, audits."""
    statements: list[str] = []

    @event.listens_for(service.engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    f = EstateFactory.create(service, estate_id)
    budget = {"year": 2026, "lines": [{"account": "Expenses:Cleaning", "amount": 50_000}]}
    f.append(f.income(10_000), f.spend(2_000), f.signed("budget", budget, f.committee))
    client = TestClient(create_app(Settings(data_dir=tmp_path, write_rate=0), service))
    base = f"/v1/estates/{f.id}"
    for path in (
        "",
        "/checkpoint",
        "/entries?start=0&limit=5",
        "/entries/3",
        "/proofs/inclusion?seq=2&tree_size=5",
        "/proofs/consistency?from=2&to=5",
        "/transactions?limit=5&q=保洁",
        "/balances",
        "/summary?period=2026-10",
        "/budget?year=2026",
        "/proposals",
        "/statements/2026-10",
        "/statements",
        "/tile/0/000.p/5",
    ):
        assert client.get(base + path).status_code == 200, path
    from audits.db import DatabaseSource
    from audits.run import AuditOptions, run_audit

    source = DatabaseSource(service.url, service.data_dir, engine=service.engine)
    report = run_audit(source, AuditOptions(estates=[f.id], workers=1))
    assert [x.severity for x in report.findings] == ["warning"]  # the budget has no minutes
    source.close()
    event.remove(service.engine, "before_cursor_execute", capture)

    crossing = []
    for sql in statements:
        touched = {t.lower() for t in WORDS.findall(sql)} - REFERENCE_TABLES
        touched -= {"sqlite_master", "pg_catalog", "information_schema"}
        if not touched or sql.lstrip().upper().startswith(("CREATE", "PRAGMA", "SAVEPOINT")):
            continue
        if touched == {"estates"} and "estates.id" not in sql and "WHERE" not in sql.upper():
            continue  # listing the estates is the one query across estates (multi-shard)
        if "WHERE 0 = 1" in sql:  # SQLite: takes the write lock, touches no row
            continue
        if "estate_id" not in sql and "estates.id" not in sql:
            crossing.append(sql)
    assert len(statements) > 50
    assert crossing == []
