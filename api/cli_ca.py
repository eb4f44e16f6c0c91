"""``trustledger ca``: the platform CA and the estates' statement-signing certificates.

``ca init`` creates the platform CA under ``DATA_DIR/ca`` (never replacing one);
``ca issue --estate ID`` issues (or re-issues, keeping the old files) the
certificate that signs that estate's statement PDFs, named after the estate as
its genesis records it. Readers who import ``ca.crt`` see every statement PDF as
signed by a trusted certificate.

Registered on :data:`api.cli.app` as the ``ca`` sub-command by :mod:`api.cli`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from api.cli import DbUrl, fail, handles_errors
from api.messages import lang
from api.settings import Settings
from ledger.storage.service import LedgerService
from statements import ca

ca_app: typer.Typer = typer.Typer(
    help="Platform CA and the estates' certificates for signing statement PDFs.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory; default: TRUSTLEDGER_DATA_DIR."),
]
F = TypeVar("F", bound=Callable[..., Any])

TEXT = {
    "zh": {
        "ca_created": (
            "已创建平台 CA：证书 {cert}，私钥 {key}（仅本人可读，请离线备份）。"
            "读者导入该证书后，公示 PDF 的签名即显示为可信。"
        ),
        "cert_issued": "已为 {estate}（{name}）签发公示签名证书 {cert}，有效期至 {until}。",
        "ca-error": "证书操作失败",
        "ca-exists": "平台 CA 已存在，不会覆盖",
        "ca-missing": "尚未创建平台 CA",
        "estate-cert-missing": "该小区尚无公示签名证书",
        "estate-cert-invalid": "该小区的公示签名证书不可用",
    },
    "en": {
        "ca_created": (
            "created the platform CA: certificate {cert}, private key {key} (owner-only; "
            "back it up offline). Readers who import the certificate see statement PDFs "
            "as trusted."
        ),
        "cert_issued": (
            "issued the statement certificate of {estate} ({name}): {cert}, valid until {until}"
        ),
        "ca-error": "certificate error",
        "ca-exists": "CA exists",
        "ca-missing": "CA missing",
        "estate-cert-missing": "estate certificate missing",
        "estate-cert-invalid": "estate certificate invalid",
    },
}


def _say(message: str, **values: object) -> str:
    return TEXT[lang()][message].format(**values)


def ca_errors(fn: F) -> F:
    """The CA's refusals as one line with a title in the reader's language."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ca.CertificateAuthorityError as e:
            fail(f"{_say(e.code)}: {e.message}")

    return wrapper  # type: ignore[return-value]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _estate_name(settings: Settings, estate: str, database_url: str | None) -> str:
    """The estate's name as its genesis records it (raises NotFound for an unknown id)."""
    svc = LedgerService(
        database_url or settings.db_url(),
        settings.data_dir,
        settings.log_origin_host,
        blobs=settings.blob_stores(),
    )
    try:
        with svc.reader(estate) as r:
            return r.row.name
    finally:
        svc.engine.dispose()


@ca_app.command("init")
@handles_errors
@ca_errors
def ca_init(
    data_dir: DataDir = None,
    name: Annotated[str, typer.Option("--name", help="The CA's common name.")] = ca.CA_NAME,
) -> None:
    """Create the platform CA (ECDSA P-256, 10 years); refuses if one exists."""
    settings = _settings(data_dir)
    cert = ca.init_ca(settings.data_dir, name)
    key, _ = ca.ca_paths(settings.data_dir)
    typer.echo(_say("ca_created", cert=cert, key=key))


@ca_app.command("issue")
@handles_errors
@ca_errors
def ca_issue(
    estate: Annotated[str, typer.Option("--estate", help="Estate id.")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Issue the estate's statement certificate (a re-issue keeps the old one, renamed)."""
    settings = _settings(data_dir)
    name = _estate_name(settings, estate, database_url)
    path = ca.issue_estate_cert(settings.data_dir, estate, name)
    until = ca.load_signer(settings.data_dir, estate).cert.not_valid_after_utc
    typer.echo(_say("cert_issued", estate=estate, name=name, cert=path, until=f"{until:%Y-%m-%d}"))
