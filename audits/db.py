"""An :class:`~audits.sources.AuditSource` that reads the database directly.

It bypasses the service (no :class:`~ledger.storage.service.LedgerService`, no
caches, no estate row trusted for anything but comparison) and reads the tables
with plain queries over one connection held in one read transaction (a snapshot on
both engines: SQLite WAL, PostgreSQL ``REPEATABLE READ``), page by page so memory
stays flat. Voucher bytes come from the filesystem blob store under the data
directory. It never writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from audits.findings import Finding
from audits.sources import (
    AccountColumns,
    DerivedRows,
    EstateColumns,
    KeyColumns,
    Leaf,
    LogKey,
    OrderedNodes,
    SourceError,
    StateTables,
    StoredCheckpoint,
    VoucherLookup,
    node_ranges,
)
from ledger.merkle import NodeIndex, prove_consistency
from ledger.storage.blobs import BlobStores, FilesystemBlobStores
from ledger.storage.db import make_engine
from ledger.storage.models import (
    AccountRow,
    CheckpointRow,
    EstateRow,
    KeyRow,
    LogKeyRow,
    PeriodTotalRow,
    RedactionRow,
    ReversalRow,
    StatementRow,
    TreeHashRow,
)

PAGE = 1000
"""Rows per query when streaming leaves and checkpoints."""

# The statements run for every batch of leaves go to the driver as they are (no
# SQLAlchemy expression, no Row objects: at a million entries their cost per row
# was a large part of the audit). ``?`` is the placeholder, rewritten per driver.
_LEAVES = (
    "SELECT seq, leaf, payload_id, kind, date, recorded_at, leaf_hash FROM entries"
    " WHERE estate_id = ? AND seq >= ? ORDER BY seq LIMIT ?"
)
_ENTRIES = (
    "SELECT seq, payload_id, kind, date, recorded_at, leaf_hash FROM entries"
    " WHERE estate_id = ? AND seq >= ? AND seq < ? ORDER BY seq"
)
_POSTINGS = (
    "SELECT seq, line, account, amount, date FROM postings"
    " WHERE estate_id = ? AND seq >= ? AND seq < ? ORDER BY seq, line"
)
_FACTS = (
    "SELECT seq, kind, date, category, counterparty, memo, household, amount, trust_delta,"
    " trust_balance FROM entry_facts WHERE estate_id = ? AND seq >= ? AND seq < ? ORDER BY seq"
)
_VOUCHER_REFS = "SELECT seq, sha256 FROM voucher_refs WHERE estate_id = ? ORDER BY sha256, seq"
_REVERSALS = (
    "SELECT target_seq, reversal_seq FROM reversals"
    " WHERE estate_id = ? AND reversal_seq >= ? AND reversal_seq < ?"
)
_TREE_RANGE = "SELECT level, idx, hash FROM tree_hashes WHERE estate_id = ? AND level = ?"


class DatabaseSource:
    """Reads estates from a database URL (SQLite or PostgreSQL) and a data directory."""

    kind = "database"

    def __init__(
        self,
        url: str,
        data_dir: Path,
        *,
        engine: Engine | None = None,
        blobs: BlobStores | None = None,
    ) -> None:
        self.url = url
        self.data_dir = Path(data_dir)
        self.blobs = blobs or FilesystemBlobStores(self.data_dir / "vouchers")
        self._own_engine = engine is None
        self._refs: tuple[str, dict[int, frozenset[str]]] | None = None
        self._page: tuple[str, int, int, list[tuple[Any, ...]]] | None = None
        try:
            self.engine = engine or make_engine(url)
            self.conn: Connection = self.engine.connect()
            if self.engine.dialect.name == "postgresql":
                self.conn = self.conn.execution_options(isolation_level="REPEATABLE READ")
            self.conn.begin()
            self.conn.execute(select(func.count()).select_from(EstateRow))
            self._driver: Any = self.conn.connection.driver_connection
        except SQLAlchemyError as e:
            self.close()
            raise SourceError(f"database: {str(e).splitlines()[0]}") from e
        self._qmark = self.engine.dialect.paramstyle == "qmark"
        dbapi: Any = self.engine.dialect.dbapi
        self._driver_error: type[Exception] = dbapi.Error

    @property
    def location(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        if self._own_engine and hasattr(self, "engine"):
            self.engine.dispose()

    def _rows(self, stmt: Any) -> Sequence[Any]:
        try:
            return self.conn.execute(stmt).all()
        except SQLAlchemyError as e:
            raise SourceError(f"database: {str(e).splitlines()[0]}") from e

    def _raw(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of one statement run through the driver, in this source's transaction."""
        if not self._qmark:
            sql = sql.replace("?", "%s")
        try:
            cursor = self._driver.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchall()  # type: ignore[no-any-return]
            finally:
                cursor.close()
        except self._driver_error as e:
            name = f"{type(e).__module__}.{type(e).__name__}"
            raise SourceError(f"database: ({name}) {str(e).splitlines()[0]}") from e

    def estates(self) -> list[str]:
        return [r[0] for r in self._rows(select(EstateRow.id).order_by(EstateRow.id))]

    def _estate(self, estate: str) -> Any:
        rows = self._rows(select(EstateRow).where(EstateRow.id == estate))
        if not rows:
            raise SourceError(f"estate {estate!r} is not in the database")
        return rows[0]

    def size_hint(self, estate: str) -> int | None:
        return int(self._estate(estate).size)

    def log_keys(self, estate: str) -> list[LogKey]:
        rows = self._rows(
            select(LogKeyRow.from_size, LogKeyRow.vkey, LogKeyRow.handover_note)
            .where(LogKeyRow.estate_id == estate)
            .order_by(LogKeyRow.from_size)
        )
        if rows:
            return [LogKey(int(s), v, h) for s, v, h in rows]
        return [LogKey(0, self._estate(estate).vkey)]  # estates made before log_keys existed

    def leaf_batches(self, estate: str) -> Iterator[list[Leaf]]:
        start = 0
        while True:
            rows = self._raw(_LEAVES, (estate, start, PAGE))
            if not rows:
                return
            end = int(rows[-1][0]) + 1
            # The page's ``entries`` columns, for derived_rows of the same seqs (asked next).
            self._page = (estate, int(rows[0][0]), end, [(r[0], *r[2:]) for r in rows])
            yield [(int(r[0]), bytes(r[1])) for r in rows]
            start = end

    def checkpoints(self, estate: str) -> Iterator[StoredCheckpoint]:
        start = -1
        while True:
            rows = self._rows(
                select(
                    CheckpointRow.size,
                    CheckpointRow.note,
                    CheckpointRow.root,
                    CheckpointRow.signed_at,
                )
                .where(CheckpointRow.estate_id == estate, CheckpointRow.size > start)
                .order_by(CheckpointRow.size)
                .limit(PAGE)
            )
            yield from (StoredCheckpoint(int(s), n, bytes(r), t) for s, n, r, t in rows)
            if len(rows) < PAGE:
                return
            start = int(rows[-1][0])

    def tree_hashes(self, estate: str, start: int, end: int) -> Mapping[NodeIndex, bytes]:
        """One range per level, ``UNION ALL``: each part is a primary-key range scan
        (an ``OR`` of ranges makes SQLite scan every hash of the estate)."""
        ranges = node_ranges(start, end)
        if not ranges:
            return {}
        sql = " UNION ALL ".join(f"{_TREE_RANGE} AND idx >= ? AND idx <= ?" for _ in ranges)
        params = [p for level, lo, hi in ranges for p in (estate, level, lo, hi)]
        return OrderedNodes(self._raw(sql + " ORDER BY 1, 2", params))

    def derived_rows(self, estate: str, start: int, end: int) -> DerivedRows:
        span = (estate, start, end)
        page, self._page = self._page, None
        read = page is not None and page[:3] == span
        return DerivedRows(
            entry_rows=page[3] if page is not None and read else self._raw(_ENTRIES, span),
            posting_rows=self._raw(_POSTINGS, span),
            fact_rows=self._raw(_FACTS, span),
            voucher_rows=self._voucher_refs(estate, start, end),
            reversal_rows=self._raw(_REVERSALS, span),
        )

    def _voucher_refs(self, estate: str, start: int, end: int) -> list[tuple[int, str]]:
        """The ``voucher_refs`` rows of ``[start, end)``, by seq and hash.

        The table's key is (estate, sha256, seq): no index serves a range of seqs, so
        the estate's rows are read once, in key order, and kept by seq (they are as
        many as the log's voucher references, usually far fewer than its entries).
        """
        if self._refs is None or self._refs[0] != estate:
            by_seq: defaultdict[int, set[str]] = defaultdict(set)
            for seq, sha in self._raw(_VOUCHER_REFS, (estate,)):
                by_seq[int(seq)].add(sha)
            self._refs = (estate, {s: frozenset(v) for s, v in by_seq.items()})
        refs = self._refs[1]
        if end - start > len(refs):
            seqs = sorted(s for s in refs if start <= s < end)
        else:
            seqs = [s for s in range(start, end) if s in refs]
        return [(s, sha) for s in seqs for sha in sorted(refs[s])]

    def state_tables(self, estate: str) -> StateTables:
        row = self._estate(estate)
        keys = self._rows(select(KeyRow).where(KeyRow.estate_id == estate))
        accounts = self._rows(select(AccountRow).where(AccountRow.estate_id == estate))
        reversals = self._rows(
            select(ReversalRow.target_seq, ReversalRow.reversal_seq).where(
                ReversalRow.estate_id == estate
            )
        )
        redactions = self._rows(
            select(RedactionRow.sha256, RedactionRow.seq).where(RedactionRow.estate_id == estate)
        )
        t = PeriodTotalRow
        totals = self._rows(
            select(
                t.dim,
                t.name,
                t.span,
                t.period,
                t.entries,
                t.trust_delta,
                t.income,
                t.spending,
                t.amount,
            ).where(t.estate_id == estate)
        )
        return StateTables(
            estate=EstateColumns(int(row.size), row.origin, row.vkey, row.policy),
            keys=tuple(
                KeyColumns(
                    k.key_id, bytes(k.public_key), k.role, k.holder, k.added_seq, k.revoked_seq
                )
                for k in keys
            ),
            accounts=tuple(
                AccountColumns(a.name, a.type, a.display_name, a.opened_seq, a.closed_seq)
                for a in accounts
            ),
            reversals={int(t): int(r) for t, r in reversals},
            redactions={s: int(q) for s, q in redactions},
            period_totals={tuple(r[:4]): tuple(int(x) for x in r[4:]) for r in totals},
        )

    def consistency_proof(self, estate: str, old_size: int, new_size: int) -> list[bytes] | None:
        """A proof from the *stored* tree hashes (what the server would serve)."""
        if old_size <= 0 or old_size > new_size:
            return None
        reader = _Reader(self, estate)
        try:
            return prove_consistency(old_size, new_size, reader)
        except LookupError:
            return None

    def voucher(self, estate: str, sha256: str) -> VoucherLookup:
        redacted = self._rows(
            select(RedactionRow.seq).where(
                RedactionRow.estate_id == estate, RedactionRow.sha256 == sha256
            )
        )
        if redacted:
            return VoucherLookup("redacted")
        try:
            data = self.blobs(estate).get(sha256)
        except OSError as e:
            raise SourceError(f"voucher {sha256} of {estate}: {e}") from e
        return VoucherLookup("missing") if data is None else VoucherLookup("present", data)

    def statements(self, estate: str) -> list[bytes]:
        rows = self._rows(
            select(StatementRow.document)
            .where(StatementRow.estate_id == estate)
            .order_by(StatementRow.period, StatementRow.number)
        )
        return [bytes(r[0]) for r in rows]

    def anomalies(self, estate: str) -> list[Finding]:
        return []


class _Reader:
    """A :class:`~ledger.merkle.HashReader` over the stored tree hashes of one estate."""

    def __init__(self, source: DatabaseSource, estate: str) -> None:
        self.source, self.estate = source, estate

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        t = TreeHashRow
        points = [
            select(t.level, t.idx, t.hash).where(
                t.estate_id == self.estate, t.level == level, t.idx == index
            )
            for level, index in dict.fromkeys(indexes)
        ]
        rows = self.source._rows(union_all(*points)) if points else []
        found = {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows}
        missing = [i for i in indexes if i not in found]
        if missing:
            raise LookupError(f"stored tree hashes missing: {missing[:3]}")
        return [found[i] for i in indexes]
