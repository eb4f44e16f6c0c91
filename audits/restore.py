"""Restoring an estate from an exported bundle into a database that does not hold it.

``trustledger import --bundle PATH`` replays the bundle through the append path:
every entry is validated again (signatures under the keys valid at its seq, the
policy, double entry …) and must come out byte for byte as the bundle's leaf (its
``recorded_at`` is replayed too); the bundle's own signed checkpoints are stored at
their sizes after checking each one's root and signature, and its log keys with
their hand-over notes; vouchers and published statements are copied. One
transaction: a bundle that fails anywhere leaves nothing behind.

What a bundle does not carry and a restore cannot make up: the log key's private
half (restore ``DATA_DIR/logkeys/`` from its own backup first, or the log cannot
sign new checkpoints) and the household salts (personal data, kept out of bundles;
receipt codes printed before cannot be checked against a restored log).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from audits.sources import AuditSource, LogKey
from ledger.canonical import b64encode
from ledger.checkpoint import parse_checkpoint, verify_checkpoint
from ledger.entry import Entry, parse_leaf, parse_recorded_at
from ledger.errors import LedgerError, NotFound, StorageError
from ledger.note import parse_note
from ledger.payload import GenesisBody
from ledger.statement import document_sha256, verify_statement
from ledger.storage.appender import Appender, SignedPayload, lock_estate
from ledger.storage.logkeys import LogKey as StoredKey
from ledger.storage.logkeys import key_for_size
from ledger.storage.models import EstateRow, LogKeyRow, StatementRow
from ledger.storage.service import LedgerService


class RestoreError(LedgerError):
    """The bundle cannot be restored as it is (nothing was written)."""

    code = "log-state"


@dataclass(frozen=True)
class Restored:
    estate: str
    size: int
    root: str
    checkpoints: int
    vouchers: int
    statements: int


def _batches(source: AuditSource, estate: str, sizes: list[int]) -> Iterator[list[bytes]]:
    """The leaves in batches that end at each checkpoint size."""
    bounds = iter(sizes)
    end = next(bounds, None)
    batch: list[bytes] = []
    expected = 0
    for leaves in source.leaf_batches(estate):
        for seq, leaf in leaves:
            if seq != expected:
                raise RestoreError(f"the bundle's leaf {expected} is missing (found {seq})")
            expected += 1
            batch.append(leaf)
            if expected == end:
                yield batch
                batch = []
                end = next(bounds, None)
    if batch or end is not None:
        raise RestoreError(f"the bundle's {expected} leaves do not end at its latest checkpoint")


def restore_estate(svc: LedgerService, source: AuditSource, estate: str) -> Restored:
    keys: list[LogKey] = source.log_keys(estate)
    if not keys:
        raise RestoreError("the bundle names no log key")
    notes = {cp.size: cp.note for cp in source.checkpoints(estate)}
    sizes = sorted(notes)
    if not sizes:
        raise RestoreError("the bundle holds no checkpoint")
    origin = keys[-1].vkey.split("+", 1)[0]
    if origin != svc.origin(estate):
        raise RestoreError(
            f"the bundle's log is {origin!r}; this service names it {svc.origin(estate)!r} "
            "(set TRUSTLEDGER_LOG_ORIGIN_HOST to the original host)"
        )
    try:
        signer = svc.log_keys.load(estate, origin, keys[-1].vkey)
    except (NotFound, StorageError, OSError) as e:
        raise RestoreError(
            f"the estate's current log key is not in {svc.log_keys.dir}: restore the "
            f"log-key backup first ({e})"
        ) from None
    except LedgerError as e:
        raise RestoreError(f"log key: {e}") from None

    stored_keys = [StoredKey(k.vkey, k.from_size, k.handover) for k in keys]

    def note_for(size: int, root: bytes) -> str:
        note = notes.get(size)
        if note is None:
            raise RestoreError(f"no checkpoint of size {size} in the bundle")
        cp = verify_checkpoint(note, key_for_size(stored_keys, size).vkey, origin)
        if cp.size != size or cp.root != root:
            raise RestoreError(f"the bundle's checkpoint {size} does not sign the leaves' root")
        return note

    vouchers = statements = 0
    with svc.session() as s:
        if s.get(EstateRow, estate) is not None:
            raise RestoreError(f"estate {estate} already exists in this database")
        for n, batch in enumerate(_batches(source, estate, sizes)):
            entries = [parse_leaf(leaf) for leaf in batch]
            if n == 0:
                genesis = entries[0].payload
                if not isinstance(genesis.body, GenesisBody) or genesis.estate != estate:
                    raise RestoreError("the bundle's first entry is not this estate's genesis")
                s.add(
                    EstateRow(
                        id=estate,
                        name=genesis.body.name,
                        origin=origin,
                        vkey=signer.vkey,
                        policy="",
                        size=0,
                        created_at=entries[0].recorded_at,
                    )
                )
                s.add_all(
                    LogKeyRow(
                        estate_id=estate,
                        from_size=k.from_size,
                        vkey=k.vkey,
                        handover_note=k.handover,
                    )
                    for k in keys
                )
                s.flush()
            vouchers += _copy_vouchers(svc, source, estate, entries)
            times = iter([parse_recorded_at(e.recorded_at) for e in entries])
            row = lock_estate(s, estate)

            def clock(times: Iterator[dt.datetime] = times) -> dt.datetime:
                return next(times)

            appender = Appender(s, estate, signer, clock, note_for)
            items = [SignedPayload(e.payload, e.signatures) for e in entries]
            for original, done in zip(batch, appender.append(items, locked=row), strict=True):
                if not done.created or done.leaf != original:
                    raise RestoreError(
                        f"entry {done.entry.seq} does not come out as the bundle's leaf"
                    )
        for document in source.statements(estate):
            signed = json.loads(document)
            verified = verify_statement(signed, [k.vkey for k in keys])
            s.add(
                StatementRow(
                    estate_id=estate,
                    period=verified.period.text,
                    number=verified.statement["number"],
                    size=verified.size,
                    root=verified.root,
                    sha256=document_sha256(signed),
                    issued_at=verified.statement["issued_at"],
                    document=document,
                )
            )
            statements += 1
    root = b64encode(_root_of(notes[sizes[-1]]))
    return Restored(estate, sizes[-1], root, len(sizes), vouchers, statements)


def _root_of(note: str) -> bytes:
    return parse_checkpoint(parse_note(note).text).root


def _copy_vouchers(
    svc: LedgerService, source: AuditSource, estate: str, entries: list[Entry]
) -> int:
    store = svc.blobs_for(estate)
    copied = 0
    for entry in entries:
        for v in entry.payload.vouchers:
            if store.exists(v.sha256):
                continue
            found = source.voucher(estate, v.sha256)
            if found.status == "present" and found.data is not None:
                if hashlib.sha256(found.data).hexdigest() != v.sha256:
                    raise RestoreError(f"voucher {v.sha256} in the bundle has other bytes")
                store.put(v.sha256, found.data)
                copied += 1
    return copied
