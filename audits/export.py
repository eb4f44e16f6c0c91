"""Writing an estate's offline audit bundle (``trustledger export``).

The bundle holds the leaves exactly as stored (base64, one per line), every stored
checkpoint, the log keys, the referenced voucher bytes the store still has, a
manifest, a README explaining how to verify it with nothing but the bundle, and
``verify_bundle.py``, a standalone verifier needing only Python and
``cryptography``. Layout: :mod:`audits.bundle`.

What it does not: judge or repair anything. It copies what the source holds, breaks
included, so that an audit of the bundle finds what an audit of the database finds
(minus the checks of tree hashes and derived tables, which a bundle does not carry).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audits import standalone_verify
from audits.bundle import FORMAT
from audits.sources import AuditSource, SourceError

README = """# Audit bundle of estate `{estate}` (trustledger)

Exported {exported_at} from {location}: {size} entries, {checkpoints} signed
checkpoints, {statements} published statements, {vouchers} vouchers. Everything
needed to verify the books is in this directory; nothing here has to be trusted,
everything is recomputed.

审计包：小区 `{estate}` 的全部账本记录、签名检查点、日志公钥与凭证。无需信任任何一方，
以下每一项都可以独立重算验证。

## Files

- `leaves.jsonl` — one line per entry, in order: `{{"seq": n, "leaf": "<base64>"}}`.
  The decoded `leaf` bytes are entry n exactly as stored: the RFC 8785 (JCS)
  canonical JSON of `{{"seq", "prev", "recorded_at", "payload", "signatures"}}`.
- `checkpoints.jsonl` — one line per signed checkpoint: `{{"size", "note"}}`; the
  note is a C2SP signed note holding a C2SP tlog-checkpoint (origin, size, root).
- `log-keys.json` — the log's Ed25519 verifier keys `name+<key id>+<base64 key>`
  with the tree size each signs from. Compare the key with one published
  independently (the notice board, a printed statement) before trusting it.
- `vouchers/<sha256>` — the bytes of every referenced voucher still held
  (a voucher withdrawn by a signed `redaction` entry is absent by design).
- `statements.jsonl` — every published statement (公示), one signed JSON document
  per line: `{{"statement": {{…}}, "signature": {{"vkey", "sig"}}}}`, `sig` being
  Ed25519 by the log key over `b"trustledger/statement/v1\\n" + JCS(statement)`.
- `manifest.json` — what was exported (informative only).
- `verify_bundle.py` — a standalone verifier (Python 3.11+ and `cryptography`).

## How to verify (with nothing but this bundle)

Run `python3 verify_bundle.py .` (exit 0 clean, 1 findings), or
`trustledger audit --bundle .` for the full audit. By hand:

1. **Leaves.** Each leaf must be canonical JSON of a well-formed entry; its
   `seq` is its line number; `prev` is `base64(SHA-256(0x00 || leaf of seq-1))`
   (`null` for entry 0).
2. **Signatures.** Each signature `{{"key", "sig"}}` is Ed25519 over
   `b"trustledger/payload/v1\\n" + JCS(payload)` by the key with that id
   (first 16 hex digits of SHA-256 of the raw public key), registered in the
   genesis entry or by a `key` entry before this one and not revoked before it.
   Which roles must sign what is the estate's policy (genesis, `policy` entries).
3. **Merkle tree.** Leaf hash `SHA-256(0x00 || leaf)`, node `SHA-256(0x01 ||
   left || right)` (RFC 6962 §2.1). The root of the first `size` leaves must be
   the root in each checkpoint.
4. **Checkpoints.** The note text (up to the blank line) is signed by the log key:
   the signature line is `— <origin> base64(key id || Ed25519 signature)` with key
   id `SHA-256(origin || 0x0A || 0x01 || public key)[:4]`. Sizes never decrease;
   the last checkpoint's size is the number of lines in `leaves.jsonl`.
5. **Books.** Postings of each transaction sum to zero; a reversal names an
   earlier transaction, reversed at most once.
6. **Statements.** Each statement's signature verifies under a log key; the root
   of its first `checkpoint.size` leaves is its `checkpoint.root`; its figures,
   recomputed from those leaves as `docs/statements.md` defines, are equal.
7. **Vouchers.** `SHA-256(file)` is its name and its size is what the entry says;
   a voucher may be missing only if a signed `redaction` entry withdrew it.
"""


def _write_lines(path: Path, items: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


def _referenced(leaf: bytes) -> list[str]:
    """Voucher hashes a leaf references (read loosely: a broken leaf references none)."""
    try:
        vouchers = json.loads(leaf)["payload"].get("vouchers", [])
        return [v["sha256"] for v in vouchers if isinstance(v.get("sha256"), str)]
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        return []


def _leaves(source: AuditSource, estate: str, referenced: set[str]) -> Iterable[dict[str, Any]]:
    for batch in source.leaf_batches(estate):
        for seq, leaf in batch:
            referenced.update(_referenced(leaf))
            yield {"seq": seq, "leaf": base64.b64encode(leaf).decode("ascii")}


def write_bundle(source: AuditSource, estate: str, target: Path) -> dict[str, Any]:
    """Write the bundle's files into the empty directory ``target``; return the manifest."""
    if estate not in source.estates():
        raise SourceError(f"estate {estate!r} is not in this {source.kind}")
    referenced: set[str] = set()
    size = _write_lines(target / "leaves.jsonl", _leaves(source, estate, referenced))
    cps = _write_lines(
        target / "checkpoints.jsonl",
        ({"size": c.size, "note": c.note} for c in source.checkpoints(estate)),
    )
    keys: list[dict[str, Any]] = [
        {"from_size": k.from_size, "vkey": k.vkey, "handover": k.handover}
        for k in source.log_keys(estate)
    ]
    (target / "log-keys.json").write_text(json.dumps(keys, indent=1) + "\n", "utf-8")
    statements = source.statements(estate)
    (target / "statements.jsonl").write_bytes(b"".join(d + b"\n" for d in statements))
    (target / "vouchers").mkdir()
    vouchers = 0
    for sha256 in sorted(referenced):
        found = source.voucher(estate, sha256)
        if found.status == "present" and found.data is not None and len(sha256) == 64:
            (target / "vouchers" / sha256).write_bytes(found.data)
            vouchers += 1
    manifest = {
        "format": FORMAT,
        "estate": estate,
        "origin": keys[-1]["vkey"].split("+", 1)[0] if keys else None,
        "size": size,
        "checkpoints": cps,
        "vouchers": vouchers,
        "statements": len(statements),
        "exported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "location": source.location,
        "files": {
            name: hashlib.sha256((target / name).read_bytes()).hexdigest()
            for name in ("leaves.jsonl", "checkpoints.jsonl", "log-keys.json", "statements.jsonl")
        },
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    (target / "README.md").write_text(README.format(**manifest), "utf-8")
    shutil.copyfile(standalone_verify.__file__, target / "verify_bundle.py")
    return manifest


def export_bundle(source: AuditSource, estate: str, out: Path) -> dict[str, Any]:
    """Write the bundle to ``out``: a new directory, or a ``.tar`` file (never overwritten)."""
    out = Path(out)
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty")
    if out.suffix != ".tar":
        out.mkdir(parents=True, exist_ok=True)
        return write_bundle(source, estate, out)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        top = Path(tmp) / f"{estate}-bundle"
        top.mkdir()
        manifest = write_bundle(source, estate, top)
        with tarfile.open(out, "x") as tar:
            tar.add(top, arcname=top.name)
    return manifest
