"""The pages' own JavaScript (api/static/js) against the shared vectors, run in Chromium.

RFC 6962 / RFC 9162 proofs from ``shared/vectors/rfc6962.json`` must verify and every
one-bit change, truncation, extension or wrong size must fail, as in
``tests/ledger/test_merkle.py``; the C2SP signed-note vector and checkpoints signed by
``ledger.checkpoint`` must open under WebCrypto Ed25519 and under the bundled fallback.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.errors import LedgerError
from ledger.merkle import (
    MemoryHashStore,
    hash_leaf,
    prove_consistency,
    prove_inclusion,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from ledger.note import Signer
from tests.pages.conftest import Phone
from tests.vectors import VECTORS

JS = Path(__file__).resolve().parent / "js"

DISABLE_WEBCRYPTO_ED25519 = """
(() => {
  const isEd = (alg) => alg === "Ed25519" || (alg && alg.name === "Ed25519");
  const subtle = crypto.subtle;
  const importKey = subtle.importKey.bind(subtle);
  const verify = subtle.verify.bind(subtle);
  subtle.importKey = (format, key, alg, ...rest) =>
    isEd(alg) ? Promise.reject(new DOMException("no Ed25519", "NotSupportedError"))
              : importKey(format, key, alg, ...rest);
  subtle.verify = (alg, ...rest) =>
    isEd(alg) ? Promise.reject(new DOMException("no Ed25519", "NotSupportedError"))
              : verify(alg, ...rest);
})();
"""

MERKLE_RUNNER = (JS / "merkle_vectors.js").read_text()

NOTE_RUNNER = (JS / "signed_notes.js").read_text()


def _vectors(name: str) -> Any:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())


def test_merkle_verification_matches_the_rfc_vectors(phone: Phone) -> None:
    phone.goto("/")
    result = phone.page.evaluate(MERKLE_RUNNER, [_vectors("rfc6962.json")])
    assert result["problems"] == []
    assert result["inclusion"] >= 30 and result["consistency"] >= 30
    assert result["checked"] > 500


DIFFERENTIAL_RUNNER = (JS / "differential.js").read_text()


def _differential_cases() -> tuple[list[dict[str, Any]], list[bool]]:
    """Proofs over a 40-leaf tree, genuine and altered, with ledger.merkle's verdict on each."""
    rng = random.Random(9162)
    store = MemoryHashStore.from_leaves([bytes([i]) * (i % 5) for i in range(40)])
    leaf = [hash_leaf(bytes([i]) * (i % 5)) for i in range(40)]
    roots = {n: tree_root(n, store) for n in range(1, 41)}
    enc = lambda items: [base64.b64encode(x).decode() for x in items]  # noqa: E731
    cases: list[dict[str, Any]] = []
    expected: list[bool] = []
    for _ in range(300):
        size = rng.randint(1, 40)
        index, old = rng.randrange(size), rng.randint(1, size)
        inc, con = prove_inclusion(index, size, store), prove_consistency(old, size, store)
        change = rng.choice(["none", "size", "index", "drop", "add", "swap"])
        i_size, i_index, c_old = size, index, old
        if change == "size":
            i_size = c_old = rng.randint(1, 40)
        elif change == "index":
            i_index = rng.randrange(40)
        elif change == "drop":
            inc, con = inc[:-1], con[:-1]
        elif change == "add":
            inc, con = [*inc, leaf[0]], [*con, leaf[0]]
        elif change == "swap" and len(inc) > 1:
            inc = [inc[1], inc[0], *inc[2:]]
        for kind in ("inclusion", "consistency"):
            if kind == "inclusion":
                li = leaf[i_index] if i_index < 40 else leaf[0]
                case = {"kind": kind, "leaf": li, "index": i_index, "size": i_size, "proof": inc}
                verdict = _accepts(verify_inclusion, li, i_index, i_size, inc, roots[i_size])
                case["root"] = roots[i_size]
            else:
                case = {"kind": kind, "old": c_old, "size": size, "proof": con}
                case["old_root"], case["root"] = roots[c_old], roots[size]
                verdict = _accepts(verify_consistency, c_old, size, roots[c_old], roots[size], con)
            cases.append(
                {
                    k: (enc(v) if k == "proof" else base64.b64encode(v).decode())
                    if isinstance(v, bytes | list)
                    else v
                    for k, v in case.items()
                }
            )
            expected.append(verdict)
    return cases, expected


def _accepts(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except LedgerError:
        return False
    return True


def test_merkle_verification_agrees_with_ledger_merkle(phone: Phone) -> None:
    cases, expected = _differential_cases()
    assert 0 < sum(expected) < len(expected)  # genuine and altered cases both present
    phone.goto("/")
    assert phone.page.evaluate(DIFFERENTIAL_RUNNER, [cases]) == expected


def _checkpoint_note() -> dict[str, Any]:
    signer = Signer.generate("trustledger.example/estates/js-test")
    cp = Checkpoint(signer.name, 1234, bytes(range(32)))
    return {"note": sign_checkpoint(cp, signer), "vkey": signer.vkey}


@pytest.mark.parametrize("verifier", ["webcrypto", "fallback"])
def test_signed_notes_and_checkpoints_open_with_either_verifier(
    phone: Phone, verifier: str
) -> None:
    v = _vectors("signed-note.json")
    if verifier == "fallback":
        phone.page.add_init_script(DISABLE_WEBCRYPTO_ED25519)
    phone.goto("/")
    checkpoint = _checkpoint_note()
    out = phone.page.evaluate(NOTE_RUNNER, [v["vkey"], v["signed_note"], checkpoint])
    assert out["text"] == v["text"]
    assert out["verifier"] == verifier
    assert out["tampered"] == "NoteError"
    assert out["cp"] == {
        "origin": "trustledger.example/estates/js-test",
        "size": 1234,
        "root": base64.b64encode(bytes(range(32))).decode(),
    }
    assert out["forged"] == "NoteError"
    assert out["otherKey"] == "NoteError"


def test_strict_parsers_refuse_what_python_refuses(phone: Phone) -> None:
    phone.goto("/")
    out = phone.page.evaluate((JS / "parsers.js").read_text())
    assert out == {
        "urlPadded": True,
        "urlBare": True,
        "urlBad": True,
        "nonCanonical": True,
        "sizeLeadingZero": True,
        "shortRoot": True,
        "noBlankLine": True,
        "badKeyId": True,
        "base32": base64.b32decode("MFRGGZDFMZTWQ2LKNNWG23TPOA======").hex(),
        "base32Bits": True,
    }
