"""Publishing statements: computed from the log at its latest checkpoint, signed, stored once.

A statement is produced on first request for a closed period and never changes
afterwards (the ``statements`` table is append-only). When entries dated in the
period reach the log later, :func:`reissue` publishes a correction: the next
``number`` for the period, naming the statement it supersedes by hash. PDFs are
rendered from the stored JSON on first request and stored as well.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.canonical import canonical_json
from ledger.entry import Entry, format_recorded_at, parse_leaf
from ledger.errors import LogStateError, NotFound, PeriodNotClosed
from ledger.statement import (
    Period,
    StatementFold,
    document_sha256,
    parse_period,
    sign_statement,
)
from ledger.storage.models import EntryRow, StatementPdfRow, StatementRow
from ledger.storage.reader import LogReader
from ledger.storage.service import LedgerService

CHINA = dt.timezone(dt.timedelta(hours=8))
PAGE = 1000
LANGS = ("zh", "en")


def today_in_china(now: dt.datetime) -> dt.date:
    """The calendar date in China (UTC+8, no daylight saving) at ``now``."""
    return now.astimezone(CHINA).date()


def closed_period(text: str, today: dt.date) -> Period:
    """``text`` parsed, if that period has ended before ``today``; else a clear error."""
    period = parse_period(text)
    if period.end >= today:
        when = "in the future" if period.start > today else "not over yet"
        raise PeriodNotClosed(
            f"period {text} is {when}: statements cover closed periods (ending before {today})",
            field="period",
        )
    return period


def entries_upto(session: Session, estate: str, size: int) -> Iterator[Entry]:
    """Entries ``0 … size-1`` parsed from their leaves, read a page at a time."""
    start = 0
    while start < size:
        rows = session.execute(
            select(EntryRow.seq, EntryRow.leaf)
            .where(EntryRow.estate_id == estate, EntryRow.seq >= start, EntryRow.seq < size)
            .order_by(EntryRow.seq)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        for _, leaf in rows:
            yield parse_leaf(leaf)
        start = rows[-1][0] + 1


@dataclass(frozen=True)
class Published:
    period: str
    number: int
    size: int
    sha256: str
    issued_at: str
    document: bytes  # JCS of {statement, signature}

    def signed(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.document)
        return parsed


def _published(row: StatementRow) -> Published:
    return Published(row.period, row.number, row.size, row.sha256, row.issued_at, row.document)


def latest(session: Session, estate: str, period: str) -> Published | None:
    row = session.scalar(
        select(StatementRow)
        .where(StatementRow.estate_id == estate, StatementRow.period == period)
        .order_by(StatementRow.number.desc())
        .limit(1)
    )
    return None if row is None else _published(row)


def find(session: Session, estate: str, period: str, number: int | None) -> Published | None:
    if number is None:
        return latest(session, estate, period)
    row = session.get(StatementRow, (estate, period, number))
    return None if row is None else _published(row)


def compute(
    svc: LedgerService,
    reader: LogReader,
    period: Period,
    *,
    number: int = 1,
    previous: Published | None = None,
) -> dict[str, Any]:
    """The signed statement of ``period`` at the log's latest checkpoint."""
    cp = reader.latest_checkpoint()
    fold = StatementFold(period, reader.estate)
    for entry in entries_upto(reader.session, reader.estate, cp.size):
        fold.add(entry)
    supersedes = None
    if previous is not None:
        old = previous.signed()["statement"]
        supersedes = {
            "number": previous.number,
            "sha256": previous.sha256,
            "checkpoint": old["checkpoint"],
        }
    statement = fold.result(
        origin=reader.row.origin,
        root=cp.root,
        issued_at=format_recorded_at(svc.clock()),
        number=number,
        supersedes=supersedes,
    )
    signer = svc.log_keys.load(reader.estate, reader.row.origin, reader.row.vkey)
    return sign_statement(statement, signer)


def _store(session: Session, estate: str, signed: dict[str, Any]) -> Published:
    statement = signed["statement"]
    document = canonical_json(signed)
    row = StatementRow(
        estate_id=estate,
        period=statement["period"]["id"],
        number=statement["number"],
        size=statement["checkpoint"]["size"],
        root=_root(statement),
        sha256=document_sha256(signed),
        issued_at=statement["issued_at"],
        document=document,
    )
    session.add(row)
    session.flush()
    return _published(row)


def _root(statement: dict[str, Any]) -> bytes:
    return base64.b64decode(statement["checkpoint"]["root"])


