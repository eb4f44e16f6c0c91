"""The statement as a signed PDF for the notice board (weasyprint, pyHanko).

:func:`render_pdf` lays out a signed statement (docs/statements.md) as an A4 PDF
in Chinese (or English) with the Noto Sans CJK SC font embedded as a subset:
summary page, bar chart, QR code to the live check, tables and every transaction
line (household fee receipts summed per day). :func:`sign_pdf` adds a PAdES
signature (ECDSA P-256, SHA-256) by the estate's statement certificate from
:mod:`statements.ca`, with the CA certificate in the signature, so a reader that
trusts the platform CA shows the statement as signed and unmodified.

The PDF signature proves who issued the file; what the figures prove comes from
the JSON statement's log-key signature and the checkpoint the QR code carries.
Reads the estate's key and certificate from ``data_dir``; writes nothing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ledger.canonical import canonical_json
from statements.ca import StatementSigner, load_signer
from statements.links import check_url
from statements.page import page_context
from statements.view import format_fen

__all__ = ["check_url", "render_html", "render_pdf", "sign_pdf", "statement_pdf"]

FIELD_NAME = "Statement"
REASON = "小区收支公示：由 trustledger 平台按账本检查点生成并签署"
LOCATION = "trustledger 信托制物业账本平台"


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("statements", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fen"] = format_fen
    return env


def render_html(signed: Mapping[str, Any], *, public_base_url: str, lang: str = "zh") -> str:
    """The statement as one self-contained HTML document (CSS and SVG inline)."""
    context = page_context(signed, public_base_url, lang)
    return _templates().get_template("statement.html.j2").render(**context)


from statements.verify import ATTACHMENT  # noqa: E402 - one name for writer and reader


def render_pdf(signed: Mapping[str, Any], *, public_base_url: str, lang: str = "zh") -> bytes:
    """The unsigned A4 PDF of a signed statement, in ``lang`` (``zh`` or ``en``)."""
    import weasyprint  # slow to import; only the PDF path needs it
    from weasyprint.urls import URLFetcher

    html = render_html(signed, public_base_url=public_base_url, lang=lang)
    st = signed["statement"]
    # Everything is inline: the renderer may fetch nothing (no file, no network).
    offline = URLFetcher(allowed_protocols=(), allow_redirects=False)
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=offline)
    # The signed JSON travels inside the PDF (``statement verify`` reads it from there).
    attachment = weasyprint.Attachment(
        file_obj=io.BytesIO(canonical_json(signed)),
        name=ATTACHMENT,
        description="signed statement (JSON, docs/statements.md)",
        url_fetcher=offline,
    )
    pdf: bytes = document.write_pdf(
        uncompressed_pdf=False,
        custom_metadata=True,
        pdf_identifier=_identifier(st),
        attachments=[attachment],
    )
    return pdf


def _identifier(st: Mapping[str, Any]) -> bytes:
    """A stable PDF /ID: the same statement gives the same identifier."""
    cp = st["checkpoint"]
    return f"{st['estate']['id']}/{st['period']['id']}/{st['number']}/{cp['size']}".encode()


def _pyhanko_signer(signer: StatementSigner) -> signers.SimpleSigner:
    der = serialization.Encoding.DER
    key = signer.key.private_bytes(
        der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert = asn1_x509.Certificate.load(signer.cert.public_bytes(der))
    ca = asn1_x509.Certificate.load(signer.ca_cert.public_bytes(der))
    return signers.SimpleSigner(
        signing_cert=cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(key),
        cert_registry=SimpleCertificateStore.from_certs([ca]),  # type: ignore[no-untyped-call]
        embed_roots=True,  # the CA goes into the CMS: readers get the whole chain
    )


def sign_pdf(
    pdf: bytes,
    data_dir: Path,
    estate_id: str,
    *,
    reason: str = REASON,
    location: str = LOCATION,
) -> bytes:
    """``pdf`` with a PAdES signature (field ``Statement``) by the estate's certificate.

    Raises :class:`statements.ca.CaMissing` / :class:`~statements.ca.EstateCertMissing`
    when the CA or the estate certificate has not been created.
    """
    signer = _pyhanko_signer(load_signer(Path(data_dir), estate_id))
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = signers.PdfSigner(meta, signer=signer).sign_pdf(writer)
    signed: bytes = out.getvalue()
    return signed


def statement_pdf(
    signed: Mapping[str, Any], *, public_base_url: str, data_dir: Path, lang: str = "zh"
) -> bytes:
    """Render and sign: the PDF as published at ``/statements/{period}.pdf``."""
    st = signed["statement"]
    pdf = render_pdf(signed, public_base_url=public_base_url, lang=lang)
    reason = f"{st['estate']['name']} {st['period']['id']} 收支公示（第 {st['number']} 号）"
    location = st["estate"].get("address") or LOCATION
    return sign_pdf(pdf, data_dir, st["estate"]["id"], reason=reason, location=location)
