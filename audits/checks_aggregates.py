"""The ``period_totals`` rows (totals by business period the append maintains) against the leaves.

Residents' balances, the trust account's opening and closing balances and the
totals of the transaction list are read from ``period_totals``
(:mod:`ledger.storage.aggregates`); an insider who edits a row changes what they
are shown without touching a leaf. :class:`PeriodTotalsCheck` folds every judged
entry's postings into the rows the append should have written — per month, then
spread to years and all time — and compares them with the source's rows once the
log is folded. Memory grows with keys × months, not with entries.

What it does not: read anything (the source's rows come in :meth:`finish`); a source
without the table (a bundle, a live server) gives ``None`` and it finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from audits.checks import EntryCase
from audits.checks_derived import expected_fact
from audits.findings import Finding, error
from ledger.storage.aggregates import FIELDS, Accumulator, RowKey

CHECK = "derived-totals"


class PeriodTotalsCheck:
    """The expected ``period_totals`` rows of one estate, fed entry by entry."""

    def __init__(self, estate: str) -> None:
        self.estate = estate
        self.expected = Accumulator()

    def feed(self, case: EntryCase) -> None:
        """Add a judged entry with postings (a transaction or reversal) to the expected rows."""
        fact = expected_fact(case)
        if fact is None or case.verdict is None:
            return
        postings = ((p.account, p.amount) for p in case.verdict.effects.postings)
        self.expected.add(fact["date"], fact["category"], fact["trust_delta"], postings)

    def finish(self, found: Mapping[RowKey, tuple[int, ...]] | None) -> Iterator[Finding]:
        """One finding per row that is missing, extra or different (by estate, period, key)."""
        if found is None:
            return
        expected = self.expected.rows()
        for key in sorted(expected.keys() | found.keys()):
            dim, name, span, period = key
            where = f"period_totals {span} {period or '(all time)'} {dim} {name!r}"
            want, got = expected.get(key), found.get(key)
            if got is None:
                yield error(self.estate, None, CHECK, f"{where} is missing", **_row(key, want))
            elif want is None:
                yield error(
                    self.estate, None, CHECK, f"{where} is not in the log", **_row(key, None, got)
                )
            elif list(got) != want:
                diff = {
                    f: {"expected": w, "found": g}
                    for f, w, g in zip(FIELDS, want, got, strict=True)
                    if w != g
                }
                first, v = next(iter(diff.items()))
                yield error(
                    self.estate,
                    None,
                    CHECK,
                    f"{where}: {first} is {v['found']}, the leaves give {v['expected']}",
                    **_row(key),
                    **diff,
                )


def _row(
    key: RowKey, expected: list[int] | None = None, found: tuple[int, ...] | None = None
) -> dict[str, object]:
    dim, name, span, period = key
    out: dict[str, object] = {"dim": dim, "key": name, "span": span, "period": period}
    if expected is not None:
        out["expected"] = dict(zip(FIELDS, expected, strict=True))
    if found is not None:
        out["found"] = dict(zip(FIELDS, found, strict=True))
    return out
