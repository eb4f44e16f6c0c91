"""Proofs from the database (both engines): the reference tree's hashes, cold and warm.

The log here is synthetic, as in ``bench/inclusion_proof_db.py``: an ``estates`` row
and the ``tree_hashes`` rows appends would store for leaves ``b"stored leaf <i>"``
(proofs read nothing else). It grows in steps, so that the node cache's runs cut by
the end of the tree are extended later, and proofs are compared with the in-memory
reference for the current tree and for older tree sizes.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, insert, text, update
from sqlalchemy.exc import DBAPIError

from ledger.errors import StorageError
from ledger.merkle import (
    CompactRange,
    MemoryHashStore,
    hash_leaf,
    prove_consistency,
    prove_inclusion,
    tree_root,
)
from ledger.storage import nodes
from ledger.storage.db import alembic_config, migrate
from ledger.storage.models import EstateRow, TreeHashRow
from ledger.storage.service import LedgerService


class SyntheticLog:
    """An estate whose tree is written directly, with its reference store."""

    def __init__(self, service: LedgerService) -> None:
        self.service = service
        self.id = f"p-{uuid.uuid4().hex[:12]}"
        self.edge = CompactRange.empty()
        self.reference = MemoryHashStore()
        with service.session() as s:
            s.execute(
                insert(EstateRow).values(
                    id=self.id,
                    name="proofs",
                    origin=f"test/{self.id}",
                    vkey="",
                    policy="",
                    size=0,
                    created_at=f"2026-12-03T00:00:00.{uuid.uuid4().int % 1000:03d}Z",
                )
            )

    def grow(self, size: int, *, published: int | None = None) -> None:
        """Store the tree's nodes up to ``size`` leaves; the estate row says ``published``."""
        rows = []
        for i in range(self.edge.size, size):
            self.reference.append(b"stored leaf %d" % i)
            for (level, idx), h in self.edge.append(hash_leaf(b"stored leaf %d" % i)):
                rows.append({"estate_id": self.id, "level": level, "idx": idx, "hash": h})
        with self.service.session() as s:
            if rows:
                s.execute(insert(TreeHashRow), rows)
            s.execute(
                update(EstateRow)
                .where(EstateRow.id == self.id)
                .values(size=size if published is None else published)
            )


@pytest.fixture
def log(service: LedgerService) -> SyntheticLog:
    nodes._node_cache.clear()
    return SyntheticLog(service)


def check_proofs(log: SyntheticLog, tree_sizes: list[int], rng: random.Random) -> None:
    ref = log.reference
    with log.service.reader(log.id) as r:
        for size in tree_sizes:
            leaves = {0, size - 1, *(rng.randrange(size) for _ in range(60))}
            for index in sorted(leaves):
                assert r.inclusion_proof(index, size) == prove_inclusion(index, size, ref)
            old = rng.randrange(1, size + 1)
            assert r.consistency_proof(old, size) == prove_consistency(old, size, ref)
            assert r.root(size) == tree_root(size, ref)


def test_proofs_equal_the_reference_while_the_log_grows(log: SyntheticLog) -> None:
    rng = random.Random(9162)
    # 1,000 leaves: each cached level ends in a run cut by the end of the tree.
    log.grow(1000)
    check_proofs(log, [1000, 999, 64, 7, 1], rng)  # cold cache, then warm
    check_proofs(log, [1000, 640, 333], rng)
    # 2,600 leaves: those runs are extended, new ones start (2,600 = 2,560 + 40: the
    # ragged right edge has pieces below the cached levels).
    log.grow(2600)
    check_proofs(log, [2600, 2560, 2049, 2048, 1000], rng)
    with log.service.reader(log.id) as r:
        runs = nodes._node_cache.runs(nodes.log_key(r.session, log.id, r.row.created_at))
    assert len(runs[0 << 6 | 6]) == 32 * 32  # the run cut at 15 nodes was completed
    nodes._node_cache.clear()
    check_proofs(log, [2600, 1500], rng)


