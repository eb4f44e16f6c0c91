"""Key files: estate log keys under DATA_DIR, and author key files for clients.

Log signing keys live in files (mode 0600), never in the database, so a database
dump alone cannot forge a checkpoint. Author key files are JSON written by
``trustledger keygen``; the server never reads them except in the demo and tests,
which play the authors.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ledger.canonical import b64decode, b64encode
from ledger.errors import InvalidInput, NotFound, StorageError
from ledger.note import Signer
from ledger.signing import AuthorKey

AUTHOR_KEY_TYPE = "trustledger-author-key/v1"


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (refusing to overwrite) and write ``data``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_atomically(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0600) holding ``data``, all at once or not at all.

    The bytes go to a temporary file first, which is then hard-linked to its name:
    a reader never sees a partial key, and an existing file is never replaced
    (``FileExistsError``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)


class LogKeyStore:
    """Ed25519 log keys of estates under ``DATA_DIR/logkeys``.

    Files per estate: ``<estate>.ed25519`` is the current key, ``<estate>.next.ed25519``
    a key a rotation is introducing, ``<estate>.<key id hex>.ed25519`` a retired key
    (kept, never read again). Estate ids contain no dot, so the names cannot collide.

    The database, not the files, says which key is current: ``estates.vkey``.
    :meth:`load` is given that verifier key and settles the files to agree with it.
    That makes a rotation crash-safe in this order (see :meth:`prepare_next`):

    1. under the estate's append lock, write the new key as ``.next`` (fsynced);
    2. commit the database: ``estates.vkey`` and ``log_keys`` name the new key;
    3. promote: keep the old key under its key id, rename ``.next`` over the
       current name (an atomic ``rename``), fsync the directory.

    A crash before 2 leaves a ``.next`` that the database never named: the current
    key stays in use, and the next rotation (holding the lock, so nobody can be
    committing it) replaces the stale file. A crash between 2 and 3, or a commit
    whose acknowledgement was lost, leaves a ``.next`` that the database names: the
    next :meth:`load` sees that the current file does not match ``estates.vkey``
    and finishes step 3 itself. A failed rotation therefore never deletes ``.next``
    — it cannot tell a rolled-back commit from a lost acknowledgement — and no
    path ever signs with a key the database does not publish. File changes are
    serialised per estate by an advisory lock (``<estate>.lock``) between
    processes sharing ``DATA_DIR``.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "logkeys"
        self._signers: dict[tuple[str, str], Signer] = {}

    def _path(self, estate: str, tag: str | None = None) -> Path:
        return self.dir / (f"{estate}.{tag}.ed25519" if tag else f"{estate}.ed25519")

    @staticmethod
    def _read(path: Path, origin: str) -> Signer | None:
        try:
            return Signer.from_seed(origin, path.read_bytes())
        except FileNotFoundError:
            return None

    @contextmanager
    def _locked(self, estate: str) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / f"{estate}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def create(self, estate: str, origin: str) -> Signer:
        """Make a new log key for ``estate``; an existing key file is never replaced."""
        path = self._path(estate)
        if not path.exists():
            with suppress(FileExistsError):  # a concurrent creation won: use its key
                _create_atomically(path, secrets.token_bytes(32))
        return self.load(estate, origin)

    def load(self, estate: str, origin: str, vkey: str | None = None) -> Signer:
        """The current log key; with ``vkey`` (``estates.vkey``), the key it names.

        Finishes a rotation whose database commit happened but whose file
        promotion did not (see the class docstring).
        """
        if vkey is not None and (estate, vkey) in self._signers:
            return self._signers[estate, vkey]  # the vkey names the key: safe across rotations
        current = self._read(self._path(estate), origin)
        if current is not None and (vkey is None or current.vkey == vkey):
            signer = current
        elif vkey is None:
            raise NotFound(f"no log key for estate {estate} in {self.dir}")
        else:
            signer = self.promote(estate, origin, vkey)
        self._signers[estate, signer.vkey] = signer
        return signer

    def prepare_next(self, estate: str, origin: str) -> Signer:
        """Write a new key as ``<estate>.next.ed25519`` for a rotation and return it.

        The caller holds the estate's append lock and has just loaded the current
        key with the database's ``vkey``: any ``.next`` still present was never
        committed (a committed one would have been promoted) and is replaced.
        """
        path = self._path(estate, "next")
        seed = secrets.token_bytes(32)
        with self._locked(estate):
            path.unlink(missing_ok=True)
            _create_atomically(path, seed)
        return Signer.from_seed(origin, seed)

    def promote(self, estate: str, origin: str, vkey: str) -> Signer:
        """Make the key that ``vkey`` names the current file (idempotent); return it."""
        current_path, next_path = self._path(estate), self._path(estate, "next")
        with self._locked(estate):
            current = self._read(current_path, origin)
            if current is not None and current.vkey == vkey:
                return current
            new = self._read(next_path, origin)
            if new is None or new.vkey != vkey:
                raise StorageError(
                    f"no log key file of estate {estate} in {self.dir} matches its "
                    f"verifier key {vkey}"
                )
            if current is not None:
                with suppress(FileExistsError):  # kept by an earlier, interrupted promotion
                    os.link(current_path, self._path(estate, current.key_id.hex()))
            os.replace(next_path, current_path)
            _fsync_dir(self.dir)
            return new


def save_author_key(path: Path, key: AuthorKey, name: str, role: str = "") -> None:
    doc = {
        "type": AUTHOR_KEY_TYPE,
        "name": name,
        "role": role,
        "key_id": key.key_id,
        "public_key": b64encode(key.public_key),
        "private_key": b64encode(key.seed),
    }
    write_secret(path, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())


def load_author_key(path: Path) -> tuple[AuthorKey, str, str]:
    """Read a key file written by :func:`save_author_key`: (key, name, role)."""
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError as e:
        raise NotFound(f"key file {path} does not exist") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path} is not a trustledger key file") from e
    if not isinstance(doc, dict) or doc.get("type") != AUTHOR_KEY_TYPE:
        raise InvalidInput(f"{path} is not a trustledger key file")
    key = AuthorKey(b64decode(doc.get("private_key", ""), "private_key", length=32))
    return key, str(doc.get("name", "")), str(doc.get("role", ""))
