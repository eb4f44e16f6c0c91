"""The database-backed :class:`~ledger.validate.LedgerView` and :class:`~ledger.merkle.HashReader`.

One :class:`DbView` reads one estate inside the caller's session. Entries being
appended in the same transaction are kept in small overlays (keys, accounts,
postings, reversals, voucher references, redactions) so that a batch validates
each entry against the ones before it without flushing after every entry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    Executable,
    LargeBinary,
    String,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from ledger.errors import StorageError
from ledger.merkle import NodeIndex
from ledger.payload import Posting
from ledger.policy import Policy, parse_policy
from ledger.storage.models import (
    AccountRow,
    EntryRow,
    EstateRow,
    KeyRow,
    PostingRow,
    RedactionRow,
    ReversalRow,
    TreeHashRow,
    VoucherRefRow,
)
from ledger.validate import AccountRecord, Effects, KeyRecord

_COMPOUND_LIMIT = 400  # SQLite allows at most 500 terms in one compound SELECT
CACHED_LEVEL = 6
"""Stored nodes at this level and above are kept in memory once read: a node over
2^6 leaves or more never changes once stored (the log is append-only), and there
are at most size / 64 of them per estate (≈ 2.5 MB for a million entries), while every
proof of a large log reads only its lowest six nodes from the database."""
_NODE_CACHE_LIMIT = 500_000
_node_cache: dict[tuple[object, NodeIndex], bytes] = {}
_KEY = select(
    KeyRow.key_id,
    KeyRow.public_key,
    KeyRow.role,
    KeyRow.holder,
    KeyRow.added_seq,
    KeyRow.revoked_seq,
).where(KeyRow.estate_id == bindparam("estate"), KeyRow.key_id == bindparam("key"))
_ACCOUNT = select(
    AccountRow.name,
    AccountRow.type,
    AccountRow.display_name,
    AccountRow.opened_seq,
    AccountRow.closed_seq,
).where(AccountRow.estate_id == bindparam("estate"), AccountRow.name == bindparam("name"))


_KEYS_AND_ACCOUNTS = union_all(
    select(
        literal("k", String(1)),
        KeyRow.key_id,
        KeyRow.public_key,
        KeyRow.role,
        KeyRow.holder,
        KeyRow.added_seq,
        KeyRow.revoked_seq,
    ).where(
        KeyRow.estate_id == bindparam("estate"),
        KeyRow.key_id.in_(bindparam("keys", expanding=True)),
    ),
    select(
        literal("a", String(1)),
        AccountRow.name,
        cast(null(), LargeBinary),
        AccountRow.type,
        AccountRow.display_name,
        AccountRow.opened_seq,
        AccountRow.closed_seq,
    ).where(
        AccountRow.estate_id == bindparam("estate"),
        AccountRow.name.in_(bindparam("names", expanding=True)),
    ),
)


@functools.lru_cache(maxsize=_COMPOUND_LIMIT)
def _hash_lookup(n: int) -> Executable:
    """``n`` primary-key lookups of tree hashes joined by UNION ALL, built once per ``n``."""
    parts = [
        select(TreeHashRow.level, TreeHashRow.idx, TreeHashRow.hash).where(
            TreeHashRow.estate_id == bindparam("estate"),
            TreeHashRow.level == bindparam(f"l{i}"),
            TreeHashRow.idx == bindparam(f"i{i}"),
        )
        for i in range(n)
    ]
    return parts[0] if n == 1 else union_all(*parts)


class DbView:
    def __init__(self, session: Session, row: EstateRow) -> None:
        self.session = session
        self.estate = row.id
        self.size = row.size
        self._policy = parse_policy(json.loads(row.policy)) if row.policy else None
        self._keys: dict[str, KeyRecord | None] = {}
        self._accounts: dict[str, AccountRecord | None] = {}
        self._postings: dict[int, tuple[Posting, ...]] = {}
        self._reversals: dict[int, int] = {}
        self._voucher_refs: set[str] = set()
        self._redactions: dict[str, int] = {}
        self._created_at = row.created_at

    def policy(self) -> Policy:
        assert self._policy is not None, "estate without genesis"
        return self._policy

    def prefetch(self, key_ids: Iterable[str], accounts: Iterable[str]) -> None:
        """Read these keys and accounts in one query (a batch's validation asks for them
        one by one; unknown ones are remembered as absent)."""
        keys = sorted(set(key_ids) - set(self._keys))
        names = sorted(set(accounts) - set(self._accounts))
        if not keys and not names:
            return
        for k in keys:
            self._keys[k] = None
        for n in names:
            self._accounts[n] = None
        rows = self.session.execute(
            _KEYS_AND_ACCOUNTS,
            {"estate": self.estate, "keys": keys or [""], "names": names or [""]},
        )
        for kind, name, public_key, role, holder, added, removed in rows:
            if kind == "k":
                self._keys[name] = KeyRecord(name, public_key, role, holder, added, removed)
            else:
                self._accounts[name] = AccountRecord(name, role, holder, added, removed)

    def key(self, key_id: str) -> KeyRecord | None:
        if key_id not in self._keys:
            r = self.session.execute(_KEY, {"estate": self.estate, "key": key_id}).first()
            self._keys[key_id] = None if r is None else KeyRecord(*r)
        return self._keys[key_id]

    def account(self, name: str) -> AccountRecord | None:
        if name not in self._accounts:
            r = self.session.execute(_ACCOUNT, {"estate": self.estate, "name": name}).first()
            self._accounts[name] = None if r is None else AccountRecord(*r)
        return self._accounts[name]

    def transaction_postings(self, seq: int) -> tuple[Posting, ...] | None:
        if seq in self._postings:
            return self._postings[seq]
        kind = self.session.scalar(
            select(EntryRow.kind).where(EntryRow.estate_id == self.estate, EntryRow.seq == seq)
        )
        if kind != "transaction":
            return None
        rows = self.session.execute(
            select(PostingRow.account, PostingRow.amount)
            .where(PostingRow.estate_id == self.estate, PostingRow.seq == seq)
            .order_by(PostingRow.line)
        )
        return tuple(Posting(a, n) for a, n in rows)

    def reversed_by(self, seq: int) -> int | None:
        if seq in self._reversals:
            return self._reversals[seq]
        return self.session.scalar(
            select(ReversalRow.reversal_seq).where(
                ReversalRow.estate_id == self.estate, ReversalRow.target_seq == seq
            )
        )

    def voucher_state(self, sha256: str) -> tuple[bool, int | None]:
        redacted = self._redactions.get(sha256)
        if redacted is None:
            redacted = self.session.scalar(
                select(RedactionRow.seq).where(
                    RedactionRow.estate_id == self.estate, RedactionRow.sha256 == sha256
                )
            )
        referenced = sha256 in self._voucher_refs or (
            self.session.scalar(
                select(VoucherRefRow.seq)
                .where(VoucherRefRow.estate_id == self.estate, VoucherRefRow.sha256 == sha256)
                .limit(1)
            )
            is not None
        )
        return referenced, redacted

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        """All requested stored hashes in one round trip (the tlog ``HashReader`` shape).

        One primary-key lookup per node, joined with UNION ALL: SQLite plans a row-value
        ``IN`` (and an OR of equalities) as a scan of the estate's whole tree, which
        grows with the log; single-row lookups stay O(log n) on both engines.
        """
        if not indexes:
            return []
        # The cache's key for this log: this database, this estate, created then.
        log = (str(self.session.get_bind().engine.url), self.estate, self._created_at)
        found: dict[NodeIndex, bytes] = {}
        wanted = []
        for index in dict.fromkeys(indexes):
            cached = _node_cache.get((log, index)) if index[0] >= CACHED_LEVEL else None
            if cached is None:
                wanted.append(index)
            else:
                found[index] = cached
        for start in range(0, len(wanted), _COMPOUND_LIMIT):
            chunk = wanted[start : start + _COMPOUND_LIMIT]
            params: dict[str, object] = {"estate": self.estate}
            for i, (level, idx) in enumerate(chunk):
                params[f"l{i}"], params[f"i{i}"] = level, idx
            rows = self.session.execute(_hash_lookup(len(chunk)), params)
            for lv, ix, h in rows:
                found[lv, ix] = h
                if lv >= CACHED_LEVEL:
                    if len(_node_cache) >= _NODE_CACHE_LIMIT:
                        _node_cache.clear()  # rare; refilled from the next proofs
                    _node_cache[log, (lv, ix)] = h
        missing = [i for i in indexes if i not in found]
        if missing:
            raise StorageError(f"tree hashes missing for estate {self.estate}: {missing[:3]}")
        return [found[i] for i in indexes]

    def apply(self, effects: Effects) -> None:
        """Remember an accepted entry of this transaction for the next validations."""
        for k in effects.keys_added:
            self._keys[k.key_id] = k
        if effects.key_revoked is not None:
            old = self.key(effects.key_revoked)
            assert old is not None
            self._keys[old.key_id] = old.revoked_at(effects.seq)
        if effects.account_opened is not None:
            self._accounts[effects.account_opened.name] = effects.account_opened
        if effects.account_closed is not None:
            a = self.account(effects.account_closed)
            assert a is not None
            self._accounts[a.name] = a.closed_at(effects.seq)
        if effects.kind == "transaction":
            self._postings[effects.seq] = effects.postings
        if effects.reverses is not None:
            self._reversals[effects.reverses] = effects.seq
        if effects.policy is not None:
            self._policy = effects.policy
        self._voucher_refs.update(effects.vouchers)
        if effects.redacts is not None:
            self._redactions[effects.redacts[0]] = effects.seq
        self.size = effects.seq + 1
