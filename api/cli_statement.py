"""``trustledger statement``: publish a period's statement, and verify statement files.

``trustledger statement --estate ID --period P --out DIR`` writes
``DIR/<estate>-<period>.json`` and ``.pdf`` (the period's current statement,
published now if there is none yet; ``--reissue`` publishes a correction).
``trustledger statement verify FILE [--url URL] [--ca CERT]`` checks a JSON or PDF
statement and prints every check; exit 1 when one fails.

Registered on :data:`api.cli.app` by importing this module at the end of
:mod:`api.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from api.cli import DbUrl, app, fail, handles_errors, service
from api.messages import say
from api.settings import Settings

statement_app = typer.Typer(
    help="Signed public statements (公示): publish a period's statement, verify a file.",
    invoke_without_command=True,
)
app.add_typer(statement_app, name="statement")


@statement_app.callback()
@handles_errors
def statement(
    ctx: typer.Context,
    estate: Annotated[str | None, typer.Option("--estate", help="Estate id.")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="2026-10, 2026-Q4 or 2026 (a closed period).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Directory to write into.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="PDF language: zh or en.")] = "zh",
    reissue: Annotated[
        bool, typer.Option("--reissue", help="Publish a correction of the period's statement.")
    ] = False,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the JSON only.")] = False,
    database_url: DbUrl = None,
) -> None:
    """Publish (or fetch the published) statement of a period as JSON and PDF."""
    if ctx.invoked_subcommand is not None:
        return
    if estate is None or period is None or out is None:
        fail(say("statement_usage"))
    if lang not in ("zh", "en"):
        fail(say("statement_lang"))
    from statements import store

    svc = service(database_url)
    svc.require_estate(estate)
    found = store.reissue(svc, estate, period) if reissue else store.publish(svc, estate, period)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{estate}-{found.period}"
    stem.with_suffix(".json").write_bytes(found.document)
    typer.echo(
        say("statement_json", path=stem.with_suffix(".json"), number=found.number, size=found.size)
    )
    if not no_pdf:
        pdf_lang: Literal["zh", "en"] = "en" if lang == "en" else "zh"
        data = store.pdf(svc, estate, found, pdf_lang, Settings().public_base_url)
        stem.with_suffix(".pdf").write_bytes(data)
        typer.echo(say("statement_pdf", path=stem.with_suffix(".pdf")))


@statement_app.command("verify")
@handles_errors
def statement_verify(
    file: Annotated[Path, typer.Argument(help="A statement: .json or .pdf.")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Also check against the live log at this server."),
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="Platform CA certificate to trust (PDF).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a statement's signatures and, with --url, that the live log matches it."""
    from statements.verify import StatementFileError, report_json, verify_file

    try:
        report = verify_file(file, url=url, ca=ca)
    except StatementFileError as e:
        fail(str(e))
    if as_json:
        typer.echo(report_json(report))
    else:
        for check in report.checks:
            mark = "✓" if check.ok else "✗"
            typer.echo(f"{mark} {check.name}: {check.detail}")
        verdict = "statement_ok" if report.ok else "statement_bad"
        typer.echo(say(verdict, estate=report.estate, period=report.period))
    if not report.ok:
        raise typer.Exit(1)
