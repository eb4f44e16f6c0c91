"""``trustledger audit`` and ``trustledger export``: the auditor's commands.

``audit`` reads one source — the database (default), a live server's public API
(``--url``) or an exported bundle (``--bundle``) — runs every check of
:mod:`audits`, and prints a summary (``--json`` for machines, ``--html`` for a
report to hand over). Exit codes: 0 clean, 1 findings, 2 the audit could not run
(bad arguments, unreachable source, unreadable input) — never 0 on doubt.

``export`` writes an estate's offline bundle (a directory, or a ``.tar``).

Registered on :data:`api.cli.app` by importing this module at the end of
:mod:`api.cli`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from api.cli import DbUrl, app, fail, handles_errors, service
from api.settings import Settings
from audits.run import AuditOptions, AuditReport, run_audit
from audits.run import Progress as ProgressFn
from audits.since import origin_of
from audits.sources import AuditSource, SourceError

SMALL = 5_000
"""Logs below this many entries get no progress bar."""


def _open_source(database_url: str | None, url: str | None, bundle: Path | None) -> AuditSource:
    chosen = [
        name
        for name, v in (("--database-url", database_url), ("--url", url), ("--bundle", bundle))
        if v
    ]
    if len(chosen) > 1:
        fail(f"choose one source: {' or '.join(chosen)}")
    if url:
        from audits.url import UrlSource

        return UrlSource(url)
    if bundle:
        from audits.bundle import BundleSource

        return BundleSource(bundle)
    from audits.db import DatabaseSource

    settings = Settings()
    return DatabaseSource(
        database_url or settings.db_url(), settings.data_dir, blobs=settings.blob_stores()
    )


def _since(path: Path | None, estates: list[str]) -> tuple[str | None, list[str]]:
    """The saved checkpoint's text, and the estate it is for (from its origin if not given)."""
    if path is None:
        return None, estates
    try:
        note = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{path}: {getattr(e, 'strerror', None) or e}")
    origin = origin_of(note) or ""
    if not estates:
        if "/estates/" not in origin:
            fail(f"{path}: not a trustledger checkpoint (origin {origin!r}); give --estate")
        estates = [origin.rsplit("/", 1)[1]]
    if len(estates) != 1:
        fail("--since-checkpoint concerns one estate; give one --estate")
    return note, estates


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressFn | None]:
    """A progress bar on stderr (entries/s and ETA) for long audits on a terminal."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(estate: str, done: int, total: int | None) -> None:
        if total is not None and total < SMALL:
            return
        if estate not in tasks:
            tasks[estate] = bar.add_task(estate, total=total, rate="")
        task = tasks[estate]
        bar.update(task, completed=done)
        speed = bar.tasks[task].speed
        bar.update(task, rate="" if not speed else f"{speed:,.0f} entries/s")

    with bar:
        yield update


def _emit(report: AuditReport, as_json: bool, html_file: Path | None) -> None:
    from audits.report import print_summary, render_html, to_json

    if html_file is not None:
        try:
            html_file.write_text(render_html(report), "utf-8")
        except OSError as e:
            fail(f"{html_file}: {e.strerror or e}")
    if as_json:
        sys.stdout.write(json.dumps(to_json(report), ensure_ascii=False, indent=2) + "\n")
        print_summary(report, Console(stderr=True))
    else:
        print_summary(report, Console())


@app.command()
def audit(
    database_url: DbUrl = None,
    estate: Annotated[
        list[str] | None, typer.Option("--estate", help="Estate id (repeatable); default: all.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Audit a live server through its public API.")
    ] = None,
    since_checkpoint: Annotated[
        Path | None,
        typer.Option("--since-checkpoint", help="A checkpoint saved earlier the log must extend."),
    ] = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Audit an exported bundle (dir or .tar).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable report on stdout.")
    ] = False,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a standalone HTML report here.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Processes parsing leaves (0: one per core).")
    ] = 0,
) -> None:
    """Re-derive everything from the leaves and name every break.

    Exit 0 clean, 1 findings, 2 the audit could not run.
    """
    note, estates = _since(since_checkpoint, list(estate or []))
    try:
        source = _open_source(database_url, url, bundle)
        try:
            with _progress(not as_json) as progress:
                options = AuditOptions(tuple(estates), workers, since=note, progress=progress)
                report = run_audit(source, options)
        finally:
            source.close()
    except SourceError as e:
        fail(f"audit could not run: {e}")
    except typer.Exit:
        raise
    except Exception as e:  # never 0 on doubt: any failure is exit 2
        fail(f"audit could not run: {type(e).__name__}: {e}")
    _emit(report, as_json, html_file)
    raise typer.Exit(0 if report.clean else 1)


@app.command()
def export(
    estate: Annotated[str, typer.Option("--estate", help="Estate id.")],
    out: Annotated[Path, typer.Option("--out", help="Directory, or a file ending in .tar.")],
    database_url: DbUrl = None,
) -> None:
    """Write an estate's offline audit bundle: leaves, checkpoints, log keys, vouchers, README."""
    from audits.db import DatabaseSource
    from audits.export import export_bundle

    settings = Settings()
    try:
        source = DatabaseSource(
            database_url or settings.db_url(), settings.data_dir, blobs=settings.blob_stores()
        )
        try:
            summary: dict[str, Any] = export_bundle(source, estate, out)
        finally:
            source.close()
    except (SourceError, OSError, FileExistsError) as e:
        fail(f"export failed: {e}")
    typer.echo(
        f"exported {estate}: {summary['size']} entries, {summary['checkpoints']} checkpoints, "
        f"{summary['vouchers']} vouchers -> {out}"
    )


