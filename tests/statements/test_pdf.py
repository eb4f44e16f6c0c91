"""The signed statement PDF, checked with the tools a reader has: poppler, NSS, zbar, pyHanko.

- ``pdfsig`` finds the ``Statement`` signature valid over the whole file; the
  certificate is trusted once the platform CA is in the NSS database given with
  ``-nssdir``, and not trusted without it; one flipped byte anywhere in the signed
  range makes the signature invalid.
- ``pdffonts``: Noto Sans CJK SC is embedded as a subset.
- ``pdftotext``: headings, estate name, closing balance, root, verifier key, check
  URL, the receipts note; the table header on every page of the transaction list;
  ``page x / y`` footers. English labels with ``lang="en"``.
- ``zbarimg`` reads the printed QR code back as exactly the check URL.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from statements import ca
from statements.links import check_url
from statements.pdf import FIELD_NAME, render_pdf, sign_pdf, statement_pdf
from tests.statements.sample import sample_signed, sample_statement, sign_statement

BASE = "https://trustledger.example"
ESTATE = "shifan-garden"
VALID = "Signature Validation: Signature is Valid."
TRUSTED = "Certificate Validation: Certificate is Trusted."


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package}; scripts/system-deps.sh)")
    return path


def run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def squeeze(text: str) -> str:
    """Text without whitespace: pdftotext breaks long lines where the layout wrapped them."""
    return re.sub(r"\s+", "", text)


def page_text(pdf: Path, page: int | None = None) -> str:
    pages = ("-f", str(page), "-l", str(page)) if page else ()
    return run(tool("pdftotext", "poppler-utils"), "-layout", *pages, pdf, "-")


def page_count(pdf: Path) -> int:
    info = run(tool("pdfinfo", "poppler-utils"), pdf)
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])


def pdfsig(pdf: Path, nssdir: Path) -> str:
    return run(tool("pdfsig", "poppler-utils"), "-nssdir", f"sql:{nssdir}", pdf)


def nss_db(folder: Path, ca_cert: Path | None = None) -> Path:
    certutil = tool("certutil", "libnss3-tools")
    folder.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{folder}", "--empty-password"], check=True)
    if ca_cert is not None:
        subprocess.run(
            [certutil, "-A", "-d", f"sql:{folder}", "-n", "trustledger CA", "-t", "CT,CT,CT",
             "-i", str(ca_cert)],
            check=True,
        )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def signed() -> dict[str, Any]:
    return sample_signed()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    ca.init_ca(folder)
    ca.issue_estate_cert(folder, ESTATE, "示范花园小区")
    return folder


@pytest.fixture(scope="module")
def pdf_bytes(signed: dict[str, Any], data_dir: Path) -> bytes:
    return statement_pdf(signed, public_base_url=BASE, data_dir=data_dir)


@pytest.fixture(scope="module")
def pdf(pdf_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "statement.pdf"
    path.write_bytes(pdf_bytes)
    return path


@pytest.fixture(scope="module")
def text(pdf: Path) -> str:
    return page_text(pdf)


@pytest.fixture(scope="module")
def trusting(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nss_db(tmp_path_factory.mktemp("nss") / "db", ca.ca_paths(data_dir)[1])


@pytest.fixture(scope="module")
def empty_nss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nss_db(tmp_path_factory.mktemp("nss") / "db")


# -- the PDF signature ---------------------------------------------------------------------------


def test_pdfsig_finds_a_valid_signature_over_the_whole_file(pdf: Path, empty_nss: Path) -> None:
    out = pdfsig(pdf, empty_nss)
    assert f"Signature Field Name: {FIELD_NAME}" in out
    assert "Signer Certificate Common Name: 示范花园小区" in out
    assert "Signing Hash Algorithm: SHA-256" in out
    assert "Signature Type: ETSI.CAdES.detached" in out  # PAdES
    assert "Total document signed" in out
    assert VALID in out
    assert TRUSTED not in out  # nobody told NSS about the platform CA


def test_pdfsig_trusts_the_certificate_once_the_ca_is_imported(pdf: Path, trusting: Path) -> None:
    out = pdfsig(pdf, trusting)
    assert VALID in out and TRUSTED in out


def test_another_ca_is_not_trusted(pdf: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    ca.init_ca(other)
    out = pdfsig(pdf, nss_db(tmp_path / "nss", ca.ca_paths(other)[1]))
    assert VALID in out and TRUSTED not in out


def signed_range(data: bytes) -> tuple[int, int, int, int]:
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    assert m is not None
    a, b, c, d = (int(x) for x in m.groups())
    return a, b, c, d


@pytest.mark.parametrize("where", ["header", "first-stream", "middle", "after-signature"])
def test_one_flipped_byte_breaks_the_signature(
    pdf_bytes: bytes, trusting: Path, tmp_path: Path, where: str
) -> None:
    start, length, second, second_length = signed_range(pdf_bytes)
    assert start == 0 and second + second_length == len(pdf_bytes)  # the whole file
    stream = pdf_bytes.index(b"stream\n") + len(b"stream\n") + 10
    offset = {
        "header": 11,  # the binary comment after %PDF-1.7
        "first-stream": stream,
        "middle": length // 2,
        "after-signature": second + second_length // 3,
    }[where]
    assert offset < length or offset >= second
    tampered = bytearray(pdf_bytes)
    tampered[offset] ^= 0x01
    path = tmp_path / "tampered.pdf"
    path.write_bytes(bytes(tampered))
    assert VALID not in pdfsig(path, trusting)


def test_pyhanko_validates_the_chain(pdf_bytes: bytes, data_dir: Path) -> None:
    from asn1crypto import x509 as asn1_x509

    ca_der = ca.load_ca(data_dir)[1].public_bytes(ca.serialization.Encoding.DER)
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(ca_der)])
    (sig,) = PdfFileReader(io.BytesIO(pdf_bytes)).embedded_signatures
    assert sig.field_name == FIELD_NAME
    status = validate_pdf_signature(sig, context)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.md_algorithm == "sha256"
    assert status.pkcs7_signature_mechanism in ("ecdsa", "sha256_ecdsa")
    certs = sig.signed_data["certificates"]
    subjects = {c.chosen.subject.human_friendly for c in certs}
    assert len(certs) == 2 and any("示范花园小区" in s for s in subjects)  # estate + CA
    assert sig.sig_object["/Reason"] == "示范花园小区 2026-10 收支公示（第 1 号）"
    assert sig.sig_object["/Location"] == "江苏省常州市新北区示范路 188 号"


def test_signing_needs_the_estate_certificate(signed: dict[str, Any], tmp_path: Path) -> None:
    unsigned = render_pdf(signed, public_base_url=BASE)
    with pytest.raises(ca.CaMissing):
        sign_pdf(unsigned, tmp_path, ESTATE)
    ca.init_ca(tmp_path)
    with pytest.raises(ca.EstateCertMissing):
        sign_pdf(unsigned, tmp_path, ESTATE)


# -- fonts and text ------------------------------------------------------------------------------


def test_the_cjk_font_is_embedded_as_a_subset(pdf: Path) -> None:
    out = run(tool("pdffonts", "poppler-utils"), pdf)
    fonts = {}
    for line in out.splitlines()[2:]:
        cols = line.split()
        fonts[cols[0]] = cols[-5:-3]  # emb, sub
    sc = [n for n in fonts if re.fullmatch(r"[A-Z]{6}\+Noto-Sans-CJK-SC", n)]
    assert sc, out
    assert fonts[sc[0]] == ["yes", "yes"]
    assert all(v == ["yes", "yes"] for v in fonts.values()), out  # nothing left to the reader


def test_the_text_says_what_the_statement_says(signed: dict[str, Any], text: str) -> None:
    st = signed["statement"]
    headings = (
        "收支公示", "概要", "收支分类", "科目余额", "收入明细", "支出明细", "预算执行",
        "专项维修资金", "交易明细", "物业费收缴率", "物业酬金（受托人报酬）", "公共收益",
        "《民法典》第二百八十二条", "第二百八十一条",
    )  # fmt: skip
    for heading in headings:
        assert heading in text, heading
    assert "示范花园小区" in text and "2026年10月" in text
    bank = next(a for a in st["accounts"] if a["account"] == "Assets:Bank:CoManaged")
    closing = f"{Decimal(bank['closing']).scaleb(-2):,.2f}"
    assert closing in text and closing.count(",") >= 1
    assert f"{st['fee_collection']['rate']}%" in text
    flat = squeeze(text)
    cp = st["checkpoint"]
    assert cp["root"] in flat and "+" in cp["root"]
    assert signed["signature"]["vkey"] in flat
    assert check_url(BASE, ESTATE, cp["size"], cp["root"]) in flat
    assert "用手机扫码，核验本公示与账本是否一致" in flat
    assert "物业费收款按日汇总，逐笔明细见JSON公示及网页" in flat
    assert re.search(r"业主缴费 \d+ 笔（按日汇总）", text)
    assert "冲销 #" in text and "已被 #" in text


def test_every_page_has_its_number_and_the_checkpoint(signed: dict[str, Any], pdf: Path) -> None:
    pages = page_count(pdf)
    assert pages >= 4
    size = signed["statement"]["checkpoint"]["size"]
    for n in range(1, pages + 1):
        page = squeeze(page_text(pdf, n))
        assert f"第{n}/{pages}页" in page
        assert f"账本检查点{size}" in page


def test_the_transaction_header_repeats_on_every_page(pdf: Path) -> None:
    pages = page_count(pdf)
    first = next(n for n in range(1, pages + 1) if "交易明细" in page_text(pdf, n))
    assert first < pages, "the transaction list should span pages"
    for n in range(first, pages + 1):
        header = re.search(
            r"日期\s+序号\s+类别\s+对方 / 摘要\s+金额\s+共管账户\s+凭证", page_text(pdf, n)
        )
        assert header, f"page {n} has no table header"


def test_english(signed: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "en.pdf"
    path.write_bytes(render_pdf(signed, public_base_url=BASE, lang="en"))
    text = page_text(path)
    for heading in ("statement of accounts", "October 2026", "Summary", "By category",
                    "Account balances", "Income by category", "Spending by category",
                    "Budget vs. actual", "Special maintenance fund", "Transactions",
                    "Fee collection rate", "Page 1 of"):  # fmt: skip
        assert heading in text, heading
    assert "概要" not in text and "交易明细" not in text
    assert "示范花园小区" in text  # the statement's own words stay as they are


@pytest.mark.slow
def test_the_year_fits_on_sixty_pages(tmp_path: Path) -> None:
    """The demo's year: ~5,200 lines, ~4,700 of them household fee receipts."""
    from tests.statements.sample import year_sample

    signed = year_sample()
    lines = signed["statement"]["lines"]
    assert len(lines) > 5000 and sum(x["household"] for x in lines) > 4500
    path = tmp_path / "year.pdf"
    path.write_bytes(render_pdf(signed, public_base_url=BASE))
    assert page_count(path) <= 60


def test_a_quarter_renders(tmp_path: Path) -> None:
    signed = sign_statement(sample_statement(months=3, receipts_per_month=40))
    path = tmp_path / "q.pdf"
    path.write_bytes(render_pdf(signed, public_base_url=BASE))
    assert "2026年第4季度" in page_text(path, 1)


# -- the QR code, read back ----------------------------------------------------------------------


def test_the_printed_qr_code_reads_as_the_check_url(
    signed: dict[str, Any], pdf: Path, tmp_path: Path
) -> None:
    zbarimg = tool("zbarimg", "zbar-tools")
    pdftoppm = tool("pdftoppm", "poppler-utils")
    subprocess.run(
        [pdftoppm, "-r", "150", "-png", "-f", "1", "-l", "2", pdf, tmp_path / "p"], check=True
    )
    decoded = set()
    for png in sorted(tmp_path.glob("p-*.png")):
        out = subprocess.run([zbarimg, "--raw", "-q", png], capture_output=True, text=True)
        decoded.update(line for line in out.stdout.splitlines() if line)
    cp = signed["statement"]["checkpoint"]
    assert decoded == {check_url(BASE, ESTATE, cp["size"], cp["root"])}
