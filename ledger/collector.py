"""The cyclic garbage collector's settings for the long, allocation-heavy jobs.

A batch import or an audit allocates hundreds of thousands of short-lived
containers (decoded JSON, entries, rows). At CPython's default first threshold
(700) the collector runs a full collection — a walk of every container in the
heap — every ≈ 70,000 allocations; measured, that was 11 % of an audit's time and
0.4 s over five 1,000-entry batches. Memory is still freed by reference counting
as it is released; only reference cycles wait longer. Objects that exist before the
job (modules, the application) are frozen, so no collection walks them again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (10_000, 10, 10)
"""CPython's defaults are (700, 10, 10)."""

_tuned_for_good = False


def tune_process() -> None:
    """For a process that does such jobs all its life (a server, a worker): freeze what
    exists now and raise the thresholds, once."""
    global _tuned_for_good
    if _tuned_for_good:
        return
    _tuned_for_good = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def tuned() -> Iterator[None]:
    """For one job inside a process that goes on afterwards (an audit run from the
    command line or a test): the thresholds raised and the heap frozen for the block,
    both restored after it."""
    if _tuned_for_good:
        yield
        return
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
