"""RFC 9457 problem details: the one place where errors become HTTP.

Every failure has a stable ``type`` — the relative URI ``/problems/<code>``, which
the service also serves as documentation — a status, a title, a ``detail`` and,
where known, the offending ``field``. The core's error classes carry the code;
this module maps codes to statuses and never lets a stack trace reach a client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ledger.errors import LedgerError
from ledger.storage.blobs import BlobStoreUnavailable

log = logging.getLogger("trustledger.api")
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str


_TYPES = [
    ProblemType("malformed-json", 400, "The request body is not valid JSON"),
    ProblemType("invalid-input", 422, "The input is not well formed"),
    ProblemType("invalid-text", 422, "Text is not valid UTF-8 or carries control characters"),
    ProblemType("not-nfc", 422, "Text is not in Unicode NFC form"),
    ProblemType("invalid-amount", 422, "Amounts are integers in fen within bounds"),
    ProblemType("unknown-kind", 422, "Unknown kind of entry"),
    ProblemType("wrong-estate", 422, "The payload is for another estate"),
    ProblemType("signature-error", 403, "The signatures are not acceptable"),
    ProblemType("invalid-signature", 403, "A signature does not verify"),
    ProblemType("unknown-key", 403, "A signature's key is not registered in this estate"),
    ProblemType("revoked-key", 403, "A signature's key has been revoked"),
    ProblemType("duplicate-signature", 422, "The same key signed twice"),
    ProblemType("missing-signature", 403, "The policy asks for a signature that is missing"),
    ProblemType("accounting-error", 422, "The entry breaks double-entry rules"),
    ProblemType("unbalanced-postings", 422, "Postings do not sum to zero"),
    ProblemType("unknown-account", 422, "An account is not open"),
    ProblemType("account-state", 409, "The account's state does not allow this"),
    ProblemType("invalid-reversal", 409, "The reversal's target cannot be reversed"),
    ProblemType("id-conflict", 409, "The payload id is already used with other content"),
    ProblemType("not-found", 404, "Not found"),
    ProblemType("receipt-not-found", 404, "No fee receipt in the log matches the receipt code"),
    ProblemType("missing-voucher", 422, "A referenced voucher has not been uploaded"),
    ProblemType("log-state", 409, "The log's state does not allow this"),
    ProblemType("proof-error", 400, "No such proof"),
    ProblemType("root-mismatch", 400, "Root hash mismatch"),
    ProblemType("bad-note", 422, "Malformed or unverifiable signed note"),
    ProblemType("period-not-closed", 409, "Statements cover periods that have ended"),
    ProblemType("statement-invalid", 422, "The statement does not verify"),
    ProblemType("ca-error", 422, "The statement certificate authority refused this"),
    ProblemType("ca-exists", 409, "The platform CA exists already and is never replaced"),
    ProblemType("ca-missing", 503, "Statement PDFs are not set up: no platform CA"),
    ProblemType("estate-cert-missing", 503, "Statement PDFs are not set up for this estate"),
    ProblemType("estate-cert-invalid", 503, "The estate's statement certificate is not usable"),
    ProblemType("voucher-mismatch", 422, "The voucher's bytes do not hash to its name"),
    ProblemType("unsupported-media-type", 415, "Voucher type not allowed"),
    ProblemType("voucher-redacted", 410, "The voucher was withdrawn"),
    ProblemType("voucher-store-unavailable", 503, "The voucher store is not available now"),
    ProblemType("payload-too-large", 413, "The request is too large"),
    ProblemType("unauthorized", 401, "An operator token is needed"),
    ProblemType("forbidden", 403, "The token does not allow this"),
    ProblemType("rate-limited", 429, "Too many requests"),
    ProblemType("method-not-allowed", 405, "Method not allowed"),
    ProblemType("unavailable", 503, "The service is temporarily unavailable"),
    ProblemType("internal-error", 500, "Internal error"),
]
TYPES = {t.code: t for t in _TYPES}


def type_uri(code: str) -> str:
    return f"/problems/{code}"


def problem(
    code: str, detail: str, *, field: str | None = None, status: int | None = None, **extra: Any
) -> JSONResponse:
    t = TYPES.get(code, TYPES["invalid-input"])
    body: dict[str, Any] = {
        "type": type_uri(t.code),
        "title": t.title,
        "status": status or t.status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"Retry-After": "5"} if t.status in (429, 503) else None
    if t.status == 401:  # RFC 9110 §11.6.1: a 401 says which scheme to use
        headers = {"WWW-Authenticate": 'Bearer realm="trustledger operator"'}
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


class Problem(Exception):
    """Raised at the edge for failures that are not ledger errors (tokens, limits…)."""

    def __init__(self, code: str, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.field, self.extra = code, detail, field, extra


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


ANSWERED = (
    LedgerError,
    Problem,
    RequestValidationError,
    StarletteHTTPException,
    OperationalError,
    BlobStoreUnavailable,
)
"""The failures with a problem type of their own (:func:`response_for`)."""


def response_for(exc: Exception) -> JSONResponse | None:
    """The problem answering ``exc``, for every failure with its own problem type;
    None for anything else (an internal error: see ``install``)."""
    if isinstance(exc, LedgerError):
        extra = {
            k: _plain(v)
            for k, v in exc.data.items()
            if k in ("index", "seq", "role", "rule", "key")
        }
        return problem(exc.code, exc.message, field=exc.field, **extra)
    if isinstance(exc, Problem):
        return problem(exc.code, exc.detail, field=exc.field, **exc.extra)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return problem("invalid-input", f"{loc}: {first.get('msg', 'invalid')}", field=loc or None)
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
            exc.status_code, "invalid-input"
        )
        response = problem(code, str(exc.detail), status=exc.status_code)
        response.headers.update(exc.headers or {})  # a 405's Allow (RFC 9110 §15.5.6)
        return response
    if isinstance(exc, OperationalError):
        log.warning("database unavailable: %s", str(exc).splitlines()[0])
        return problem("unavailable", "the database is not reachable; try again shortly")
    if isinstance(exc, BlobStoreUnavailable):
        log.error("voucher store unavailable: %s", exc)
        return problem(
            "voucher-store-unavailable",
            "the voucher store is not available now; nothing was changed, try again later",
        )
    return None


async def _answer(request: Request, exc: Exception) -> Response:
    response = response_for(exc)
    if response is None:  # registered only for the kinds response_for answers
        raise exc
    return response


def install(app: FastAPI) -> None:
    from api.examples import document_examples
    from api.schemas import document_problems

    openapi = app.openapi

    def openapi_with_problems() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = document_examples(document_problems(openapi()))
        return app.openapi_schema

    app.openapi = openapi_with_problems  # type: ignore[method-assign]

    for kind in ANSWERED:
        app.add_exception_handler(kind, _answer)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem("internal-error", "an internal error occurred; it has been logged")
