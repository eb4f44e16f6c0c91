"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint).

What it does: the :class:`Checkpoint` value (origin, tree size, RFC 6962 root,
optional extension lines), its note text and a strict parser for it (spec,
"Note text"), and signing / verifying a checkpoint as a C2SP signed note
(:mod:`ledger.note`). In trustledger the log's key name is the origin (spec,
"Signatures": the key name SHOULD match the origin; here it MUST).

Strictness: the size is ASCII decimal with no sign and no leading zero (except
``0``) and at most ``2**64 - 1``; the root is exactly 32 bytes of canonical
standard base64; the origin and extension lines are non-empty.

What it does not: no I/O, no Merkle maths (a verified checkpoint says what the
key holder signed, not that the tree is consistent with earlier checkpoints;
use :func:`ledger.merkle.verify_consistency` for that), no key management.
Malformed text or a bad signature raise :class:`~ledger.errors.NoteError`;
building a :class:`Checkpoint` from bad values raises
:class:`~ledger.errors.InvalidInput`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ledger.errors import InvalidInput, NoteError
from ledger.merkle import HASH_SIZE
from ledger.note import NoteSigner, Verifier, open_note, parse_vkey, sign_note

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes are unsigned 64-bit integers (RFC 9162 §4.10 ``tree_size``)."""

_CONTROL = re.compile(r"[\x00-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_ROOT_B64_LEN = 44  # len(base64 of 32 bytes)


def _check_line(value: str, field: str) -> None:
    """A line of note text: non-empty, valid UTF-8, no newline or control character."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"checkpoint {field} must be a non-empty string", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInput(f"checkpoint {field} is not valid UTF-8", field=field) from e
    if _CONTROL.search(value):
        raise InvalidInput(f"checkpoint {field} contains a control character", field=field)


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head's content.

    Attributes:
        origin: the log's unique name; in trustledger also its key name.
        size: number of leaves in the tree.
        root: RFC 9162 §2.1.1 root hash of those leaves (32 bytes).
        extensions: extra opaque lines (NOT RECOMMENDED by the spec).
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise InvalidInput("checkpoint size must be an integer", field="size")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidInput(f"checkpoint size {self.size} is out of range", field="size")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise InvalidInput(f"checkpoint root must be {HASH_SIZE} bytes", field="root")
        if not isinstance(self.extensions, tuple):
            raise InvalidInput("checkpoint extensions must be a tuple", field="extensions")
        for line in self.extensions:
            _check_line(line, "extensions")


def format_checkpoint(cp: Checkpoint) -> str:
    """The checkpoint's note text: origin, decimal size, base64 root, extensions; each + "\\n"."""
    root = base64.b64encode(cp.root).decode("ascii")
    return "".join(f"{line}\n" for line in (cp.origin, str(cp.size), root, *cp.extensions))


def _parse_size(line: str) -> int:
    if not _SIZE.fullmatch(line) or int(line) > MAX_TREE_SIZE:
        raise NoteError(f"checkpoint size {line!r} is not a canonical decimal", field="size")
    return int(line)


def _parse_root(line: str) -> bytes:
    if len(line) != _ROOT_B64_LEN:
        raise NoteError(f"checkpoint root must be {HASH_SIZE} bytes in base64", field="root")
    try:
        root = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError) as e:
        raise NoteError("checkpoint root is not valid base64", field="root") from e
    if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != line:
        raise NoteError("checkpoint root is not canonical base64 of 32 bytes", field="root")
    return root


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text strictly (spec, "Note text"); undoes :func:`format_checkpoint`."""
    if not text.endswith("\n"):
        raise NoteError("checkpoint text must end with a newline", field="checkpoint")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root lines", field="checkpoint")
    origin, size_line, root_line, *extensions = lines
    size, root = _parse_size(size_line), _parse_root(root_line)
    try:
        return Checkpoint(origin, size, root, tuple(extensions))
    except InvalidInput as e:
        raise NoteError(e.message, field=e.field) from e


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note; the signer's key name must be the origin."""
    if signer.name != cp.origin:
        raise InvalidInput(
            f"key {signer.name!r} cannot sign for origin {cp.origin!r}", field="signer"
        )
    return sign_note(format_checkpoint(cp), signer)


def verify_checkpoint(
    note: str | bytes, verifier: Verifier | str, origin: str | None = None
) -> Checkpoint:
    """Open a signed checkpoint with one trusted key (a :class:`Verifier` or a vkey string).

    The key's signature must verify, the checkpoint's origin must be the key's
    name, and, if ``origin`` is given, equal to it.
    """
    key = parse_vkey(verifier) if isinstance(verifier, str) else verifier
    if origin is not None and key.name != origin:
        raise NoteError(f"key {key.name!r} is not the key of origin {origin!r}", field="origin")
    cp = parse_checkpoint(open_note(note, [key]).text)
    if cp.origin != key.name:
        raise NoteError(
            f"checkpoint origin {cp.origin!r} is not the key name {key.name!r}", field="origin"
        )
    return cp
