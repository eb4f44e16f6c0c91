"""Author key files on the author's machine: create them, read public parts."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.canonical import b64decode, b64encode
from ledger.errors import InvalidInput, NotFound
from ledger.policy import ROLES
from ledger.signing import AuthorKey
from ledger.storage.keyfiles import AUTHOR_KEY_TYPE, load_author_key, save_author_key

PUBLIC_KEY_TYPE = "trustledger-public-key/v1"


def keygen(out: Path, name: str, role: str) -> Path:
    """Write a new private key file (0600) and ``<out>.pub``; return the .pub path."""
    if role and role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if out.exists():
        raise InvalidInput(f"{out} already exists; choose another file name", field="out")
    key = AuthorKey.generate()
    save_author_key(out, key, name, role)
    pub = out.with_name(out.name + ".pub")
    doc = {
        "type": PUBLIC_KEY_TYPE,
        "name": name,
        "role": role,
        "key_id": key.key_id,
        "public_key": b64encode(key.public_key),
    }
    pub.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return pub


def load_public(path: Path) -> tuple[bytes, str, str]:
    """(public key, holder name, role) from a private key file or its ``.pub``."""
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError as e:
        raise NotFound(f"key file {path} does not exist") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path} is not a trustledger key file") from e
    if isinstance(doc, dict) and doc.get("type") == PUBLIC_KEY_TYPE:
        public = b64decode(doc.get("public_key", ""), "public_key", length=32)
        return public, str(doc.get("name", "")), str(doc.get("role", ""))
    if isinstance(doc, dict) and doc.get("type") == AUTHOR_KEY_TYPE:
        key, name, role = load_author_key(path)
        return key.public_key, name, role
    raise InvalidInput(f"{path} is not a trustledger key file")
