"""Smoke test of the scale generator and of every query ``bench.query_scale`` times.

A small estate built by :func:`bench.generate.build_estate` must replay and verify
like any other log, hold the intended mix, and answer each benchmarked query.
"""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import func, select

from bench.generate import ORIGIN_HOST, REVERSAL_EVERY, Spec, build_estate
from bench.query_scale import ESTATE, QUERIES, Ctx
from ledger.storage.models import EntryFactRow
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate


def test_generated_estate_verifies_and_every_scale_query_answers(
    db_url: str, tmp_path: Path
) -> None:
    spec = Spec(ESTATE, 2_400, per_day=50)  # 48 days: September 2026 is in it
    data = tmp_path / "data"
    stats = build_estate(db_url, data, spec, workers=0, batch=500, quiet=True)
    assert stats.entries == spec.transactions
    assert build_estate(db_url, data, spec, workers=0, quiet=True).entries == 0  # complete
    svc = LedgerService(db_url, data, ORIGIN_HOST)
    try:
        with svc.session() as s:
            assert verify_estate(s, ESTATE).tree.size == spec.entries
            kinds = dict(
                s.execute(
                    select(EntryFactRow.category, func.count())
                    .where(EntryFactRow.estate_id == ESTATE)
                    .group_by(EntryFactRow.category)
                ).all()
            )
        assert kinds["reversal"] == spec.transactions // REVERSAL_EVERY
        assert 0.7 < kinds["物业费"] / spec.transactions < 0.9
        assert {"保洁", "电梯维保", "停车收益"} <= set(kinds)
        for q in QUERIES:
            q.run(svc, Ctx(spec.entries, spec, random.Random(7)))
    finally:
        svc.engine.dispose()
