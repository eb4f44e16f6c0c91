"""The voucher check: every referenced voucher is there and hashes to its name, unless redacted.

A voucher may be withdrawn only by a signed ``redaction`` entry, which can come
anywhere after the entry that references it, so a voucher the source does not
serve is held as pending and judged once the whole log is folded. Bytes the
source serves are hashed at once (each voucher once). A voucher the log redacted
but the source still serves is a warning: the log promised it was withdrawn.

What it does not: judge media types (the upload edge does) or read anything but
through the source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from audits.findings import Finding, error, warning
from audits.sources import AuditSource, VoucherStatus
from audits.state import AuditState
from ledger.entry import Entry
from ledger.payload import Voucher

REMEMBER = 100_000
"""Vouchers remembered as checked (older ones are checked again if referenced again)."""


@dataclass
class VoucherCheck:
    """Feeds on entries in order; :meth:`finish` settles what the source did not serve."""

    estate: str
    source: AuditSource
    checked: dict[str, None] = field(default_factory=dict)
    pending: dict[str, tuple[int, VoucherStatus]] = field(default_factory=dict)

    def feed(self, seq: int, entry: Entry) -> Iterator[Finding]:
        return self.feed_vouchers(seq, entry.payload.vouchers)

    def feed_vouchers(self, seq: int, vouchers: Iterable[Voucher]) -> Iterator[Finding]:
        """The vouchers entry ``seq`` references (what :meth:`feed` reads of an entry)."""
        for v in vouchers:
            if v.sha256 in self.checked or v.sha256 in self.pending:
                continue
            self._remember(v.sha256)
            found = self.source.voucher(self.estate, v.sha256)
            if found.status != "present" or found.data is None:
                self.pending[v.sha256] = (seq, found.status)
                continue
            digest = hashlib.sha256(found.data).hexdigest()
            if digest != v.sha256:
                yield error(
                    self.estate,
                    seq,
                    "vouchers",
                    f"voucher {v.name} does not hash to its name",
                    sha256=v.sha256,
                    found=digest,
                )
            elif len(found.data) != v.size:
                yield error(
                    self.estate,
                    seq,
                    "vouchers",
                    f"voucher {v.name} is {len(found.data)} bytes, the entry says {v.size}",
                    sha256=v.sha256,
                    expected_size=v.size,
                    found_size=len(found.data),
                )

    def _remember(self, sha256: str) -> None:
        self.checked[sha256] = None
        if len(self.checked) > REMEMBER:
            del self.checked[next(iter(self.checked))]

    def finish(self, state: AuditState) -> Iterator[Finding]:
        for sha256, (seq, status) in self.pending.items():
            redacted = state.redactions.get(sha256)
            if redacted is not None:
                continue
            what = "is missing" if status == "missing" else "is withheld without a signed redaction"
            yield error(
                self.estate,
                seq,
                "vouchers",
                f"voucher {sha256} {what}",
                sha256=sha256,
                status=status,
            )
        for sha256, seq in state.redactions.items():
            if sha256 in self.pending:
                continue
            if self.source.voucher(self.estate, sha256).status == "present":
                yield warning(
                    self.estate,
                    seq,
                    "vouchers",
                    f"voucher {sha256} was withdrawn by entry {seq} but is still served",
                    sha256=sha256,
                )
