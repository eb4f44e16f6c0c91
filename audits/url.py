"""An :class:`~audits.sources.AuditSource` over a live server's public verification API.

It uses only the public, stable endpoints of DESIGN.md and trusts none of them:
it takes the leaf *bytes* (base64) and recomputes everything from them; the
server's own JSON rendering of each entry is compared with the bytes and any
difference is reported (:meth:`UrlSource.anomalies`). The latest checkpoint is
fetched first and the leaves are read up to its size only, so appends made during
the audit do not count as unsigned entries. Consistency proofs come from the
server and are verified by the checks against signed roots.

Network failures, HTTP errors on the log's own endpoints and replies that are not
the documented JSON raise :class:`~audits.sources.SourceError` (the audit could
not run: exit 2).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from audits.findings import Finding, error
from audits.sources import (
    AccountColumns,
    DerivedRows,
    EstateColumns,
    KeyColumns,
    Leaf,
    LogKey,
    SourceError,
    StateTables,
    StoredCheckpoint,
    VoucherLookup,
)
from ledger.merkle import NodeIndex

PAGE = 1000
TIMEOUT = 30.0


def _size_of(note: str) -> int:
    lines = note.split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else 0


class UrlSource:
    """The estates served at ``base_url`` (e.g. ``https://ledger.example``)."""

    kind = "url"

    def __init__(self, base_url: str, *, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(
            base_url=self.base_url, timeout=TIMEOUT, headers={"User-Agent": "trustledger-audit"}
        )
        self._checkpoints: dict[str, str] = {}
        self._anomalies: dict[str, list[Finding]] = {}

    @property
    def location(self) -> str:
        return self.base_url

    def _get(self, path: str, **params: Any) -> httpx.Response:
        try:
            return self.client.get(path, params=params or None)
        except httpx.HTTPError as e:
            raise SourceError(f"cannot reach {self.base_url}{path}: {e}") from e

    def _json(self, path: str, **params: Any) -> Any:
        response = self._get(path, **params)
        if response.status_code != 200:
            raise SourceError(f"{path}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as e:
            raise SourceError(f"{path}: the reply is not JSON") from e

    def estates(self) -> list[str]:
        try:
            return [str(e["id"]) for e in self._json("/v1/estates")["estates"]]
        except (TypeError, KeyError) as e:
            raise SourceError(f"/v1/estates: unexpected reply ({e})") from e

    def _checkpoint(self, estate: str) -> str:
        if estate not in self._checkpoints:
            response = self._get(f"/v1/estates/{estate}/checkpoint")
            if response.status_code != 200:
                raise SourceError(f"checkpoint of {estate}: HTTP {response.status_code}")
            self._checkpoints[estate] = response.text
        return self._checkpoints[estate]

    def size_hint(self, estate: str) -> int | None:
        return _size_of(self._checkpoint(estate))

    def log_keys(self, estate: str) -> list[LogKey]:
        response = self._get(f"/v1/estates/{estate}/log-keys")
        try:
            if response.status_code == 200:
                items = response.json()
                items = items.get("keys", items) if isinstance(items, dict) else items
                return [
                    LogKey(int(k["from_size"]), str(k["vkey"]), k.get("handover")) for k in items
                ]
            return [LogKey(0, str(self._json(f"/v1/estates/{estate}/log-key")["vkey"]))]
        except (TypeError, KeyError, ValueError) as e:
            raise SourceError(f"log keys of {estate}: unexpected reply ({e})") from e

    def leaf_batches(self, estate: str) -> Iterator[list[Leaf]]:
        """Pages of ``/entries`` up to the size of the checkpoint fetched first."""
        size, start = _size_of(self._checkpoint(estate)), 0
        while start < size:
            page = self._json(
                f"/v1/estates/{estate}/entries", start=start, limit=min(PAGE, size - start)
            )
            batch = self._page(estate, page)
            if not batch:
                return  # the server stops short: the coverage check reports it
            yield batch
            nxt = page.get("next")
            if nxt is None:
                return
            if not isinstance(nxt, int) or nxt <= start:
                raise SourceError(f"entries of {estate}: paging does not advance ({nxt!r})")
            start = nxt

    def _page(self, estate: str, page: Any) -> list[Leaf]:
        out: list[Leaf] = []
        try:
            for item in page["entries"]:
                seq, leaf = int(item["seq"]), base64.b64decode(item["leaf"], validate=True)
                out.append((seq, leaf))
                self._compare_json(estate, seq, leaf, item.get("entry"))
        except (TypeError, KeyError, ValueError, binascii.Error) as e:
            raise SourceError(f"entries of {estate}: unexpected reply ({e})") from e
        return out

    def _compare_json(self, estate: str, seq: int, leaf: bytes, shown: Any) -> None:
        try:
            same = json.loads(leaf) == shown
        except (ValueError, UnicodeDecodeError):
            same = False
        if not same:
            self._anomalies.setdefault(estate, []).append(
                error(estate, seq, "api", "the server's JSON of this entry differs from its leaf")
            )

    def checkpoints(self, estate: str) -> Iterator[StoredCheckpoint]:
        note = self._checkpoint(estate)
        yield StoredCheckpoint(_size_of(note), note)

    def tree_hashes(self, estate: str, start: int, end: int) -> Mapping[NodeIndex, bytes] | None:
        return None

    def derived_rows(self, estate: str, start: int, end: int) -> DerivedRows | None:
        return None

    def state_tables(self, estate: str) -> StateTables | None:
        """The estate page (size, keys, chart with balances) if it speaks of the audited size."""
        d = self._json(f"/v1/estates/{estate}")
        try:
            if d["checkpoint"]["size"] != _size_of(self._checkpoint(estate)):
                return None  # the log moved on during the audit: nothing comparable
            return StateTables(
                estate=EstateColumns(
                    int(d["size"]), str(d["origin"]), str(d["vkey"]), json.dumps(d["policy"])
                ),
                keys=tuple(_key(k) for k in d["keys"]),
                accounts=tuple(_account(a) for a in d["accounts"]),
                reversals=None,
                redactions=None,
                balances={str(a["name"]): int(a["balance"]) for a in d["accounts"]},
            )
        except (TypeError, KeyError, ValueError, binascii.Error) as e:
            raise SourceError(f"/v1/estates/{estate}: unexpected reply ({e})") from e

    def consistency_proof(self, estate: str, old_size: int, new_size: int) -> list[bytes] | None:
        response = self._get(
            f"/v1/estates/{estate}/proofs/consistency", **{"from": old_size, "to": new_size}
        )
        if response.status_code != 200:
            return None
        try:
            return [base64.b64decode(h, validate=True) for h in response.json()["hashes"]]
        except (TypeError, KeyError, ValueError, binascii.Error):
            return None

    def voucher(self, estate: str, sha256: str) -> VoucherLookup:
        response = self._get(f"/v1/estates/{estate}/vouchers/{sha256}")
        if response.status_code == 200:
            return VoucherLookup("present", response.content)
        if response.status_code == 410:
            return VoucherLookup("redacted")
        if response.status_code == 404:
            return VoucherLookup("missing")
        raise SourceError(f"voucher {sha256} of {estate}: HTTP {response.status_code}")

    def statements(self, estate: str) -> list[bytes]:
        """Every statement the server lists (404 on the list: a server without statements)."""
        response = self._get(f"/v1/estates/{estate}/statements")
        if response.status_code == 404:
            return []
        try:
            items = self._json(f"/v1/estates/{estate}/statements")["statements"]
            paths = [str(item["json"]) for item in items]
        except (TypeError, KeyError) as e:
            raise SourceError(f"statements of {estate}: unexpected reply ({e})") from e
        out = []
        for path in paths:
            got = self._get(path)
            if got.status_code != 200:
                raise SourceError(f"{path}: HTTP {got.status_code}")
            out.append(got.content)
        return out

    def anomalies(self, estate: str) -> list[Finding]:
        return self._anomalies.pop(estate, [])

    def close(self) -> None:
        self.client.close()


def _key(k: Mapping[str, Any]) -> KeyColumns:
    public_key = base64.b64decode(k["public_key"], validate=True)
    return KeyColumns(
        str(k["key_id"]),
        public_key,
        str(k["role"]),
        str(k["holder"]),
        int(k["added_seq"]),
        None if k["revoked_seq"] is None else int(k["revoked_seq"]),
    )


def _account(a: Mapping[str, Any]) -> AccountColumns:
    closed = a["closed_seq"]
    return AccountColumns(
        str(a["name"]),
        str(a["type"]),
        str(a["display_name"]),
        int(a["opened_seq"]),
        None if closed is None else int(closed),
    )
