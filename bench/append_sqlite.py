"""append_sqlite: signed appends per second on SQLite against the minimal signed insert.

See :mod:`bench.append_common` for what is timed on each side. Each round gets two
fresh SQLite files copied from one migrated template (one for our estate, one for
the baseline's table), so neither side writes into a file the other has grown.
Both are opened with :func:`ledger.storage.db.make_engine`: WAL, ``synchronous=FULL``.
Target: at least 0.5 × the baseline's throughput.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.append_common import Fixture, reset_baseline_table, run_append, service_for
from bench.common import OUT, BenchEstate, Result, SqliteFiles
from ledger.storage.db import make_engine

NAME = "append_sqlite"


def run(quick: bool) -> list[Result]:
    files = SqliteFiles()

    def fixture(r: int) -> Fixture:
        data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=OUT))
        service = service_for(files.fresh(), data_dir)
        estate = BenchEstate(f"bench-sqlite-{r}")
        estate.create(service)
        engine = make_engine(files.fresh())
        reset_baseline_table(engine)

        def cleanup() -> None:
            service.engine.dispose()
            engine.dispose()
            shutil.rmtree(data_dir, ignore_errors=True)

        return Fixture(service, estate, engine, cleanup)

    try:
        return run_append(NAME, quick, fixture)
    finally:
        files.cleanup()
