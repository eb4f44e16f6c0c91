"""Building payloads on the author's side (CLI, demo, tests): ids, genesis, signing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ledger.canonical import b64encode
from ledger.policy import DEFAULT_POLICY, Policy
from ledger.signing import AuthorKey, Signature
from ledger.storage.appender import SignedPayload


def new_id() -> str:
    return str(uuid.uuid4())


def payload(
    estate: str,
    kind: str,
    body: dict[str, Any],
    *,
    date: dt.date,
    memo: str = "",
    vouchers: Sequence[dict[str, Any]] = (),
    id: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "v": 1,
        "estate": estate,
        "id": id or new_id(),
        "kind": kind,
        "date": date.isoformat(),
        "body": body,
    }
    if vouchers:
        out["vouchers"] = list(vouchers)
    if memo:
        out["memo"] = memo
    return out


def genesis_body(
    name: str,
    address: str,
    households: int,
    keys: Iterable[tuple[bytes, str, str]],
    policy: Policy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """``keys``: (public key, role, holder) of the founding keys."""
    return {
        "name": name,
        "address": address,
        "currency": "CNY",
        "households": households,
        "keys": [
            {"public_key": b64encode(pk), "role": role, "holder": holder}
            for pk, role, holder in keys
        ],
        "policy": policy.to_json(),
    }


def sign(
    raw: dict[str, Any], keys: Iterable[AuthorKey], existing: Sequence[Signature] = ()
) -> SignedPayload:
    """Sign ``raw`` with each key, keeping signatures already made by others."""
    sigs = {s.key: s for s in existing}
    for key in keys:
        sigs[key.key_id] = key.sign(raw)
    return SignedPayload.parse(raw, [s.to_json() for s in sigs.values()])
