"""An :class:`~audits.sources.AuditSource` over an exported bundle (a directory or a ``.tar``).

The layout (written by :mod:`audits.export`, explained in the bundle's README):

* ``manifest.json`` — format, estate, origin, size at export (not trusted: hints);
* ``log-keys.json`` — ``[{"from_size", "vkey"}]``;
* ``leaves.jsonl`` — one ``{"seq", "leaf": "<base64 leaf bytes>"}`` per entry, in order;
* ``checkpoints.jsonl`` — one ``{"size", "note"}`` per stored checkpoint, by size;
* ``vouchers/<sha256>`` — voucher bytes (redacted ones are absent).

A tar is read in place through :mod:`tarfile` (nothing is extracted to disk).
The bundle holds no tree hashes and no derived rows: those checks find nothing.
A bundle whose files cannot be read or decoded raises
:class:`~audits.sources.SourceError` (the audit could not run).
"""

from __future__ import annotations

import base64
import binascii
import json
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from audits.findings import Finding
from audits.sources import (
    DerivedRows,
    Leaf,
    LogKey,
    SourceError,
    StateTables,
    StoredCheckpoint,
    VoucherLookup,
)
from ledger.merkle import NodeIndex

FORMAT = "trustledger-bundle/v1"
BATCH = 1000


class _Files:
    """Reads named files of a bundle, from a directory or from a tar (one top directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.prefix = ""
        if path.is_dir():
            return
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - held open while auditing
        except (OSError, tarfile.TarError) as e:
            raise SourceError(f"{path}: not a directory or a readable tar: {e}") from e
        names = [m.name for m in self.tar.getmembers() if m.name.endswith("manifest.json")]
        if len(names) != 1:
            raise SourceError(f"{path}: expected one manifest.json in the tar")
        self.prefix = names[0][: -len("manifest.json")]

    def open(self, name: str) -> IO[bytes] | None:
        if self.tar is None:
            try:
                return (self.path / name).open("rb")
            except FileNotFoundError:
                return None
            except OSError as e:
                raise SourceError(f"{self.path / name}: {e.strerror or e}") from e
        try:
            member = self.tar.getmember(self.prefix + name)
        except KeyError:
            return None
        return self.tar.extractfile(member) if member.isfile() else None

    def read(self, name: str) -> bytes | None:
        f = self.open(name)
        if f is None:
            return None
        with f:
            return f.read()

    def lines(self, name: str) -> Iterator[Any]:
        f = self.open(name)
        if f is None:
            raise SourceError(f"the bundle has no {name}")
        with f:
            for n, line in enumerate(f, 1):
                try:
                    yield json.loads(line)
                except (ValueError, UnicodeDecodeError) as e:
                    raise SourceError(f"{name} line {n} is not JSON: {e}") from e


class BundleSource:
    """One estate's exported bundle."""

    kind = "bundle"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"{path} does not exist")
        self.files = _Files(self.path)
        manifest = self._json("manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SourceError(f"{path}: not a {FORMAT} bundle")
        self.manifest: Mapping[str, Any] = manifest

    def _json(self, name: str) -> Any:
        data = self.files.read(name)
        if data is None:
            raise SourceError(f"the bundle has no {name}")
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise SourceError(f"{name} is not JSON: {e}") from e

    @property
    def location(self) -> str:
        return str(self.path)

    def estates(self) -> list[str]:
        return [str(self.manifest.get("estate", ""))]

    def size_hint(self, estate: str) -> int | None:
        size = self.manifest.get("size")
        return size if isinstance(size, int) else None

    def log_keys(self, estate: str) -> list[LogKey]:
        try:
            return [
                LogKey(int(k["from_size"]), str(k["vkey"]), k.get("handover"))
                for k in self._json("log-keys.json")
            ]
        except (TypeError, KeyError, ValueError) as e:
            raise SourceError(f"log-keys.json is not a list of {{from_size, vkey}}: {e}") from e

    def leaf_batches(self, estate: str) -> Iterator[list[Leaf]]:
        batch: list[Leaf] = []
        for n, item in enumerate(self.files.lines("leaves.jsonl")):
            try:
                batch.append((int(item["seq"]), base64.b64decode(item["leaf"], validate=True)))
            except (TypeError, KeyError, ValueError, binascii.Error) as e:
                raise SourceError(f"leaves.jsonl line {n + 1}: {e}") from e
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def checkpoints(self, estate: str) -> Iterator[StoredCheckpoint]:
        for n, item in enumerate(self.files.lines("checkpoints.jsonl")):
            try:
                yield StoredCheckpoint(int(item["size"]), str(item["note"]))
            except (TypeError, KeyError, ValueError) as e:
                raise SourceError(f"checkpoints.jsonl line {n + 1}: {e}") from e

    def tree_hashes(self, estate: str, start: int, end: int) -> Mapping[NodeIndex, bytes] | None:
        return None

    def derived_rows(self, estate: str, start: int, end: int) -> DerivedRows | None:
        return None

    def state_tables(self, estate: str) -> StateTables | None:
        return None

    def consistency_proof(self, estate: str, old_size: int, new_size: int) -> list[bytes] | None:
        return None

    def voucher(self, estate: str, sha256: str) -> VoucherLookup:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            return VoucherLookup("missing")
        data = self.files.read(f"vouchers/{sha256}")
        return VoucherLookup("missing") if data is None else VoucherLookup("present", data)

    def statements(self, estate: str) -> list[bytes]:
        """``statements.jsonl``: one signed statement document per line, bytes as published."""
        data = self.files.read("statements.jsonl")
        return [] if data is None else [line for line in data.split(b"\n") if line.strip()]

    def anomalies(self, estate: str) -> list[Finding]:
        return []

    def close(self) -> None:
        if self.files.tar is not None:
            self.files.tar.close()