@app.command("import")
@handles_errors
def import_bundle(
    bundle: Annotated[Path, typer.Option("--bundle", help="An exported bundle (dir or .tar).")],
    database_url: DbUrl = None,
) -> None:
    """Restore an estate from its exported bundle into a database that does not hold it.

    Every entry is validated again and must come out byte for byte; the log-key files
    (DATA_DIR/logkeys) must be restored from their own backup first.
    """
    from audits.bundle import BundleSource
    from audits.restore import restore_estate

    svc = service(database_url)
    try:
        source = BundleSource(bundle)
    except SourceError as e:
        fail(f"import failed: {e}")
    try:
        estates = source.estates()
        if len(estates) != 1:
            fail(f"import failed: the bundle holds {len(estates)} estates, not one")
        done = restore_estate(svc, source, estates[0])
    except SourceError as e:
        fail(f"import failed: {e}")
    finally:
        source.close()
    typer.echo(
        f"restored {done.estate}: {done.size} entries, {done.checkpoints} checkpoints, "
        f"{done.vouchers} vouchers, {done.statements} statements; root {done.root}"
    )


@app.command()
def reconcile(
    estate: Annotated[str, typer.Option("--estate", help="Estate id.")],
    bank_csv: Annotated[Path, typer.Option("--bank-csv", help="The bank's CSV statement.")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="JSON naming the statement's columns.")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Ledger account; default: all Assets:Bank:*.")
    ] = None,
    database_url: DbUrl = None,
    url: Annotated[str | None, typer.Option("--url", help="Read the ledger from a server.")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Read it from a bundle.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Match the co-managed account's bank statement against the ledger.

    Exit 0 reconciled, 1 differences, 2 could not run.
    """
    from audits.bankcsv import Mapping, StatementError, read_statement
    from audits.reconcile import reconcile as run_reconcile
    from audits.report_reconcile import print_reconciliation, reconciliation_json

    try:
        columns = Mapping.from_json(mapping.read_bytes()) if mapping else None
        lines = read_statement(bank_csv.read_bytes(), columns)
        source = _open_source(database_url, url, bundle)
        try:
            if estate not in source.estates():
                fail(f"estate {estate!r} is not in this {source.kind}")
            result = run_reconcile(source, estate, lines, account)
        finally:
            source.close()
    except (StatementError, SourceError) as e:
        fail(f"reconciliation could not run: {e}")
    except OSError as e:
        fail(f"{e.filename}: {e.strerror or e}")
    if as_json:
        sys.stdout.write(
            json.dumps(reconciliation_json(result), ensure_ascii=False, indent=2) + "\n"
        )
    else:
        print_reconciliation(result, Console())
    raise typer.Exit(0 if result.clean else 1)
