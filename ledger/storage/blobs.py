"""Blob stores for voucher bytes, addressed by their SHA-256.

:class:`BlobStore` is the interface; :class:`FilesystemBlobStore` keeps blobs under
``DATA_DIR/vouchers/ab/abcdef…``, written to a temporary file, fsynced and renamed,
so a crash never leaves a partial blob under its final name. ``delete`` exists for
redaction only: bytes withdrawn by a signed ``redaction`` entry.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from ledger.errors import InvalidInput

_HEX = re.compile(r"[0-9a-f]{64}")


@runtime_checkable
class BlobStore(Protocol):
    def put(self, sha256: str, data: bytes) -> None: ...
    def get(self, sha256: str) -> bytes | None: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None:
        """Remove the bytes (a redaction); absent bytes are not an error."""
        ...


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        if not _HEX.fullmatch(sha256):  # also keeps paths inside the store
            raise InvalidInput("voucher name must be a lowercase hex SHA-256", field="sha256")
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise InvalidInput("voucher bytes do not hash to their name", field="sha256")
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the deletion survives a power cut like a write would
        finally:
            os.close(fd)
