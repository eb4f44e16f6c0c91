"""append_pg: signed appends per second on PostgreSQL against the minimal signed insert.

See :mod:`bench.append_common` for what is timed on each side. The benchmark
database (``TRUSTLEDGER_BENCH_PG_URL``, default ``trustledger_bench`` on
127.0.0.1:5432) is dropped and re-created at the start; each round appends to a
new estate and the baseline to a freshly re-created table of its own, both through
:func:`ledger.storage.db.make_engine` engines kept open across rounds (warm pools).
Target: at least 0.5 × the baseline's throughput.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.append_common import Fixture, reset_baseline_table, run_append, service_for
from bench.common import OUT, BenchEstate, Result, pg_url, reset_pg
from ledger.storage.db import make_engine

NAME = "append_pg"


def run(quick: bool) -> list[Result]:
    url = pg_url()
    reset_pg(url)
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=OUT))
    service = service_for(url, data_dir)
    engine = make_engine(url)

    def fixture(r: int) -> Fixture:
        estate = BenchEstate(f"bench-pg-{r}")
        estate.create(service)
        reset_baseline_table(engine)
        return Fixture(service, estate, engine, lambda: None)

    try:
        return run_append(NAME, quick, fixture)
    finally:
        service.engine.dispose()
        engine.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)
