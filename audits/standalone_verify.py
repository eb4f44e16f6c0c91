#!/usr/bin/env python3
"""Verify a trustledger audit bundle with nothing but the bundle (``verify_bundle.py``).

Usage: ``python3 verify_bundle.py BUNDLE_DIR`` — exit 0 clean, 1 findings, 2 unreadable.
Needs Python 3.11+ and the ``cryptography`` package; imports nothing of trustledger,
so it is an independent second implementation of the checks in the bundle's
README: hash chain, canonical leaves, author signatures by registered and not
revoked keys, balanced postings, reversals, the Merkle root of every checkpoint,
checkpoint signatures, coverage, and voucher hashes. It does not check the
signing policy (who must sign what) nor derived data; ``trustledger audit
--bundle`` does everything.

Canonical form: for the values a ledger holds (ASCII keys, strings, integers,
booleans, null) RFC 8785 equals ``json.dumps(sort_keys=True, ensure_ascii=False,
separators=(",", ":"))``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"trustledger/payload/v1\n"
found: list[str] = []


def report(seq: object, check: str, message: str) -> None:
    found.append(f"{seq}\t{check}\t{message}")


def jcs(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


class Tree:
    """The right edge of an RFC 6962 tree (perfect subtrees, largest first)."""

    def __init__(self) -> None:
        self.size, self.edge = 0, []  # type: tuple[int, list[bytes]]

    def append(self, leaf: bytes) -> None:
        node, size = sha(b"\x00" + leaf), self.size
        while size & 1:
            node, size = sha(b"\x01" + self.edge.pop() + node), size >> 1
        self.edge.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.edge:
            return sha(b"")
        acc = self.edge[-1]
        for h in reversed(self.edge[:-1]):
            acc = sha(b"\x01" + h + acc)
        return acc


def check_note(note: str, vkey: str) -> tuple[int, bytes] | None:
    """(size, root) of a checkpoint note signed by ``vkey``; None (and a finding) if not."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    public_key = base64.b64decode(key_b64)[1:]
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    for line in sigs.splitlines():
        signer, _, encoded = line.removeprefix("\u2014 ").partition(" ")
        raw = base64.b64decode(encoded)
        if (
            signer == name
            and raw[:4].hex() == key_id_hex
            and verifies(public_key, raw[4:], text.encode())
        ):
            origin, size, root = text.split("\n")[:3]
            return (int(size), base64.b64decode(root)) if origin == name else None
    return None


def keys_of(payload: dict[str, Any], seq: int, keys: dict[str, list[Any]]) -> None:
    body = payload["body"]
    if payload["kind"] == "genesis" and seq == 0:
        for k in body["keys"]:
            pk = base64.b64decode(k["public_key"])
            keys[hashlib.sha256(pk).hexdigest()[:16]] = [pk, None]
    elif payload["kind"] == "key" and body["action"] == "register":
        pk = base64.b64decode(body["public_key"])
        keys.setdefault(hashlib.sha256(pk).hexdigest()[:16], [pk, None])
    elif payload["kind"] == "key" and body["key_id"] in keys:
        keys[body["key_id"]][1] = keys[body["key_id"]][1] or seq


