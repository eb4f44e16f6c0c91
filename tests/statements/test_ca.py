"""The platform CA and estate statement certificates: extensions, files, refusals, CLI.

What a PDF reader checks is what is tested: the CA is a CA (critical basic
constraints, may sign certificates and CRLs only), the estate certificate is an
end entity for signatures (digital signature and non-repudiation, emailProtection
for NSS and documentSigning), chained by AKI/SKI and signature to the CA; private
keys are mode 0600; nothing is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID
from typer.testing import CliRunner

from api.cli import app as cli
from ledger.errors import LedgerError
from ledger.storage.service import LedgerService
from statements import ca
from tests.factories import EstateFactory

ESTATE = "shifan-garden"


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ext(cert: x509.Certificate, cls: type[Any]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(cls)


def years(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25


def assert_p256_sha256(cert: x509.Certificate) -> None:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def with_ca(data_dir: Path) -> Path:
    ca.init_ca(data_dir)
    return data_dir


# -- the CA ------------------------------------------------------------------------------------


def test_init_creates_a_self_signed_p256_ca(data_dir: Path) -> None:
    path = ca.init_ca(data_dir)
    key_path, cert_path = ca.ca_paths(data_dir)
    assert path == cert_path == data_dir / "ca" / "ca.crt"
    cert = load_cert(cert_path)
    assert_p256_sha256(cert)
    assert cert.subject == cert.issuer
    assert (
        cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "trustledger 平台 CA"
    )
    cert.verify_directly_issued_by(cert)
    assert 9.9 < years(cert) < 10.1
    assert mode(key_path) == 0o600
    assert "PRIVATE KEY" in key_path.read_text()


def test_ca_extensions(with_ca: Path) -> None:
    cert = load_cert(ca.ca_paths(with_ca)[1])
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature and not ku.value.content_commitment
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def test_init_refuses_to_overwrite(with_ca: Path) -> None:
    key_path, cert_path = ca.ca_paths(with_ca)
    before = key_path.read_bytes(), cert_path.read_bytes()
    with pytest.raises(ca.CaExists) as e:
        ca.init_ca(with_ca, "another CA")
    assert isinstance(e.value, LedgerError) and e.value.code == "ca-exists"
    assert (key_path.read_bytes(), cert_path.read_bytes()) == before


def test_init_refuses_a_half_made_ca(data_dir: Path) -> None:
    ca.init_ca(data_dir)
    ca.ca_paths(data_dir)[1].unlink()  # key without certificate
    with pytest.raises(ca.CaExists):
        ca.init_ca(data_dir)


def test_init_takes_a_name(data_dir: Path) -> None:
    cert = load_cert(ca.init_ca(data_dir, "常州市信托制物业平台 CA"))
    assert cert.subject.rfc4514_string() == "O=trustledger,CN=常州市信托制物业平台 CA"


# -- estate certificates ------------------------------------------------------------------------


def test_issue_needs_the_ca(data_dir: Path) -> None:
    with pytest.raises(ca.CaMissing) as e:
        ca.issue_estate_cert(data_dir, ESTATE, "示范花园小区")
    assert e.value.code == "ca-missing" and "ca init" in e.value.message


def test_estate_certificate(with_ca: Path) -> None:
    path = ca.issue_estate_cert(with_ca, ESTATE, "示范花园小区")
    key_path, cert_path = ca.estate_paths(with_ca, ESTATE)
    assert path == cert_path == with_ca / "ca" / "estates" / f"{ESTATE}.crt"
    assert mode(key_path) == 0o600
    cert, ca_cert = load_cert(cert_path), load_cert(ca.ca_paths(with_ca)[1])
    assert_p256_sha256(cert)
    assert cert.subject.rfc4514_string() == "O=trustledger,CN=示范花园小区"
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    assert 2.9 < years(cert) < 3.1
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36") in eku  # documentSigning, RFC 9336
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(ca_cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    )


def test_reissue_keeps_every_earlier_certificate(with_ca: Path) -> None:
    serials = []
    for _ in range(3):  # within one second: the kept names must still differ
        serials.append(
            load_cert(ca.issue_estate_cert(with_ca, ESTATE, "示范花园小区")).serial_number
        )
    folder = with_ca / "ca" / "estates"
    kept = sorted(p.name for p in folder.iterdir() if p.name.count(".") == 2)
    assert len(kept) == 4, kept  # two earlier key + certificate pairs
    assert len(set(serials)) == 3
    kept_serials = {load_cert(p).serial_number for p in folder.glob(f"{ESTATE}.*.crt")}
    assert kept_serials == set(serials[:2])
    assert all(mode(p) == 0o600 for p in folder.glob(f"{ESTATE}.*.key"))
    assert ca.load_signer(with_ca, ESTATE).cert.serial_number == serials[2]


def test_load_signer(with_ca: Path) -> None:
    ca.issue_estate_cert(with_ca, ESTATE, "示范花园小区")
    signer = ca.load_signer(with_ca, ESTATE)
    assert signer.cert.public_key() == signer.key.public_key()
    assert signer.chain == (signer.cert, signer.ca_cert)
    assert signer.ca_cert == load_cert(ca.ca_paths(with_ca)[1])


def test_load_signer_without_a_certificate(with_ca: Path) -> None:
    with pytest.raises(ca.EstateCertMissing) as e:
        ca.load_signer(with_ca, ESTATE)
    assert (
        e.value.code == "estate-cert-missing" and f"ca issue --estate {ESTATE}" in e.value.message
    )


def test_load_signer_without_the_ca(data_dir: Path) -> None:
    with pytest.raises(ca.CaMissing):
        ca.load_signer(data_dir, ESTATE)


def test_load_signer_refuses_a_certificate_of_another_ca(with_ca: Path) -> None:
    ca.issue_estate_cert(with_ca, ESTATE, "示范花园小区")
    for path in ca.ca_paths(with_ca):
        path.unlink()
    ca.init_ca(with_ca)  # a new CA: the old estate certificate no longer chains to it
    with pytest.raises(ca.EstateCertInvalid) as e:
        ca.load_signer(with_ca, ESTATE)
    assert e.value.code == "estate-cert-invalid"


def test_load_signer_refuses_an_expired_certificate(
    with_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca.issue_estate_cert(with_ca, ESTATE, "示范花园小区")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4 * 366)
    monkeypatch.setattr(ca, "_now", lambda: later)
    with pytest.raises(ca.EstateCertInvalid, match="valid only from"):
        ca.load_signer(with_ca, ESTATE)


@pytest.mark.parametrize("estate", ["../etc", "UPPER", "a", "x/y", ""])
def test_estate_ids_cannot_leave_the_folder(with_ca: Path, estate: str) -> None:
    with pytest.raises(ca.CertificateAuthorityError):
        ca.issue_estate_cert(with_ca, estate, "x")
    assert not (with_ca / "etc.key").exists()


# -- CLI -----------------------------------------------------------------------------------------


def run_cli(*args: str, lang: str = "en", data_dir: Path | None = None) -> Any:
    env = {"TRUSTLEDGER_LANG": lang}
    if data_dir is not None:
        env["TRUSTLEDGER_DATA_DIR"] = str(data_dir)
    return CliRunner().invoke(cli, list(args), env=env)


def test_cli_ca_init(data_dir: Path) -> None:
    r = run_cli("ca", "init", "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output
    assert "created the platform CA" in r.output
    assert (
        load_cert(data_dir / "ca" / "ca.crt")
        .extensions.get_extension_for_class(x509.BasicConstraints)
        .value.ca
    )
    again = run_cli("ca", "init", "--data-dir", str(data_dir), lang="zh")
    assert again.exit_code == 2
    lines = again.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误: 平台 CA 已存在")


def test_cli_ca_init_uses_the_data_dir_setting(data_dir: Path) -> None:
    r = run_cli("ca", "init", data_dir=data_dir)
    assert r.exit_code == 0, r.output
    assert (data_dir / "ca" / "ca.key").exists()


def test_cli_ca_issue(service: LedgerService, estate: EstateFactory) -> None:
    data_dir = service.data_dir
    args = ("ca", "issue", "--estate", estate.id, "--data-dir", str(data_dir))
    db = ("--database-url", service.url)
    before = run_cli(*args, *db)
    assert before.exit_code == 2 and before.output.startswith("error: CA missing")
    assert run_cli("ca", "init", "--data-dir", str(data_dir)).exit_code == 0
    r = run_cli(*args, *db)
    assert r.exit_code == 0, r.output
    cert = load_cert(data_dir / "ca" / "estates" / f"{estate.id}.crt")
    name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert name == "测试小区"  # from the estate's genesis, through the database
    assert f"issued the statement certificate of {estate.id} (测试小区)" in r.output


def test_cli_ca_issue_for_an_unknown_estate(service: LedgerService, estate: EstateFactory) -> None:
    data_dir = service.data_dir
    assert run_cli("ca", "init", "--data-dir", str(data_dir)).exit_code == 0
    r = run_cli(
        "ca", "issue", "--estate", "no-such-estate", "--data-dir", str(data_dir),
        "--database-url", service.url, lang="zh",
    )  # fmt: skip
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and r.output.startswith("错误: 未找到")
    assert not (data_dir / "ca" / "estates").exists()


def test_cli_errors_keep_the_files(data_dir: Path) -> None:
    assert run_cli("ca", "init", "--data-dir", str(data_dir)).exit_code == 0
    copy = data_dir.parent / "copy"
    shutil.copytree(data_dir, copy)
    assert run_cli("ca", "init", "--data-dir", str(data_dir)).exit_code == 2
    for p in (data_dir / "ca").iterdir():
        assert p.read_bytes() == (copy / "ca" / p.name).read_bytes()
