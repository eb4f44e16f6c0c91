"""Rendering the resident pages: Jinja2 (autoescaped), language choice, security headers.

Every page answer carries a Content-Security-Policy that allows scripts, styles,
images and connections from this origin only, with no inline script or style and no
framing; templates therefore never use ``style=`` or inline handlers, and data
reaches scripts as ``data-*`` attributes or a JSON data block. Templates are
autoescaped: memos, counterparties, account and voucher names are text, never markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.pages.messages import HTML_LANG, LANGS, js_messages, text

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANG_COOKIE = "lang"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def yuan(fen: int, signed: bool = False) -> str:
    """Integer fen as ``¥1,234.56`` (``+``/``−`` in front when ``signed``)."""
    sign = "−" if fen < 0 else ("+" if signed and fen > 0 else "")
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yuan"] = yuan
    # tojson stays HTML-safe (<, >, &, ' escaped) without \u-escaping Chinese text
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    return env


ENV = _env()


def choose_lang(request: Request) -> tuple[str, bool]:
    """(language, whether to remember it): ``?lang=`` first, then the cookie, then zh."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    return (cookie if cookie in LANGS else "zh"), False


def _switch_url(request: Request, lang: str) -> str:
    other = "en" if lang == "zh" else "zh"
    url = request.url.include_query_params(lang=other)
    return f"{url.path}?{url.query}"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` in the request's language with the page security headers."""
    lang, remember = choose_lang(request)

    def t(key: str, /, **values: object) -> str:
        return text(lang, key, **values)

    def period_label(period: str) -> str:
        """``2026-10`` / ``2026-Q4`` / ``2026`` in words; anything else as given."""
        y, _, rest = period.partition("-")
        if not y.isdigit():
            return period
        if not rest:
            return t("period.year", y=int(y))
        if rest.startswith("Q") and rest[1:].isdigit():
            return t("period.quarter", y=int(y), q=int(rest[1:]))
        return t("month", y=int(y), m=int(rest)) if rest.isdigit() else period

    def roles(missing: tuple[tuple[str, ...], ...]) -> str:
        return t("sep.and").join(
            t("sep.or").join(t(f"role.{r}") for r in group) for group in missing
        )

    html = ENV.get_template(template).render(
        lang=lang,
        html_lang=HTML_LANG[lang],
        t=t,
        period_label=period_label,
        roles=roles,
        switch_url=_switch_url(request, lang),
        js_messages=js_messages(lang),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if remember:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True
        )
    return response
