"""PostgreSQL plans of the append's reads: primary-key lookups whatever the statistics.

psycopg prepares a statement on its fifth run, and PostgreSQL may then keep a generic
plan made while the tables were nearly empty for as long as the connection lives.
A read whose cheap plan depends on statistics can turn into a scan of the estate's
rows on every append (it did: the last entry looked up by ``seq = (SELECT size - 1
…)`` went through the payload-id index, 600 µs at 3,000 entries).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.payload import TRUST_ACCOUNT
from ledger.storage.appender import _LAST
from ledger.storage.rawsql import _render
from tests.factories import EstateFactory


def test_last_entry_read_uses_the_primary_key_in_a_generic_plan(estate: EstateFactory) -> None:
    if estate.service.engine.dialect.name != "postgresql":
        pytest.skip("generic plans are PostgreSQL's")
    for i in range(5):
        estate.append(estate.income(100 + i))
    sql = _render(_LAST, True, ()).replace("%s", "{}")
    params = sql.format(*(f"${i}" for i in range(1, 4)))
    with estate.service.engine.connect() as conn:
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql(f"PREPARE last_entry(text, text, text) AS {params}")
        plan = "\n".join(
            r[0]
            for r in conn.exec_driver_sql(
                f"EXPLAIN EXECUTE last_entry('{estate.id}', '{TRUST_ACCOUNT}', '{estate.id}')"
            )
        )
        conn.rollback()
    assert "Index Scan Backward using entries_pkey" in plan, plan
    assert "ix_entries_payload_id" not in plan, plan
