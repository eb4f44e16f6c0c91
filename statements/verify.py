"""Checking a statement file — JSON or PDF — and, given a URL, against the live log.

What is checked, in order, each reported as a named :class:`Check`:

1. PDF only: the PDF signature covers the whole file and is cryptographically
   valid; with a CA certificate, that the signer's certificate chains to it. The
   signed JSON travels inside the PDF as the attachment ``statement.json``.
2. The JSON's Ed25519 signature under the ``vkey`` it names (with ``--url``: that
   key must be one of the log keys the server publishes).
3. With ``--url``: the latest checkpoint verifies under the server's current log
   key; the consistency proof from the statement's size to it verifies (so the log
   published today extends the one the statement was computed from); the leaves
   ``0 … size-1`` hash to the statement's root; and the figures recomputed from
   those leaves equal the statement's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from audits.sources import SourceError
from audits.url import UrlSource
from ledger.canonical import parse_json
from ledger.checkpoint import verify_checkpoint
from ledger.entry import parse_leaf
from ledger.errors import LedgerError
from ledger.merkle import CompactRange, hash_leaf, verify_consistency
from ledger.statement import StatementFold, compare_figures, verify_statement

ATTACHMENT = "statement.json"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    path: str
    estate: str | None = None
    period: str | None = None
    number: int | None = None
    size: int | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


class StatementFileError(Exception):
    """The file cannot be read as a statement at all."""


# -- reading the file ---------------------------------------------------------------------------


def read_statement_file(path: Path) -> tuple[Any, bytes | None]:
    """(the signed JSON document, the PDF bytes or None)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise StatementFileError(f"{path}: {e.strerror or e}") from e
    if data.startswith(b"%PDF-"):
        return _attachment(data), data
    try:
        return parse_json(data), None
    except LedgerError as e:
        raise StatementFileError(f"{path}: not a statement (JSON or PDF): {e.message}") from e


def _attachment(pdf: bytes) -> Any:
    """The ``statement.json`` embedded file of a statement PDF."""
    from io import BytesIO

    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for i in range(0, len(names), 2):
            if str(names[i]) == ATTACHMENT:
                return parse_json(names[i + 1]["/EF"]["/F"].data)
    except (PdfError, KeyError, TypeError, LedgerError) as e:
        raise StatementFileError(f"the PDF carries no readable {ATTACHMENT} ({e})") from e
    raise StatementFileError(f"the PDF carries no {ATTACHMENT} attachment")


def _pdf_checks(report: Report, pdf: bytes, ca: Path | None) -> None:
    from io import BytesIO

    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(BytesIO(pdf), strict=False)
    sigs = reader.embedded_signatures
    if not sigs:
        report.add("pdf-signature", False, "the PDF carries no signature")
        return
    roots = []
    if ca is not None:
        raw = ca.read_bytes()
        if raw.startswith(b"-----"):
            from asn1crypto import pem

            _, _, raw = pem.unarmor(raw)
        roots.append(asn1_x509.Certificate.load(raw))
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = validate_pdf_signature(sigs[-1], context)
    whole = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    report.add(
        "pdf-signature",
        status.intact and status.valid and whole,
        f"signed by {status.signing_cert.subject.human_friendly}; "
        f"intact={status.intact} valid={status.valid} covers whole file={whole}",
    )
    if ca is not None:
        report.add(
            "pdf-certificate",
            status.trusted,
            "the signing certificate chains to the given CA"
            if status.trusted
            else "the signing certificate does not chain to the given CA",
        )


# -- the whole check ----------------------------------------------------------------------------


