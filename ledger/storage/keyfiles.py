"""Key files: estate log keys under DATA_DIR, and author key files for clients.

Log signing keys live in files (mode 0600), never in the database, so a database
dump alone cannot forge a checkpoint. Author key files are JSON written by
``trustledger keygen``; the server never reads them except in the demo and tests,
which play the authors.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from ledger.canonical import b64decode, b64encode
from ledger.errors import InvalidInput, NotFound
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


class LogKeyStore:
    """Ed25519 log keys of estates, one file per estate under ``DATA_DIR/logkeys``."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "logkeys"

    def _path(self, estate: str) -> Path:
        return self.dir / f"{estate}.ed25519"

    def create(self, estate: str, origin: str) -> Signer:
        """Make a new log key for ``estate``; an existing key file is never replaced."""
        path = self._path(estate)
        if path.exists():
            return self.load(estate, origin)
        write_secret(path, secrets.token_bytes(32))
        return self.load(estate, origin)

    def load(self, estate: str, origin: str) -> Signer:
        path = self._path(estate)
        try:
            seed = path.read_bytes()
        except FileNotFoundError as e:
            raise NotFound(f"no log key for estate {estate} in {self.dir}") from e
        return Signer.from_seed(origin, seed)


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
