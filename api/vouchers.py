"""Voucher upload and download: content-addressed bytes with an allow-list of types.

The media type is decided from the bytes themselves (magic numbers), never from
what the client claims, and only PDF, JPEG, PNG and WebP are accepted.
"""

from __future__ import annotations

import hashlib
import re

from fastapi.responses import Response

from api.problems import Problem
from ledger.storage.service import LedgerService

_HEX = re.compile(r"[0-9a-f]{64}")


def sniff(data: bytes) -> str | None:
    """The media type these bytes really are, among the allowed ones; else None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _check_name(sha256: str) -> None:
    if not _HEX.fullmatch(sha256):
        raise Problem(
            "invalid-input", "a voucher is named by its lowercase hex SHA-256", field="sha256"
        )


def _refuse_redacted(svc: LedgerService, estate: str, sha256: str) -> None:
    """410 if a redaction entry withdrew these bytes (deleting any left behind)."""
    with svc.reader(estate) as r:  # the estate must exist
        redaction = svc.redaction(r.session, estate, sha256)
    if redaction is not None:
        svc.delete_withdrawn(estate, sha256)  # bytes a crash or a store outage left behind
        seq, reason = redaction
        raise Problem(
            "voucher-redacted", f"withdrawn by entry {seq}: {reason}", seq=seq, reason=reason
        )


def store_voucher(svc: LedgerService, estate: str, sha256: str, data: bytes) -> tuple[bool, str]:
    """Store ``data`` under its hash for ``estate``; (newly stored?, media type).

    Bytes that a redaction withdrew are refused (410) for good.
    """
    _check_name(sha256)
    _refuse_redacted(svc, estate, sha256)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise Problem(
            "voucher-mismatch",
            "the uploaded bytes do not hash to the name in the URL",
            field="sha256",
        )
    media_type = sniff(data)
    if media_type is None:
        raise Problem("unsupported-media-type", "vouchers must be PDF, JPEG, PNG or WebP files")
    # A store that fails raises BlobStoreUnavailable: 503 voucher-store-unavailable.
    return svc.blobs_for(estate).put(sha256, data), media_type


def get_voucher(svc: LedgerService, estate: str, sha256: str) -> Response:
    _check_name(sha256)
    _refuse_redacted(svc, estate, sha256)
    data = svc.blobs_for(estate).get(sha256)
    if data is None:
        raise Problem("not-found", f"no voucher {sha256} in estate {estate}")
    return Response(
        data,
        media_type=sniff(data) or "application/octet-stream",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Disposition": "inline",
        },
    )
