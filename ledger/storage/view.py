"""The database-backed :class:`~ledger.validate.LedgerView` and :class:`~ledger.merkle.HashReader`.

One :class:`DbView` reads one estate inside the caller's session. Entries being
appended in the same transaction are kept in small overlays (keys, accounts,
postings, reversals, voucher references, redactions) so that a batch validates
each entry against the ones before it without flushing after every entry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import (
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

from ledger.merkle import NodeIndex
from ledger.payload import Posting
from ledger.policy import Policy, parse_policy
from ledger.storage.models import (
    AccountRow,
    EntryRow,
    KeyRow,
    PostingRow,
    RedactionRow,
    ReversalRow,
    VoucherRefRow,
)
from ledger.storage.nodes import log_key, read_nodes
from ledger.validate import AccountRecord, Effects, KeyRecord

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


class EstateState(Protocol):
    """What a view and an append read of the locked estate row (an ORM ``EstateRow`` or
    the appender's plain copy)."""

    id: str
    origin: str
    vkey: str
    policy: str
    size: int
    created_at: str


@functools.lru_cache(maxsize=64)
def _policy_from_json(text: str) -> Policy:
    """The estate row's policy, parsed once per distinct text (a Policy is immutable)."""
    return parse_policy(json.loads(text))


class Offline(Exception):
    """An offline view (:meth:`DbView.offline`) was asked what only the database knows."""


class DbView:
    def __init__(self, session: Session | None, row: EstateState) -> None:
        self._session = session
        self.estate = row.id
        self.size = row.size
        self._policy = _policy_from_json(row.policy) if row.policy else None
        self._keys: dict[str, KeyRecord | None] = {}
        self._accounts: dict[str, AccountRecord | None] = {}
        self._postings: dict[int, tuple[Posting, ...]] = {}
        self._reversals: dict[int, int] = {}
        self._voucher_refs: set[str] = set()
        self._redactions: dict[str, int] = {}
        self._created_at = row.created_at
        self._committed_size = row.size  # before this transaction's appends, if any
        self.assumed_unredacted: set[str] = set()  # offline: vouchers taken as not redacted

    @classmethod
    def offline(
        cls,
        row: EstateState,
        keys: Mapping[str, KeyRecord | None],
        accounts: Mapping[str, AccountRecord | None],
    ) -> DbView:
        """A view of the log at ``row`` that reads nothing: it knows these keys and
        accounts (``None``: absent); any other question raises :class:`Offline`, except
        whether a voucher was redacted, taken as not (:attr:`assumed_unredacted`, for the
        caller to check)."""
        view = cls(None, row)
        view.known(keys, accounts)
        return view

    @property
    def session(self) -> Session:
        if self._session is None:
            raise Offline("this view reads nothing")
        return self._session

    def known(
        self, keys: Mapping[str, KeyRecord | None], accounts: Mapping[str, AccountRecord | None]
    ) -> None:
        """Add keys and accounts known at this log's size (those already here stay)."""
        for k, key in keys.items():
            self._keys.setdefault(k, key)
        for n, account in accounts.items():
            self._accounts.setdefault(n, account)

    def registry(self) -> tuple[dict[str, KeyRecord | None], dict[str, AccountRecord | None]]:
        """Copies of the keys and accounts this view knows (``None``: absent), with the
        effects applied so far."""
        return dict(self._keys), dict(self._accounts)

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
        rows = self.session.execute(
            _KEYS_AND_ACCOUNTS,
            {"estate": self.estate, "keys": keys or [""], "names": names or [""]},
        )
        self.prefetched(keys, names, rows)

    def prefetched(
        self, keys: Iterable[str], names: Iterable[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Remember keys and accounts read by the caller: ``rows`` of (``"k"`` or ``"a"``,
        name, public key, role or type, holder or display name, added, removed) for the
        asked ``keys`` and ``names``; the ones without a row are absent."""
        for k in keys:
            self._keys.setdefault(k, None)
        for n in names:
            self._accounts.setdefault(n, None)
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
        if redacted is None and self._session is None:
            # Offline: "referenced" only within the batch (a refusal sends the batch
            # to the database anyway); "not redacted" is checked by the caller.
            self.assumed_unredacted.add(sha256)
            return sha256 in self._voucher_refs, None
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
        """All requested stored hashes in one statement (the tlog ``HashReader`` shape).

        Consecutive nodes of a level are read as one range; nodes of the upper levels
        come from this process's cache of the log (see :mod:`ledger.storage.nodes`).
        """
        if not indexes:
            return []
        log = log_key(self.session, self.estate, self._created_at)
        return read_nodes(self.session, log, self._committed_size, indexes)

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
