"""Reading stored tree hashes: ranges in one statement, the upper levels from memory.

:func:`read_nodes` answers a :class:`~ledger.merkle.HashReader` request for one log.
Consecutive nodes of a level (a proof's tile, see :func:`ledger.merkle.prove_inclusion`)
are read as one ``level = ? AND idx BETWEEN ? AND ?`` range, any other node as a
one-node range, all ranges joined with UNION ALL into one statement sent on the
session's own DBAPI connection (:class:`~ledger.storage.rawsql.RawConnection`:
through SQLAlchemy the statement's Python overhead exceeds its run time).

Nodes of level :data:`CACHED_LEVEL` and above are kept in this process once read: a
stored node never changes (the log is append-only, and triggers refuse UPDATE and
DELETE), and there are fewer than ``size / 2**(CACHED_LEVEL - 1)`` of them per log.
They are read and kept in aligned runs of :data:`RUN` nodes of a level, so the cache
of a running server is full after a few thousand proofs and a proof then reads
only its lowest levels. Only nodes inside the tree the caller's transaction saw
committed are cached (nodes written by a transaction that may yet roll back are not).

What it does not do: no tree math (that is :mod:`ledger.merkle`), no writes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import cast
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session, SessionTransaction

from ledger.errors import StorageError
from ledger.merkle import NodeIndex
from ledger.storage.db import database_name
from ledger.storage.rawsql import RawConnection

CACHED_LEVEL = 6
"""Stored nodes at this level and above are kept in memory once read."""

TILE_HEIGHT = 3
"""Height of the tiles an inclusion proof reads below :data:`CACHED_LEVEL`: two tiles
of 8 consecutive nodes (levels 0 and 3), two short ranges instead of six lookups."""

RUN_BITS = 5
RUN = 1 << RUN_BITS
"""Cached levels are read and kept in aligned runs of 32 nodes of a level: after 2,000
random proofs at 1,000,000 entries 98 % of the level-6 runs are cached, while a proof
on a cold cache reads at most 32 rows per cached level it needs."""

CACHE_LIMIT = 64 << 20
"""Bytes of cached hashes for all logs (32 per node: 1 MiB holds the cached levels of
a log of about a million entries); the cache is emptied when it would grow past it."""

_COMPOUND_LIMIT = 400  # SQLite allows at most 500 terms in one compound SELECT
_RANGE = (
    "SELECT level, idx, hash FROM tree_hashes"
    " WHERE estate_id = ? AND level = ? AND idx BETWEEN ? AND ?"
)

LogKey = tuple[str, str, str]
"""(database URL, estate id, estate creation time): one log, even across engines."""


class NodeCache:
    """Cached stored nodes, per log: for each aligned run of :data:`RUN` nodes of a
    level, the concatenated hashes of its first nodes (a prefix that grows as the tree
    does: the end of the tree cuts the last run of each level). A run's key is
    ``run number << 6 | level`` (levels are below 64)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self._logs: dict[LogKey, dict[int, bytes]] = {}
        self._lock = threading.Lock()

    def runs(self, log: LogKey) -> dict[int, bytes]:
        """The runs of one log, by key."""
        runs = self._logs.get(log)
        if runs is None:
            runs = self._logs[log] = {}
        return runs

    def extend(self, runs: dict[int, bytes], key: int, start: int, hashes: bytes) -> None:
        """Append ``hashes``, the run's nodes from its ``start``-th, to the cached prefix
        of run ``key`` (unless another thread extended it meanwhile)."""
        with self._lock:
            if self.bytes + len(hashes) > self.limit:
                self.clear()  # rare: refilled by the next reads
                return
            old = runs.get(key, b"")
            if len(old) == start << 5:
                runs[key] = old + hashes
                self.bytes += len(hashes)

    def clear(self) -> None:
        for runs in self._logs.values():
            runs.clear()
        self._logs.clear()
        self.bytes = 0


_node_cache = NodeCache(CACHE_LIMIT)
_connections: WeakKeyDictionary[SessionTransaction, RawConnection] = WeakKeyDictionary()


def log_key(session: Session, estate: str, created_at: str) -> LogKey:
    return (database_name(session.get_bind().engine), estate, created_at)


@functools.lru_cache(maxsize=_COMPOUND_LIMIT)
def _ranges_sql(n: int) -> str:
    return " UNION ALL ".join([_RANGE] * n)


def read_nodes(
    session: Session, log: LogKey, committed: int, indexes: Sequence[NodeIndex]
) -> list[bytes]:
    """The stored hash of each node in ``indexes``, in order, in at most one statement.

    ``committed``: the size of the log the caller's transaction saw committed (nodes
    inside it are cached). Raises :class:`StorageError` when a node is not stored.
    """
    runs = _node_cache.runs(log)
    out: list[bytes | None] = []
    holes: list[int] = []  # positions in ``out`` to fill from the database
    ranges: list[list[int]] = []  # [level, first, last] to read
    pending: dict[int, tuple[int, int, int]] = {}  # run key -> (level, first, last) to cache
    last: list[int] | None = None
    for level, index in indexes:
        if level >= CACHED_LEVEL:
            key = (index >> RUN_BITS) << 6 | level
            run = runs.get(key)
            offset = (index & (RUN - 1)) << 5
            if run is not None and offset < len(run):
                out.append(run[offset : offset + 32])
                continue
            end = committed >> level  # complete nodes of this level in the committed tree
            if index < end:
                if key not in pending:
                    first = (index >> RUN_BITS << RUN_BITS) + (len(run) >> 5 if run else 0)
                    pending[key] = (level, first, min(index | (RUN - 1), end - 1))
                    ranges.append([level, first, pending[key][2]])
                    last = None
                holes.append(len(out))
                out.append(None)
                continue
        holes.append(len(out))
        out.append(None)
        if last is not None and last[0] == level and last[2] + 1 == index:
            last[2] = index
        else:
            last = [level, index, index]
            ranges.append(last)
    if ranges:
        found = _read_ranges(session, log[1], ranges)
        for key, (level, first, end) in pending.items():
            hashes = [found.get((level, i)) for i in range(first, end + 1)]
            if None not in hashes:
                start = first & (RUN - 1)
                _node_cache.extend(runs, key, start, b"".join(cast(list[bytes], hashes)))
        missing = []
        for position in holes:
            h = out[position] = found.get(indexes[position])
            if h is None:
                missing.append(indexes[position])
        if missing:
            raise StorageError(f"tree hashes missing for estate {log[1]}: {missing[:3]}")
    return cast(list[bytes], out)


def _raw(session: Session) -> RawConnection:
    """The session's DBAPI connection, looked up once per transaction (a proof's own
    Python work is a few tens of µs; ``session.connection()`` alone costs 5)."""
    transaction = session.get_transaction()
    raw = None if transaction is None else _connections.get(transaction)
    if raw is None:
        raw = RawConnection(session)  # begins the session's transaction if needed
        transaction = session.get_transaction()
        if transaction is not None:
            _connections[transaction] = raw
    return raw


def _read_ranges(
    session: Session, estate: str, ranges: Sequence[Sequence[int]]
) -> dict[tuple[int, int], bytes]:
    raw = _raw(session)
    found: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(ranges), _COMPOUND_LIMIT):
        chunk = ranges[start : start + _COMPOUND_LIMIT]
        params: list[object] = []
        for level, first, last in chunk:
            params += (estate, level, first, last)
        for level, index, h in raw.rows(_ranges_sql(len(chunk)), params):
            found[level, index] = bytes(h)
    return found
