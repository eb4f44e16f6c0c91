"""Blob stores for voucher bytes, addressed by their SHA-256.

:class:`BlobStore` is the interface; :class:`FilesystemBlobStore` keeps blobs under
``DATA_DIR/vouchers/ab/abcdef…``, written to a temporary file, fsynced and renamed,
so a crash never leaves a partial blob under its final name. ``delete`` exists for
redaction only: bytes withdrawn by a signed ``redaction`` entry.

:class:`BlobStores` gives each estate its store (nothing crosses estates);
:func:`open_stores` reads the ``TRUSTLEDGER_VOUCHER_STORE`` setting: the filesystem
under ``DATA_DIR/vouchers`` by default, or an S3-compatible bucket
(:mod:`ledger.storage.blobs_s3`). A store that cannot answer raises
:class:`BlobStoreUnavailable` (an ``OSError``, like the filesystem's own failures).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from ledger.errors import InvalidInput

_HEX = re.compile(r"[0-9a-f]{64}")


class BlobStoreUnavailable(OSError):
    """The voucher store cannot answer (unreachable, refused, misconfigured, corrupt)."""


def check_name(sha256: str) -> None:
    if not _HEX.fullmatch(sha256):  # also keeps paths and keys inside the store
        raise InvalidInput("voucher name must be a lowercase hex SHA-256", field="sha256")


def check_blob(sha256: str, data: bytes) -> None:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InvalidInput("voucher bytes do not hash to their name", field="sha256")


@runtime_checkable
class BlobStore(Protocol):
    def put(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under its hash; whether it was not there already."""
        ...

    def get(self, sha256: str) -> bytes | None: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None:
        """Remove the bytes (a redaction); absent bytes are not an error."""
        ...


class BlobStores(Protocol):
    """Where the vouchers of every estate live: called with an estate id, its store."""

    def __call__(self, estate: str) -> BlobStore: ...
    def describe(self) -> str: ...
    def check(self) -> None:
        """Raise :class:`BlobStoreUnavailable` unless the store can answer now."""
        ...


class FilesystemBlobStores:
    """``root/<estate>/ab/abcdef…`` on the local filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __call__(self, estate: str) -> FilesystemBlobStore:
        return FilesystemBlobStore(self.root / estate)

    def describe(self) -> str:
        return str(self.root)

    def check(self) -> None:
        if self.root.exists() and not os.access(self.root, os.W_OK | os.X_OK):
            raise BlobStoreUnavailable(f"voucher store {self.root} is not writable")


def open_stores(
    spec: str | None,
    data_dir: Path,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> BlobStores:
    """The voucher stores named by ``spec``: empty for ``DATA_DIR/vouchers``, a directory
    (``file:///srv/vouchers`` or a path), or ``s3://bucket/prefix``."""
    if not spec:
        return FilesystemBlobStores(Path(data_dir) / "vouchers")
    parts = urlsplit(spec)
    if parts.scheme == "s3":
        from ledger.storage.blobs_s3 import S3BlobStores

        return S3BlobStores(parts.netloc, parts.path, endpoint_url=endpoint_url, region=region)
    if parts.scheme == "file":
        return FilesystemBlobStores(Path(parts.path))
    if parts.scheme == "":
        return FilesystemBlobStores(Path(spec))
    raise BlobStoreUnavailable(
        f"voucher store {spec!r}: use a directory, file:///path or s3://bucket/prefix"
    )


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        check_name(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> bool:
        path = self._path(sha256)
        check_blob(sha256, data)
        if path.exists():
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError as e:  # full, read-only, or not a directory: nothing was stored
            raise BlobStoreUnavailable(f"voucher store {self.root}: {e}") from e
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException as e:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise BlobStoreUnavailable(f"voucher store {self.root}: {e}") from e
            raise
        return True

    def get(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise BlobStoreUnavailable(f"voucher store {self.root}: {e}") from e

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
