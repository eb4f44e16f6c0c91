"""The resident pages: server-rendered HTML under ``/`` and ``/e/{estate}``, no login.

Reading works without JavaScript; the scripts under ``/static/js`` add verification
(every verdict is computed in the browser from the public JSON API) and infinite
scrolling. Errors are pages too (404, 400), never JSON. Not in the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api.deps import get_service
from api.pages import views
from api.pages.render import render
from api.routes_query import decode_cursor, encode_cursor, tx_filter
from ledger.errors import InvalidInput, NotFound, ProofError
from ledger.household import make_commitment, parse_receipt_code
from ledger.storage import overview, queries, reports
from ledger.storage.queries import TxFilter
from ledger.storage.service import LedgerService

PAGE = 50
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
ESTATE = Annotated[str, Path(max_length=64)]


class PageRoute(APIRoute):
    """A route whose failures are rendered as pages (404 / 400) in the reader's language."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound as e:
                return render(request, "error.html", 404, kind="not_found", detail=e.message)
            except (InvalidInput, ProofError) as e:
                return render(request, "error.html", 400, kind="bad_request", detail=e.message)
            except RequestValidationError as e:
                detail = "; ".join(str(err.get("msg", "")) for err in e.errors())
                return render(request, "error.html", 400, kind="bad_request", detail=detail)

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)
Svc = Annotated[LedgerService, Depends(get_service)]


@router.get("/")
def index(request: Request, svc: Svc, q: Annotated[str, Query(max_length=100)] = "") -> Response:
    estates = svc.estates()
    needle = q.strip().casefold()
    found = [e for e in estates if needle in e.name.casefold() or needle in e.id.casefold()]
    return render(request, "index.html", q=q.strip(), estates=found, total=len(estates))


@router.get("/e/{estate}")
def estate_page(request: Request, estate: ESTATE, svc: Svc) -> Response:
    view = views.estate_overview(svc, estate, svc.clock().date())
    return render(request, "estate.html", estate=estate, o=view)


# -- transactions -----------------------------------------------------------------------------


def _filter(month: str, category: str, account: str, q: str) -> TxFilter:
    start = end = None
    if month:
        if not MONTH.fullmatch(month):
            raise InvalidInput(f"month: expected YYYY-MM, got {month!r}", field="month")
        period = reports.parse_period(month)
        start, end = period.start.isoformat(), period.end.isoformat()
    return tx_filter(
        from_=start,
        to=end,
        account=account or None,
        category=category or None,
        counterparty=None,
        q=q or None,
    )


def _tx_page(
    svc: LedgerService, estate: str, params: dict[str, str], cursor: str | None
) -> dict[str, Any]:
    """One page of rows, the totals of the whole filtered range, the next page's query."""
    try:
        flt = _filter(params["month"], params["category"], params["account"], params["q"])
        after = None if not cursor else decode_cursor(cursor)
    except InvalidInput as e:
        return {"error": e.message, "rows": [], "totals": None, "next_query": None}
    with svc.reader(estate) as r:
        rows = queries.list_transactions(
            r.session, estate, flt, after=after, limit=PAGE + 1, details=False
        )
        totals = queries.transaction_totals(r.session, estate, flt) if cursor is None else None
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    shown = {k: v for k, v in params.items() if v}
    next_query = urlencode({**shown, "cursor": encode_cursor(rows[-1].seq)}) if more else None
    return {"error": None, "rows": rows, "totals": totals, "next_query": next_query}


def _tx_params(month: str, category: str, account: str, q: str) -> dict[str, str]:
    return {
        "month": month.strip(),
        "category": category.strip(),
        "account": account,
        "q": q.strip(),
    }


Text = Annotated[str, Query(max_length=200)]


