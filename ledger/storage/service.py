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

from ledger.errors import NotFound
from ledger.storage.appender import Appended, Appender, Clock, SignedPayload, create_estate, utcnow
from ledger.storage.blobs import FilesystemBlobStore
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
        self.blobs = FilesystemBlobStore(self.data_dir / "vouchers")
        self.clock = clock

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

    def estates(self) -> list[EstateRow]:
        with self.session() as s:
            return list(s.scalars(select(EstateRow).order_by(EstateRow.id)))