def verify_file(
    path: Path,
    *,
    url: str | None = None,
    ca: Path | None = None,
    client: httpx.Client | None = None,
) -> Report:
    """Check the statement in ``path``; ``client`` (tests) talks to ``url``."""
    report = Report(str(path))
    signed, pdf = read_statement_file(path)
    if pdf is not None:
        _pdf_checks(report, pdf, ca)
    try:
        vs = verify_statement(signed)
    except LedgerError as e:
        report.add("signature", False, e.message)
        return report
    report.estate, report.period = vs.estate, vs.period.text
    report.number, report.size = vs.statement.get("number"), vs.size
    report.add("signature", True, f"Ed25519 signature by {vs.vkey.split('+')[0]} verifies")
    if url is not None:
        source = UrlSource(url, client=client)
        try:
            _live_checks(report, source, signed, vs.vkey)
        except SourceError as e:
            report.add("live-log", False, str(e))
        finally:
            if client is None:  # a client given by the caller stays the caller's
                source.close()
    return report


def _live_checks(report: Report, source: UrlSource, signed: Any, vkey: str) -> None:
    assert report.estate is not None and report.size is not None
    estate, size = report.estate, report.size
    statement = signed["statement"]
    keys = source.log_keys(estate)
    if not report.add(
        "log-key",
        vkey in {k.vkey for k in keys},
        "the statement's key is one of the log keys the server publishes"
        if vkey in {k.vkey for k in keys}
        else "the statement's key is NOT a log key of this estate",
    ):
        return
    note = next(iter(source.checkpoints(estate))).note
    try:
        cp = verify_checkpoint(note, keys[-1].vkey)
    except LedgerError as e:
        report.add("checkpoint", False, f"the server's checkpoint does not verify: {e.message}")
        return
    report.add("checkpoint", True, f"latest checkpoint: size {cp.size}, signed by the log key")
    root = base64.b64decode(statement["checkpoint"]["root"])
    if size > cp.size:
        report.add(
            "consistency",
            False,
            f"the statement covers {size} entries but the server shows only {cp.size}: "
            "the log was rolled back",
        )
        return
    proof = source.consistency_proof(estate, size, cp.size) if size < cp.size else []
    try:
        verify_consistency(size, cp.size, root, cp.root, proof or [])
        report.add("consistency", True, f"the log of size {cp.size} extends the statement's {size}")
    except LedgerError as e:
        report.add("consistency", False, f"the live log does not extend the statement: {e}")
        return
    _figure_checks(report, source, statement, root)


def _leaves(source: UrlSource, estate: str, size: int) -> Iterator[tuple[int, bytes]]:
    for batch in source.leaf_batches(estate):
        for seq, leaf in batch:
            if seq >= size:
                return
            yield seq, leaf


def _figure_checks(report: Report, source: UrlSource, statement: Any, root: bytes) -> None:
    assert report.estate is not None and report.size is not None
    from ledger.statement import parse_period

    fold = StatementFold(parse_period(statement["period"]["id"]), report.estate)
    tree = CompactRange.empty()
    try:
        for _, leaf in _leaves(source, report.estate, report.size):
            tree.append(hash_leaf(leaf))
            fold.add(parse_leaf(leaf))
    except LedgerError as e:
        report.add("figures", False, f"entry {fold.size} cannot be read: {e.message}")
        return
    if fold.size != report.size or tree.root() != root:
        report.add("leaves", False, "the served leaves do not hash to the statement's root")
        return
    report.add("leaves", True, f"entries 0 … {report.size - 1} hash to the statement's root")
    again = fold.result(
        origin=statement.get("origin", ""),
        root=root,
        issued_at=statement.get("issued_at", ""),
        number=statement.get("number", 1),
        supersedes=statement.get("supersedes"),
    )
    differ = compare_figures(statement, again)
    report.add(
        "figures",
        not differ,
        "every figure equals its recomputation from the entries"
        if not differ
        else "figures differ from the entries: " + ", ".join(differ),
    )


def report_json(report: Report) -> str:
    return json.dumps(
        {
            "path": report.path,
            "ok": report.ok,
            "estate": report.estate,
            "period": report.period,
            "number": report.number,
            "size": report.size,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
        },
        ensure_ascii=False,
        indent=2,
    )
