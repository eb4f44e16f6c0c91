"""Operator authentication: ``Authorization: Bearer tlop_…`` checked against stored hashes.

``require_operator`` guards every operator route. No header, or one that is not a
well-formed bearer token, is ``401 unauthorized``; a token that is unknown or
revoked is ``403 forbidden`` (the same answer for both). Tokens are compared as
SHA-256 hashes in constant time (:mod:`ledger.storage.tokens`) and never logged,
echoed or stored.

Failed attempts are counted per client address in a strict bucket of their own;
once a client has used it up, every attempt from it is ``429`` until the bucket
refills — a correct token included, so guessing cannot go on at full speed.
"""

from __future__ import annotations

import logging

from fastapi import Request

from api.problems import Problem
from api.ratelimit import RateLimiter
from ledger.storage.service import LedgerService
from ledger.storage.tokens import OperatorToken, well_formed

log = logging.getLogger("trustledger.auth")


class FailureLimiter(RateLimiter):
    """A token bucket that only failures draw from; :meth:`blocked` looks without drawing."""

    def blocked(self, client: str) -> bool:
        return self.buckets is not None and self.buckets.empty(client)

    def failed(self, client: str) -> None:
        self.allow(client)


def _refuse(request: Request, client: str, code: str, detail: str, reason: str) -> Problem:
    request.app.state.auth_limiter.failed(client)
    log.warning(
        "operator authentication failed",
        extra={"client": client, "reason": reason, "path": request.url.path},
    )
    return Problem(code, detail)


def require_operator(request: Request) -> OperatorToken:
    """The dependency of operator routes: the caller's valid operator token record."""
    limiter: FailureLimiter = request.app.state.auth_limiter
    client = request.client.host if request.client else "unknown"
    if limiter.blocked(client):
        raise Problem("rate-limited", "too many failed operator authentications from this address")
    header = request.headers.get("authorization")
    if header is None:
        raise Problem("unauthorized", "this action needs an operator token: Bearer tlop_…")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not well_formed(token):
        raise _refuse(
            request,
            client,
            "unauthorized",
            "the Authorization header must be 'Bearer ' and an operator token (tlop_…)",
            "malformed",
        )
    svc: LedgerService = request.app.state.service
    record = svc.find_operator_token(token)
    if record is None or not record.active:
        raise _refuse(
            request,
            client,
            "forbidden",
            "the operator token is unknown or has been revoked",
            "unknown" if record is None else "revoked",
        )
    return record
