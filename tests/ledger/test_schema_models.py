"""The models describe exactly the schema the migrations build (both engines).

Alembic compares ``ledger.storage.models`` with the migrated database: tables,
columns, indexes and keys. A model change without its migration, or the reverse,
shows up here rather than in production.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.storage.models import Base
from ledger.storage.service import LedgerService


def test_models_equal_the_migrated_schema(service: LedgerService) -> None:
    with service.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
