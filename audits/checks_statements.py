"""The published statements of an estate, checked against the log as it is folded.

For every statement the source holds: the signature under one of the estate's log
keys; the checkpoint it names (the root of the first ``size`` leaves, recomputed
here); the figures, recomputed from those leaves with
:class:`ledger.statement.StatementFold` and compared field by field; and the
correction chain of each period (numbers 1, 2, … without gaps, each correction
naming the hash of the one it supersedes). A statement beyond the end of the log
means the log was cut back after it was published.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from audits.findings import Finding, error
from audits.sources import LogKey
from ledger.canonical import b64encode, parse_json
from ledger.entry import Entry
from ledger.errors import LedgerError
from ledger.statement import (
    StatementFold,
    VerifiedStatement,
    compare_figures,
    document_sha256,
    verify_statement,
)

CHECK = "statements"


@dataclass
class _Pending:
    verified: VerifiedStatement
    fold: StatementFold
    broken: str | None = None  # why the figures cannot be recomputed


class StatementCheck:
    def __init__(self, estate: str, documents: Sequence[bytes], keys: Sequence[LogKey]) -> None:
        self.estate = estate
        self.pending: list[_Pending] = []
        self.findings: list[Finding] = []
        vkeys = [k.vkey for k in keys]
        chains: dict[str, dict[int, tuple[str, object]]] = {}
        for n, document in enumerate(documents):
            where = f"statement #{n + 1}"
            try:
                signed = parse_json(document)
                verified = verify_statement(signed, vkeys)
            except LedgerError as e:
                self.findings.append(
                    error(estate, None, CHECK, f"{where} does not verify: {e.message}")
                )
                continue
            label = f"statement {verified.period.text} no. {verified.statement.get('number')}"
            if verified.estate != estate:
                self.findings.append(
                    error(estate, None, CHECK, f"{label} is for estate {verified.estate!r}")
                )
                continue
            number = verified.statement.get("number")
            chains.setdefault(verified.period.text, {})[
                number if isinstance(number, int) else 0
            ] = (document_sha256(signed), verified.statement.get("supersedes"))
            self.pending.append(_Pending(verified, StatementFold(verified.period, estate)))
        for period, chain in sorted(chains.items()):
            self._chain(period, chain)

    def _chain(self, period: str, chain: dict[int, tuple[str, object]]) -> None:
        numbers = sorted(chain)
        if numbers != list(range(1, len(numbers) + 1)):
            self.findings.append(
                error(
                    self.estate,
                    None,
                    CHECK,
                    f"statements of {period} are numbered {numbers}, not 1, 2, …",
                    numbers=numbers,
                )
            )
        for number in numbers:
            supersedes = chain[number][1]
            if number == 1:
                if supersedes is not None:
                    self.findings.append(
                        error(self.estate, None, CHECK, f"statement {period} no. 1 supersedes one")
                    )
                continue
            before = chain.get(number - 1)
            named = supersedes.get("sha256") if isinstance(supersedes, dict) else None
            if before is None or named != before[0]:
                self.findings.append(
                    error(
                        self.estate,
                        None,
                        CHECK,
                        f"statement {period} no. {number} does not name the one it supersedes",
                        expected=None if before is None else before[0],
                        found=named,
                    )
                )

    def start(self) -> Iterator[Finding]:
        yield from self.findings
        self.findings = []

    def wants(self, position: int) -> bool:
        """Whether some statement still folds the entry at ``position`` (or later ones)."""
        return any(p.broken is None and p.verified.size > position for p in self.pending)

    def sizes(self) -> set[int]:
        """The log sizes at which :meth:`probe` has something to check."""
        return {p.verified.size for p in self.pending}

    def feed(self, entry: Entry | None) -> None:
        """The next entry of the log (``None``: it could not be read)."""
        for p in self.pending:
            if p.broken is not None or p.fold.size >= p.verified.size:
                continue
            if entry is None:
                p.broken = f"entry {p.fold.size} cannot be read"
                continue
            try:
                p.fold.add(entry)
            except LedgerError as e:
                p.broken = f"entry {p.fold.size}: {e.message}"

    def probe(self, size: int, root: Callable[[], bytes]) -> Iterator[Finding]:
        """Check the statements computed at ``size`` (the tree has exactly ``size`` leaves)."""
        due = [p for p in self.pending if p.verified.size == size]
        if not due:
            return
        self.pending = [p for p in self.pending if p.verified.size != size]
        actual = root()
        for p in due:
            yield from self._judge(p, actual)

    def _judge(self, p: _Pending, root: bytes) -> Iterator[Finding]:
        v = p.verified
        label = f"statement {v.period.text} no. {v.statement.get('number')}"
        if root != v.root:
            yield error(
                self.estate,
                None,
                CHECK,
                f"{label}: the log's root at size {v.size} is not the statement's",
                expected=b64encode(v.root),
                found=b64encode(root),
            )
            return
        if p.broken is not None:
            yield error(self.estate, None, CHECK, f"{label}: figures not recomputed: {p.broken}")
            return
        s = v.statement
        try:
            again = p.fold.result(
                origin=str(s.get("origin", "")),
                root=root,
                issued_at=str(s.get("issued_at", "")),
                number=s.get("number", 1),
                supersedes=s.get("supersedes"),
            )
        except LedgerError as e:
            yield error(self.estate, None, CHECK, f"{label}: {e.message}")
            return
        for name in compare_figures(s, again):
            yield error(
                self.estate,
                None,
                CHECK,
                f"{label}: {name!r} differs from its recomputation from the log",
                field=name,
            )

    def finish(self, size: int) -> Iterator[Finding]:
        for p in self.pending:
            v = p.verified
            yield error(
                self.estate,
                None,
                CHECK,
                f"statement {v.period.text} no. {v.statement.get('number')} covers "
                f"{v.size} entries but the log has {size}: the log was cut back",
                expected=v.size,
                found=size,
            )
        self.pending = []