def check_entry(seq: int, entry: dict[str, Any], state: dict[str, Any]) -> None:
    payload, keys = entry["payload"], state["keys"]
    message = DOMAIN + jcs(payload)
    for s in entry["signatures"] if seq else []:
        key = keys.get(s["key"])
        if key is None or key[1] is not None:
            report(seq, "signatures", f"key {s['key']} is not a registered, unrevoked key")
        elif not verifies(key[0], base64.b64decode(s["sig"]), message):
            report(seq, "signatures", f"signature by {s['key']} does not verify")
    keys_of(payload, seq, keys)
    if not seq:
        founding = {hashlib.sha256(v[0]).hexdigest()[:16]: v[0] for v in keys.values()}
        for s in entry["signatures"]:
            pk = founding.get(s["key"])
            if pk is None or not verifies(pk, base64.b64decode(s["sig"]), message):
                report(seq, "signatures", f"genesis signature by {s['key']} does not verify")
    body, kind = payload["body"], payload["kind"]
    if kind == "transaction":
        state["tx"].add(seq)
        if sum(p["amount"] for p in body["postings"]) != 0:
            report(seq, "double-entry", "postings do not sum to zero")
    if kind == "reversal":
        if body["target"] not in state["tx"] or body["target"] in state["reversed"]:
            report(seq, "reversals", f"entry {body['target']} cannot be reversed here")
        state["reversed"].add(body["target"])
    if kind == "redaction":
        state["redacted"].add(body["sha256"])
    for v in payload.get("vouchers", []):
        state["vouchers"].setdefault(v["sha256"], (seq, v["size"]))


def check_leaves(bundle: Path, state: dict[str, Any], cps: dict[int, bytes]) -> int:
    prev, tree = None, Tree()
    with (bundle / "leaves.jsonl").open("rb") as f:
        for position, line in enumerate(f):
            leaf = base64.b64decode(json.loads(line)["leaf"])
            try:
                entry = json.loads(leaf)
                if jcs(entry) != leaf:
                    report(position, "leaf", "not the canonical encoding")
                if entry["seq"] != position or entry["prev"] != prev:
                    report(position, "chain", "seq or prev does not follow the entry before")
                check_entry(position, entry, state)
            except (ValueError, KeyError, TypeError) as e:
                report(position, "leaf", f"not a well-formed entry: {e!r}")
            tree.append(leaf)
            prev = base64.b64encode(sha(b"\x00" + leaf)).decode()
            if tree.size in cps and cps[tree.size] != tree.root():
                report(None, "checkpoint-root", f"checkpoint at size {tree.size} differs")
    return tree.size


def main(bundle: Path) -> int:
    keys = json.loads((bundle / "log-keys.json").read_text("utf-8"))
    cps: dict[int, bytes] = {}
    latest = -1
    for line in (bundle / "checkpoints.jsonl").read_text("utf-8").splitlines():
        cp = json.loads(line)
        signers = [k for k in keys if k["from_size"] < cp["size"] or k["from_size"] == 0]
        vkey = max(signers, key=lambda k: k["from_size"])  # the key in force at that size
        opened = check_note(cp["note"], vkey["vkey"])
        if opened is None or opened[0] != cp["size"]:
            report(None, "checkpoint-signature", f"checkpoint at size {cp['size']} does not verify")
            continue
        if opened[0] < latest:
            report(None, "checkpoint-order", f"checkpoint at size {opened[0]} after {latest}")
        latest = max(latest, opened[0])
        cps[opened[0]] = opened[1]
    state: dict[str, Any] = {
        "keys": {},
        "tx": set(),
        "reversed": set(),
        "redacted": set(),
        "vouchers": {},
    }
    size = check_leaves(bundle, state, cps)
    if latest != size:
        report(min(latest, size), "checkpoint-coverage", f"checkpoint {latest}, log {size}")
    for digest, (seq, length) in state["vouchers"].items():
        path = bundle / "vouchers" / digest
        if not path.is_file():
            if digest not in state["redacted"]:
                report(seq, "vouchers", f"voucher {digest} is missing")
        elif hashlib.sha256(data := path.read_bytes()).hexdigest() != digest or len(data) != length:
            report(seq, "vouchers", f"voucher {digest} does not match its name or size")
    for line in found:
        print(line)
    verdict = f"{len(found)} findings" if found else "clean"
    print(f"{size} entries, {len(cps)} checkpoints: {verdict}")
    return 1 if found else 0


if __name__ == "__main__":
    try:
        sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
    except (OSError, ValueError, KeyError, IndexError) as e:
        print(f"cannot read the bundle: {e!r}", file=sys.stderr)
        sys.exit(2)
