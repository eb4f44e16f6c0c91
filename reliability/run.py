"""Run the reliability campaigns and print one table; JSON under ``reliability/out/``.

    python -m reliability.run [--full] [--only NAME ...] [--engine sqlite|postgresql|both]

Small counts by default (seconds to a minute per campaign), the issue's counts with
``--full``. ``pg_restart`` restarts the machine's PostgreSQL, which disrupts
everything else using it: it runs only when asked for by name (``--only
pg_restart``) or with ``TRUSTLEDGER_RELIABILITY_PG_RESTART=1``. PostgreSQL is
reached at ``TRUSTLEDGER_RELIABILITY_PG_URL`` or ``TRUSTLEDGER_TEST_PG_URL``
(databases named after it are created and dropped). Exit code 0 when every row
holds (nothing lost, nothing duplicated, nothing let in, audits clean), else 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from reliability.common import ENGINES, OUT, Result, pg_available, pg_base_url

CAMPAIGNS = ("load", "crash", "pg_restart", "voucher_faults", "hostile", "access", "backup")
PG_ONLY = {"pg_restart"}
PG_RESTART_ENV = "TRUSTLEDGER_RELIABILITY_PG_RESTART"


def engines_for(choice: str) -> list[str]:
    return list(ENGINES) if choice == "both" else [choice]


def run_campaign(name: str, engines: Sequence[str], *, full: bool, workdir: Path) -> list[Result]:
    """One campaign over ``engines``; an engine that cannot run gives a failed row."""
    wanted = [e for e in engines if e == "postgresql"] if name in PG_ONLY else list(engines)
    rows: list[Result] = []
    if "postgresql" in wanted and not pg_available():
        rows.append(
            Result(name, "postgresql", "-", "-", failures=[f"not reachable: {pg_base_url()}"])
        )
        wanted.remove("postgresql")
    if not wanted:
        return rows
    module = importlib.import_module(f"reliability.{name}")
    began = time.monotonic()
    try:
        rows.extend(module.run(wanted, full=full, workdir=workdir))
    except Exception as e:  # a campaign that could not finish is a failed row, not a crash
        rows.append(
            Result(
                name,
                "/".join(wanted),
                "(did not finish)",
                "-",
                failures=[f"{type(e).__name__}: {e}", traceback.format_exc(limit=8)],
            )
        )
    print(f"  {name}: {time.monotonic() - began:.1f} s", file=sys.stderr)
    return rows


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


COLUMNS = [
    ("campaign", "campaign"),
    ("engine", "engine"),
    ("scenario", "scenario"),
    ("counts", "counts run"),
    ("requests", "requests"),
    ("acknowledged", "acked"),
    ("lost", "lost"),
    ("duplicated", "dup"),
    ("let_in", "let in"),
    ("audit", "audit"),
    ("throughput", "per s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("seconds", "s"),
]


def table(results: Sequence[Result]) -> str:
    rows = [[h for _, h in COLUMNS] + ["verdict"]]
    for r in results:
        rows.append([_fmt(getattr(r, k)) for k, _ in COLUMNS] + ["ok" if r.ok else "FAILED"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        for f in r.failures:
            first = f.splitlines()[0] if f else f
            lines.append(f"! {r.campaign}/{r.engine}/{r.scenario}: {first[:400]}")
    return "\n".join(lines)


def write_json(results: Sequence[Result], tag: str, full: bool) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = OUT / f"{stamp}-{tag}{'-full' if full else ''}.json"
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "full": full,
        "argv": sys.argv,
        "results": [r.to_json() for r in results],
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n", "utf-8")
    return path


def parse_args(argv: Sequence[str] | None, only_default: Sequence[str] = ()) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m reliability.run", description=__doc__.split("\n")[0]
    )
    p.add_argument("--full", action="store_true", help="the issue's counts (minutes)")
    p.add_argument("--only", action="append", choices=CAMPAIGNS, help="run only this campaign")
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    args = p.parse_args(argv)
    if not args.only:
        args.only = list(only_default)
    return args


def execute(names: Sequence[str], args: argparse.Namespace, tag: str) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="trustledger-reliability-"))
    results: list[Result] = []
    try:
        for name in names:
            print(f"running {name} ({'full' if args.full else 'small'})…", file=sys.stderr)
            results.extend(
                run_campaign(name, engines_for(args.engine), full=args.full, workdir=workdir)
            )
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    path = write_json(results, tag, args.full)
    print(f"\nJSON: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0 if all(r.ok for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only:
        names = list(args.only)
    else:
        names = [n for n in CAMPAIGNS if n not in PG_ONLY or os.environ.get(PG_RESTART_ENV) == "1"]
    return execute(names, args, "run" if len(names) > 1 else names[0])


def campaign_main(name: str) -> None:
    """``python -m reliability.<name>``: that campaign alone, same options as the runner."""
    args = parse_args(sys.argv[1:], only_default=[name])
    sys.exit(execute([name], args, name))


if __name__ == "__main__":
    sys.exit(main())
