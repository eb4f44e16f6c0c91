"""Operations: liveness, readiness (database and migrations), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.problems import TYPES, ProblemType, problem, type_uri
from ledger.storage.db import schema_is_current

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable, schema current, voucher store answering")
def readyz(request: Request) -> Response:
    svc = request.app.state.service
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = schema_is_current(svc.engine, svc.url)
    except Exception as e:  # any database failure means not ready
        return problem("unavailable", f"database not reachable: {type(e).__name__}")
    if not current:
        return problem(
            "unavailable", "database schema is not at the newest migration; run `trustledger init`"
        )
    try:
        svc.blobs.check()
    except OSError as e:
        return problem("unavailable", f"voucher store not reachable: {e}")
    return JSONResponse({"status": "ready"})


@router.get("/problems", summary="Every problem type this API answers with")
def problem_types() -> dict[str, list[dict[str, object]]]:
    return {"problems": [_describe(t) for t in TYPES.values()]}


@router.get("/problems/{code}", summary="One problem type (the target of a problem's `type`)")
def problem_type(code: str) -> Response:
    t = TYPES.get(code)
    if t is None:
        return problem("not-found", f"no problem type {code!r}")
    return JSONResponse(_describe(t))


def _describe(t: ProblemType) -> dict[str, object]:
    return {"type": type_uri(t.code), "code": t.code, "status": t.status, "title": t.title}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
