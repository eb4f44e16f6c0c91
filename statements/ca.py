"""The platform CA and the estates' statement-signing certificates (X.509, ECDSA P-256).

A statement PDF carries a PDF signature that ordinary readers (Acrobat, poppler's
``pdfsig``) validate. Those readers know X.509 and ECDSA or RSA, not the estate's
Ed25519 log key, so each estate gets a certificate of its own issued by one
platform CA; a reader that imports the CA certificate sees every statement of
every estate as signed by a trusted certificate.

Files, under ``DATA_DIR/ca/`` (private keys mode 0600, created exclusively)::

    ca.key, ca.crt                      the platform CA (never overwritten)
    estates/<estate>.key, .crt          the estate's current statement certificate
    estates/<estate>.<UTC time>.key, …  earlier ones, kept when re-issued

This module reads and writes only those files; it knows nothing of PDFs (see
:mod:`statements.pdf`) or of the database (the CLI passes the estate's name in).
The certificate signs PDFs only: the statement JSON is signed by the log key.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ledger.errors import LedgerError
from ledger.payload import ESTATE_ID
from ledger.storage.keyfiles import write_secret

CA_NAME = "trustledger 平台 CA"
ORGANIZATION = "trustledger"
CA_YEARS = 10
ESTATE_YEARS = 3
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336); NSS, behind ``pdfsig``, wants emailProtection too."""
BACKDATE = dt.timedelta(minutes=5)
"""Certificates start slightly in the past so a signer whose clock lags accepts them."""


class CertificateAuthorityError(LedgerError):
    """Base of the CA's refusals."""

    code = "ca-error"


class CaExists(CertificateAuthorityError):
    """``ca init`` found a CA (or part of one) already; it is never overwritten."""

    code = "ca-exists"


class CaMissing(CertificateAuthorityError):
    """No platform CA under the data directory: run ``trustledger ca init``."""

    code = "ca-missing"


class EstateCertMissing(CertificateAuthorityError):
    """The estate has no statement certificate: run ``trustledger ca issue``."""

    code = "estate-cert-missing"


class EstateCertInvalid(CertificateAuthorityError):
    """The estate's certificate is expired, not yet valid, or not issued by the CA."""

    code = "estate-cert-invalid"


@dataclass(frozen=True)
class StatementSigner:
    """What the PDF signer needs: the estate's key and certificate, and the CA above it."""

    estate: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    ca_cert: x509.Certificate

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """Signing certificate first, then the CA (the order a CMS certificate set lists)."""
        return (self.cert, self.ca_cert)


# -- paths ---------------------------------------------------------------------------------------


def ca_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "ca"


def ca_paths(data_dir: Path) -> tuple[Path, Path]:
    """(key, certificate) of the platform CA."""
    d = ca_dir(data_dir)
    return d / "ca.key", d / "ca.crt"


def estate_paths(data_dir: Path, estate_id: str) -> tuple[Path, Path]:
    """(key, certificate) of an estate; the id is checked so it cannot leave the folder."""
    if not isinstance(estate_id, str) or not ESTATE_ID.fullmatch(estate_id):
        raise CertificateAuthorityError(f"not an estate id: {estate_id!r}", field="estate")
    d = ca_dir(data_dir) / "estates"
    return d / f"{estate_id}.key", d / f"{estate_id}.crt"


