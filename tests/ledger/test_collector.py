"""The garbage collector's settings for long jobs (ledger/collector.py)."""

from __future__ import annotations

import gc

import pytest

from ledger import collector


def test_tuned_raises_the_thresholds_for_the_block_and_restores_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "_tuned_for_good", False)
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    try:
        with collector.tuned():
            assert gc.get_threshold() == collector.THRESHOLDS
            assert gc.get_freeze_count() > 0  # what existed before the job is not walked
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
    finally:
        if frozen_before:  # a server tuned earlier in this test process stays frozen
            gc.freeze()


def test_tuned_leaves_a_process_tuned_for_good_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "_tuned_for_good", True)
    before = gc.get_threshold()
    monkeypatch.setattr(gc, "set_threshold", lambda *a: pytest.fail("changed the thresholds"))
    with collector.tuned():
        assert gc.get_threshold() == before