def publish(svc: LedgerService, estate: str, period_text: str) -> Published:
    """The period's current statement, produced and stored now if there is none yet."""
    period = closed_period(period_text, today_in_china(svc.clock()))
    with svc.reader(estate) as reader:
        found = latest(reader.session, estate, period.text)
        if found is not None:
            return found
    try:
        with svc.reader(estate) as reader:
            return _store(reader.session, estate, compute(svc, reader, period))
    except IntegrityError:  # a concurrent request published it first
        with svc.reader(estate) as reader:
            found = latest(reader.session, estate, period.text)
        if found is None:
            raise
        return found


def reissue(svc: LedgerService, estate: str, period_text: str) -> Published:
    """A correction of the period's statement at the latest checkpoint.

    Refused when there is nothing to correct: no statement yet (publish instead), or
    the figures at the latest checkpoint are those already published.
    """
    period = closed_period(period_text, today_in_china(svc.clock()))
    with svc.reader(estate) as reader:
        previous = latest(reader.session, estate, period.text)
        if previous is None:
            raise NotFound(f"no statement for {period.text} has been published yet")
        signed = compute(svc, reader, period, number=previous.number + 1, previous=previous)
        if _figures(signed["statement"]) == _figures(previous.signed()["statement"]):
            raise LogStateError(
                f"the figures of {period.text} at the latest checkpoint equal those of "
                f"statement {previous.number}: nothing to correct"
            )
        return _store(reader.session, estate, signed)


_META = ("checkpoint", "issued_at", "number", "supersedes")


def _figures(statement: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if k not in _META}


# -- lists and PDFs -----------------------------------------------------------------------------


def list_statements(session: Session, estate: str) -> list[dict[str, Any]]:
    """Every published statement, newest period first, with what supersedes what."""
    rows = session.execute(
        select(
            StatementRow.period,
            StatementRow.number,
            StatementRow.issued_at,
            StatementRow.size,
            StatementRow.root,
            StatementRow.sha256,
        )
        .where(StatementRow.estate_id == estate)
        .order_by(StatementRow.period.desc(), StatementRow.number)
    ).all()
    numbers: dict[str, int] = {}
    for period, number, *_ in rows:
        numbers[period] = max(numbers.get(period, 0), number)
    base = f"/v1/estates/{estate}/statements"
    out = []
    for period, number, issued_at, size, root, sha256 in rows:
        latest_number = numbers[period]
        suffix = "" if number == latest_number else f"?number={number}"
        out.append(
            {
                "period": period,
                "number": number,
                "issued_at": issued_at,
                "checkpoint": {"size": size, "root": base64.b64encode(root).decode()},
                "sha256": sha256,
                "superseded_by": None if number == latest_number else number + 1,
                "json": f"{base}/{period}{suffix}",
                "pdf": f"{base}/{period}.pdf{suffix}",
            }
        )
    return out


def closed_periods(session: Session, estate: str, today: dt.date) -> list[str]:
    """Months, quarters and years from the estate's first entry that ended before ``today``."""
    first = session.scalar(select(func.min(EntryRow.date)).where(EntryRow.estate_id == estate))
    if first is None:
        return []
    year, month = int(first[:4]), int(first[5:7])
    months, quarters, years = [], [], []
    while (year, month) < (today.year, today.month):
        months.append(f"{year:04d}-{month:02d}")
        if month % 3 == 0:
            quarters.append(f"{year:04d}-Q{month // 3}")
        if month == 12:
            years.append(f"{year:04d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months[::-1] + quarters[::-1] + years[::-1]


def pdf(
    svc: LedgerService, estate: str, found: Published, lang: str, public_base_url: str
) -> bytes:
    """The signed PDF of a published statement, rendered and stored on first request."""
    with svc.reader(estate) as reader:
        row = reader.session.get(StatementPdfRow, (estate, found.period, found.number, lang))
        if row is not None:
            return row.pdf
    from statements.pdf import statement_pdf

    data = statement_pdf(
        found.signed(), public_base_url=public_base_url, data_dir=svc.data_dir, lang=lang
    )
    try:
        with svc.reader(estate) as reader:
            reader.session.add(
                StatementPdfRow(
                    estate_id=estate,
                    period=found.period,
                    number=found.number,
                    lang=lang,
                    pdf=data,
                    created_at=format_recorded_at(svc.clock()),
                )
            )
    except IntegrityError:  # rendered concurrently: serve the stored one
        with svc.reader(estate) as reader:
            row = reader.session.get(StatementPdfRow, (estate, found.period, found.number, lang))
            if row is None:
                raise
            return row.pdf
    return data
