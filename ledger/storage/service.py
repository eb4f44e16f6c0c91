"""The ledger as one object for the edges (CLI, HTTP): engine, key store, blobs, appends.

Each method runs one database transaction and commits it; the core and the
repositories below never commit on their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger.errors import MissingVoucher, NotFound
from ledger.storage.appender import Appended, Appender, Clock, SignedPayload, create_estate, utcnow
from ledger.storage.blobs import BlobStore, FilesystemBlobStore
from ledger.storage.db import make_engine, migrate, session_factory
from ledger.storage.keyfiles import LogKeyStore
from ledger.storage.models import EstateRow, HouseholdSaltRow
from ledger.storage.reader import LogReader


class LedgerService:
    def __init__(
        self,
        url: str,
        data_dir: Path,
        origin_host: str,
        *,
        engine: Engine | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.url = url
        self.data_dir = Path(data_dir)
        self.origin_host = origin_host
        self.engine = engine or make_engine(url)
        self.sessions = session_factory(self.engine)
        self.log_keys = LogKeyStore(self.data_dir)
        self.voucher_root = self.data_dir / "vouchers"
        self.clock = clock

    def blobs_for(self, estate: str) -> BlobStore:
        """The voucher store of one estate (nothing crosses estates, redaction included)."""
        return FilesystemBlobStore(self.voucher_root / estate)

    def _check_vouchers(self, estate: str, items: Sequence[SignedPayload]) -> None:
        store = self.blobs_for(estate)
        for i, item in enumerate(items):
            for v in item.payload.vouchers:
                if not store.exists(v.sha256):
                    raise MissingVoucher(
                        f"voucher {v.sha256} ({v.name}) has not been uploaded; "
                        "PUT it to /vouchers/{sha256} first",
                        field="payload.vouchers",
                        index=i,
                    )

    def migrate(self) -> None:
        migrate(self.url)

    def origin(self, estate: str) -> str:
        return f"{self.origin_host}/estates/{estate}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def create_estate(self, genesis: SignedPayload) -> Appended:
        estate = genesis.payload.estate
        self._check_vouchers(estate, [genesis])
        signer = self.log_keys.create(estate, self.origin(estate))
        with self.session() as s:
            return create_estate(s, genesis, signer, self.clock)

    def append(
        self,
        estate: str,
        items: Sequence[SignedPayload],
        salts: Sequence[tuple[str, bytes, str]] = (),
    ) -> list[Appended]:
        """Append atomically; ``salts`` are (commitment, salt, unit) rows stored alongside."""
        with self.session() as s:
            row = s.get(EstateRow, estate)
            if row is None:
                raise NotFound(f"estate {estate!r} does not exist", field="estate")
            signer = self.log_keys.load(estate, row.origin)
            self._check_vouchers(estate, items)
            out = Appender(s, estate, signer, self.clock).append(items)
            for commitment, salt, unit in salts:
                s.merge(
                    HouseholdSaltRow(
                        estate_id=estate, commitment=commitment, salt=salt, unit_id=unit
                    )
                )
            return out

    @contextmanager
    def reader(self, estate: str) -> Iterator[LogReader]:
        with self.session() as s:
            yield LogReader(s, estate)

    def redaction(self, session: Session, estate: str, sha256: str) -> tuple[int, str] | None:
        """(seq, reason) of the entry that withdrew this voucher's bytes, if any."""
        return None

    def estates(self) -> list[EstateRow]:
        with self.session() as s:
            return list(s.scalars(select(EstateRow).order_by(EstateRow.id)))
