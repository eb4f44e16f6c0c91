"""The author's side over HTTP: upload vouchers and post signed payloads to a server.

Used by ``trustledger post --url …``. Errors from the server (RFC 9457 problems)
become :class:`RemoteError` with the problem's ``type`` and ``detail``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.vouchers import sniff
from ledger.errors import InvalidInput
from ledger.storage.appender import SignedPayload


@dataclass
class RemoteError(Exception):
    status: int
    type: str
    detail: str

    def __str__(self) -> str:
        return f"{self.detail} ({self.type}, HTTP {self.status})"


def voucher_descriptor(path: Path, name: str | None = None) -> dict[str, Any]:
    """The ``vouchers`` item describing a file: sha256, media type, size, name."""
    data = path.read_bytes()
    media_type = sniff(data)
    if media_type is None:
        raise InvalidInput(f"{path}: vouchers must be PDF, JPEG, PNG or WebP files")
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "media_type": media_type,
        "size": len(data),
        "name": name or path.name,
    }


class Client:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise RemoteError(
                response.status_code,
                str(problem.get("type", "about:blank")),
                str(problem.get("detail", response.text[:200])),
            )
        body: dict[str, Any] = response.json()
        return body

    def put_voucher(self, estate: str, path: Path) -> dict[str, Any]:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        return self._check(self.http.put(f"/v1/estates/{estate}/vouchers/{sha}", content=data))

    def post(self, signed: SignedPayload, *, propose: bool = False) -> tuple[int, dict[str, Any]]:
        estate = signed.payload.estate
        path = f"/v1/estates/{estate}/{'proposals' if propose else 'entries'}"
        body = {
            "payload": signed.payload.raw,
            "signatures": [s.to_json() for s in signed.signatures],
        }
        response = self.http.post(path, json=body)
        return response.status_code, self._check(response)