def test_a_warm_proof_is_one_statement_of_two_ranges(log: SyntheticLog) -> None:
    log.grow(2496)  # 39 × 64: every piece of the right edge is at a cached level
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, sql: str, *_args: Any) -> None:
        if "tree_hashes" in sql:
            statements.append(sql)

    check_proofs(log, [2496], random.Random(1))  # fills the cache of levels ≥ 6
    engine = log.service.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with log.service.reader(log.id) as r:
            for index in (0, 777, 2495):
                statements.clear()
                proof = r.inclusion_proof(index, 2496)
                assert proof == prove_inclusion(index, 2496, log.reference)
                assert len(statements) == 1
                assert statements[0].count("BETWEEN") == 2  # the leaf's two tiles
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_only_nodes_of_the_committed_tree_are_cached(log: SyntheticLog) -> None:
    log.grow(2600, published=1000)  # nodes past 1,000 leaves stored, not yet published
    with log.service.reader(log.id) as r:
        # Leaves 192..255, then 1,280..1,343 and 2,240..2,303: past the published tree.
        wanted = [(6, 3), (6, 20), (6, 35)]
        assert r.view.read_hashes(wanted) == log.reference.read_hashes(wanted)
        runs = nodes._node_cache.runs(nodes.log_key(r.session, log.id, r.row.created_at))
    # Level 6 of the published tree has 15 nodes: the first run of 32, cut at the end
    # of the tree, holds them; the nodes past it were read but not kept.
    assert {key: len(run) // 32 for key, run in runs.items()} == {0 << 6 | 6: 15}


def test_a_cached_run_grows_only_from_its_end() -> None:
    cache = nodes.NodeCache(limit=1000)
    runs = cache.runs(("db", "estate", "created"))
    cache.extend(runs, 6, 0, b"a" * 64)
    cache.extend(runs, 6, 0, b"b" * 64)  # the same nodes read by another thread: ignored
    cache.extend(runs, 6, 2, b"c" * 32)
    cache.extend(runs, 6, 4, b"d" * 32)  # would leave a gap: ignored
    assert runs == {6: b"a" * 64 + b"c" * 32}
    assert cache.bytes == 96
    cache.extend(runs, 7, 0, b"e" * 960)  # past the limit: the cache starts over
    assert cache.bytes == 0
    assert cache.runs(("db", "estate", "created")) == {}


def test_a_missing_node_is_a_storage_error(log: SyntheticLog) -> None:
    log.grow(100)
    with log.service.reader(log.id) as r:
        with pytest.raises(StorageError):
            r.view.read_hashes([(0, 3), (0, 100)])
        with pytest.raises(StorageError):
            r.view.read_hashes([(7, 0)])  # a cached level: leaves 0..127 are not all stored
        assert r.view.read_hashes([(0, 3), (6, 0)]) == log.reference.read_hashes([(0, 3), (6, 0)])


def _tree_hashes(log: SyntheticLog) -> list[tuple[Any, ...]]:
    with log.service.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT level, idx, hash FROM tree_hashes WHERE estate_id = :e"), {"e": log.id}
        )
        return sorted(tuple(row) for row in rows)


def _table_sql(log: SyntheticLog) -> str:
    with log.service.engine.connect() as conn:
        return str(conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'tree_hashes'")))


def test_migration_0008_keeps_the_rows_and_the_triggers(log: SyntheticLog) -> None:
    log.grow(300)
    before = _tree_hashes(log)
    sqlite = log.service.engine.dialect.name == "sqlite"
    if sqlite:
        assert "WITHOUT ROWID" in _table_sql(log)
    log.service.engine.dispose()
    command.downgrade(alembic_config(log.service.url), "0007")
    if sqlite:
        assert "WITHOUT ROWID" not in _table_sql(log)
    assert _tree_hashes(log) == before
    migrate(log.service.url)
    if sqlite:
        assert "WITHOUT ROWID" in _table_sql(log)
    assert _tree_hashes(log) == before
    for statement in (
        "UPDATE tree_hashes SET hash = hash WHERE estate_id = :e",
        "DELETE FROM tree_hashes WHERE estate_id = :e",
    ):
        with pytest.raises(DBAPIError, match="append-only"), log.service.session() as s:
            s.execute(text(statement), {"e": log.id})
    check_proofs(log, [300, 129], random.Random(3))