@router.get("/e/{estate}/transactions")
def transactions_page(
    request: Request,
    estate: ESTATE,
    svc: Svc,
    month: Text = "",
    category: Text = "",
    account: Text = "",
    q: Text = "",
    cursor: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    params = _tx_params(month, category, account, q)
    page = _tx_page(svc, estate, params, cursor)
    with svc.reader(estate) as r:
        chart = queries.chart(r.session, estate)
        cats = overview.categories(r.session, estate)
        name = r.row.name
    api = {"from": "", "to": "", "account": params["account"], "category": params["category"]}
    if params["month"] and MONTH.fullmatch(params["month"]):
        p = reports.parse_period(params["month"])
        api["from"], api["to"] = p.start.isoformat(), p.end.isoformat()
    api["q"] = params["q"]
    csv_query = urlencode({k: v for k, v in api.items() if v})
    return render(
        request,
        "transactions.html",
        estate=estate,
        estate_name=name,
        params=params,
        chart=chart,
        categories=cats,
        csv_url=f"/v1/estates/{estate}/transactions.csv" + (f"?{csv_query}" if csv_query else ""),
        paged=cursor is not None,
        **page,
    )


@router.get("/e/{estate}/transactions/rows")
def transaction_rows(
    request: Request,
    estate: ESTATE,
    svc: Svc,
    month: Text = "",
    category: Text = "",
    account: Text = "",
    q: Text = "",
    cursor: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    """The next rows as an HTML fragment, for the page's infinite scrolling."""
    page = _tx_page(svc, estate, _tx_params(month, category, account, q), cursor)
    return render(request, "_tx_rows.html", estate=estate, fragment=True, **page)


# -- one entry, statements ----------------------------------------------------------------------


@router.get("/e/{estate}/entries/{seq}")
def entry_page(
    request: Request, estate: ESTATE, seq: Annotated[int, Path(ge=0, le=2**53)], svc: Svc
) -> Response:
    return render(request, "entry.html", estate=estate, e=views.entry_view(svc, estate, seq))


@router.get("/e/{estate}/statements")
def statements_page(request: Request, estate: ESTATE, svc: Svc) -> Response:
    with svc.reader(estate) as r:
        items, closed = views.statement_list(r, estate, svc.clock().date())
        name = r.row.name
    return render(
        request, "statements.html", estate=estate, estate_name=name, items=items, closed=closed
    )


# -- verification pages -------------------------------------------------------------------------


@router.get("/e/{estate}/check")
def check_page(
    request: Request,
    estate: ESTATE,
    svc: Svc,
    size: str = "",
    root: str = "",
) -> Response:
    """The QR code's page: the parameters are shown as given (cut short); the browser
    judges them, so a malformed one gets a failed verdict rather than an error page."""
    with svc.reader(estate) as r:
        name = r.row.name
    return render(
        request, "check.html", estate=estate, estate_name=name, size=size[:40], root=root[:100]
    )


@router.get("/e/{estate}/receipt")
def receipt_page(request: Request, estate: ESTATE, svc: Svc) -> Response:
    with svc.reader(estate) as r:
        name = r.row.name
    return render(request, "receipt.html", estate=estate, estate_name=name, found=None)


@router.post("/e/{estate}/receipt")
async def receipt_form(request: Request, estate: ESTATE, svc: Svc) -> Response:
    """Without JavaScript the form posts here: the server's answer, marked as unverified.

    The code travels in the body, never in the URL (it holds the household's salt).
    """
    body = (await request.body())[:1000].decode("utf-8", "replace")
    code = (parse_qs(body).get("code") or [""])[0].strip()
    found: Any = False
    with svc.reader(estate) as r:
        name = r.row.name
        try:
            seq, salt, unit = parse_receipt_code(code)
        except InvalidInput:
            seq = None
        if seq is not None:
            found = reports.find_receipt(r.session, estate, seq, make_commitment(salt, unit))
    response = render(
        request, "receipt.html", estate=estate, estate_name=name, found=found or False
    )
    response.headers["Cache-Control"] = "no-store"  # the answer concerns one household
    return response
