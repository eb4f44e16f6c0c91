"""Proving that the log extends a checkpoint saved earlier (``--since-checkpoint``).

A checkpoint an auditor saved (or a resident photographed on the notice board) is
a witness: the log may grow past it but never change behind it. Two independent
proofs are made and each failure is its own finding:

* by the leaves — the root recomputed from the leaves the source serves now, at
  the saved size, must be the saved root (``method: leaves``);
* by the source — the source's RFC 9162 consistency proof from the saved
  checkpoint to its latest one must verify against both signed roots
  (``method: proof``).

The saved note's signature is checked under the log key valid at its size.

What it does not: trust the saved file's signature alone (it is re-verified) nor
the source's latest checkpoint (the checkpoint checks verify it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from audits.analyse import NoteTask, open_note
from audits.checks import b64
from audits.checks_tree import prove_extension
from audits.findings import Finding, error
from audits.logkeys import key_for
from audits.sources import AuditSource, LogKey
from ledger.checkpoint import Checkpoint


class _Latest(Protocol):
    size: int
    root: bytes


def origin_of(note: str) -> str | None:
    """The origin line of a checkpoint note (None if the text is not one)."""
    first = note.split("\n", 1)[0]
    return first or None


class SinceCheck:
    """The saved checkpoint for one estate, checked as the leaves stream past its size."""

    def __init__(self, estate: str, note: str, keys: Sequence[LogKey]) -> None:
        self.estate = estate
        size = _size_of(note)
        key = key_for(keys, size) if size is not None else None
        task = NoteTask(
            size or 0,
            note,
            None if key is None else key.vkey,
            None if key is None else key.vkey.split("+", 1)[0],
        )
        self.opened = open_note(task)
        self.saved: Checkpoint | None = self.opened.checkpoint
        self.recomputed: bytes | None = None

    def probe(self, size: int, root: bytes) -> None:
        """Called at every tree size the fold reaches; remembers the root at the saved size."""
        if self.saved is not None and size == self.saved.size:
            self.recomputed = root

    def finish(
        self, source: AuditSource, log_size: int, latest: _Latest | None
    ) -> Iterator[Finding]:
        """Both proofs, once the whole log (and the source's latest checkpoint) is known."""
        if self.opened.signature_error is not None:
            yield error(
                self.estate,
                None,
                "checkpoint-signature",
                f"the saved checkpoint does not verify: {self.opened.signature_error}",
                saved=True,
            )
        if self.saved is None:
            return
        yield from self._by_leaves(self.saved, log_size)
        yield from self._by_proof(self.saved, source, latest)

    def _by_leaves(self, saved: Checkpoint, log_size: int) -> Iterator[Finding]:
        evidence = {"saved_size": saved.size, "saved_root": b64(saved.root), "method": "leaves"}
        if saved.size > log_size:
            yield error(
                self.estate,
                log_size,
                "checkpoint-consistency",
                f"the log holds {log_size} entries, fewer than the saved checkpoint's {saved.size}",
                log_size=log_size,
                **evidence,
            )
        elif self.recomputed != saved.root:
            yield error(
                self.estate,
                None,
                "checkpoint-consistency",
                f"the leaves served now do not give the saved checkpoint's root at size "
                f"{saved.size}: the history behind it was rewritten",
                recomputed=b64(self.recomputed),
                **evidence,
            )

    def _by_proof(
        self, saved: Checkpoint, source: AuditSource, latest: _Latest | None
    ) -> Iterator[Finding]:
        if latest is None or saved.size == 0:
            return
        if saved.size <= latest.size:
            yield from prove_extension(
                self.estate, source, saved.size, saved.root, latest.size, latest.root
            )
        else:
            yield error(
                self.estate,
                None,
                "checkpoint-consistency",
                f"the latest checkpoint ({latest.size}) is below the saved one ({saved.size})",
                saved_size=saved.size,
                latest_size=latest.size,
                method="proof",
            )


def _size_of(note: str) -> int | None:
    lines = note.split("\n")
    if len(lines) > 1 and lines[1].isdigit():
        return int(lines[1])
    return None