# -- building certificates -----------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _years_later(start: dt.datetime, years: int) -> dt.datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not sign_certs,
        content_commitment=not sign_certs,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def build_ca_cert(key: ec.EllipticCurvePrivateKey, name: str, now: dt.datetime) -> x509.Certificate:
    """A self-signed CA certificate (CA:TRUE, may sign certificates and CRLs only)."""
    public = key.public_key()
    subject = _name(name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(_years_later(now, CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def build_estate_cert(
    public: ec.EllipticCurvePublicKey,
    estate_name: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: dt.datetime,
) -> x509.Certificate:
    """An end-entity certificate for signing the estate's statement PDFs."""
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    not_after = min(_years_later(now, ESTATE_YEARS), ca_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(estate_name))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_certs=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


# -- files ---------------------------------------------------------------------------------------


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_public(path: Path, data: bytes) -> None:
    """Write a certificate (not secret) next to its key, replacing nothing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _load_pair(
    key_path: Path, cert_path: Path
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateAuthorityError(f"{key_path}: not an EC private key")
    return key, x509.load_pem_x509_certificate(cert_path.read_bytes())


def init_ca(data_dir: Path, name: str = CA_NAME) -> Path:
    """Create the platform CA under ``data_dir/ca/``; return the certificate's path.

    Raises :class:`CaExists` if either file is there already: replacing the CA
    would orphan every estate certificate and every reader's trust in it.
    """
    key_path, cert_path = ca_paths(data_dir)
    if key_path.exists() or cert_path.exists():
        raise CaExists(f"a platform CA already exists in {key_path.parent}; it is never replaced")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_ca_cert(key, name, _now())
    write_secret(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def load_ca(data_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = ca_paths(data_dir)
    if not (key_path.exists() and cert_path.exists()):
        raise CaMissing(f"no platform CA in {key_path.parent}; run `trustledger ca init` first")
    return _load_pair(key_path, cert_path)


def _retire(key_path: Path, cert_path: Path, stamp: str) -> None:
    """Keep the current key and certificate under a time-stamped name (never overwriting)."""
    n = 0
    while True:
        tag = stamp if n == 0 else f"{stamp}-{n}"
        kept = [p.with_name(f"{p.stem}.{tag}{p.suffix}") for p in (key_path, cert_path)]
        if not any(k.exists() for k in kept):
            break
        n += 1
    for path, target in zip((key_path, cert_path), kept, strict=True):
        if path.exists():
            path.rename(target)


def issue_estate_cert(data_dir: Path, estate_id: str, estate_name: str) -> Path:
    """Issue (or re-issue) an estate's statement certificate; return its path.

    A previous certificate and key are kept as ``<estate>.<UTC time>.crt|.key``:
    PDFs signed with them stay verifiable, and nothing is ever overwritten.
    """
    key_path, cert_path = estate_paths(data_dir, estate_id)
    if not estate_name.strip():
        raise CertificateAuthorityError("the estate name is empty", field="estate_name")
    ca_key, ca_cert = load_ca(data_dir)
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_estate_cert(key.public_key(), estate_name, ca_key, ca_cert, now)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    _retire(key_path, cert_path, now.strftime("%Y%m%dT%H%M%SZ"))
    write_secret(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def load_signer(data_dir: Path, estate_id: str) -> StatementSigner:
    """The estate's current key and certificate with the CA's, checked to belong together."""
    _, ca_cert = load_ca(data_dir)
    key_path, cert_path = estate_paths(data_dir, estate_id)
    if not (key_path.exists() and cert_path.exists()):
        raise EstateCertMissing(
            f"estate {estate_id} has no statement certificate; "
            f"run `trustledger ca issue --estate {estate_id}`",
            field="estate",
        )
    key, cert = _load_pair(key_path, cert_path)
    _check_estate_cert(estate_id, key, cert, ca_cert)
    return StatementSigner(estate_id, key, cert, ca_cert)


def _check_estate_cert(
    estate_id: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, ca: x509.Certificate
) -> None:
    """Refuse to sign with a certificate readers would reject anyway."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as e:
        raise EstateCertInvalid(
            f"the certificate of estate {estate_id} was not issued by the current platform CA; "
            f"run `trustledger ca issue --estate {estate_id}`"
        ) from e
    if cert.public_key() != key.public_key():
        raise EstateCertInvalid(f"the key of estate {estate_id} does not match its certificate")
    now = _now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise EstateCertInvalid(
            f"the certificate of estate {estate_id} is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}; "
            f"run `trustledger ca issue --estate {estate_id}`"
        )
