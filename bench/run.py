"""Run the benchmarks and print one table: ``python -m bench.run [--quick] [--only NAME]``.

Every row compares a figure with a baseline measured in the same run; ``ratio`` is
always figure / baseline and the target applies to it. The exit status is 0 when
every benchmark ran (whatever its verdict) and 1 when one failed to run: verdicts
are reported, never asserted. Results are also written as JSON to
``bench/out/results[-quick][-NAME…].json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection

from rich.console import Console
from rich.table import Table

from bench.common import OUT, Result

BENCHMARKS = {
    "append_sqlite": "bench.append_sqlite",
    "append_pg": "bench.append_pg",
    "append_pg_concurrent": "bench.append_pg_concurrent",
    "group_commit_pg": "bench.group_commit_pg",
    "tree_build": "bench.tree_build",
    "inclusion_proof_db": "bench.inclusion_proof_db",
    "api_bench": "bench.api_bench",
    "audit": "bench.audit_bench",
    "statement_render": "bench.statement_render",
    "query_scale": "bench.query_scale",
}


def fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.3f}"
    return f"{value:.4f}"


def machine() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def table(results: Sequence[Result], errors: dict[str, str], title: str) -> Table:
    t = Table(title=title, show_lines=False)
    cols = ["benchmark", "figure", "baseline", "ratio", "target", "verdict"]
    with_peak = any(r.peak_mb is not None for r in results)
    if with_peak:
        cols.append("peak MB")
    for col in cols:
        t.add_column(col, justify="left" if col in ("benchmark", "verdict") else "right")
    for r in results:
        style = "green" if r.verdict == "meets" else "red"
        cells = [
            r.name,
            f"{fmt(r.figure)} {r.unit}",
            f"{fmt(r.baseline)} {r.unit}",
            f"{r.ratio:.3f}",
            r.target.replace(">=", "≥").replace("<=", "≤") + " ×",
            f"[{style}]{r.verdict}[/{style}]",
        ]
        if with_peak:
            cells.append("—" if r.peak_mb is None else fmt(r.peak_mb))
        t.add_row(*cells)
    for name in errors:
        t.add_row(name, "—", "—", "—", "—", "[yellow]error[/yellow]", *(["—"] if with_peak else []))
    return t


def _child(name: str, quick: bool, conn: Connection) -> None:
    try:
        rows = importlib.import_module(BENCHMARKS[name]).run(quick)
    except Exception:
        conn.send(([], traceback.format_exc(), 0.0))
        return
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    conn.send((rows, None, max(own, workers) / 1024))  # KiB on Linux


def run_isolated(name: str, quick: bool) -> tuple[list[Result], str | None]:
    """Run one benchmark module in a fresh interpreter (spawned), so that each gets a
    clean process and its peak memory (largest resident set of the benchmark process
    or of any worker it started, ours and the baseline's work together) can be read.
    Rows that measured a narrower peak of their own keep it."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(name, quick, child))
    proc.start()
    child.close()
    try:
        rows, error, peak = parent.recv()
    except EOFError:
        proc.join()
        return [], f"the benchmark process died (exit code {proc.exitcode})"
    proc.join()
    return [r if r.peak_mb is not None else replace(r, peak_mb=peak) for r in rows], error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (CI smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    # Wide enough for the table when the output is a file or a CI log (default 80).
    console = Console(width=None if sys.stdout.isatty() else 132)
    load_before = machine()["loadavg"]
    results: list[Result] = []
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name in names:
        console.print(f"[bold]{name}[/bold] …", highlight=False)
        started = time.perf_counter()
        try:
            rows, error = run_isolated(name, args.quick)
        finally:
            timings[name] = time.perf_counter() - started
        if error is not None:
            errors[name] = error
            console.print(f"[yellow]{name} failed:[/yellow]\n{errors[name]}", highlight=False)
            continue
        results.extend(rows)
        for r in rows:
            console.print(f"  {r.name}: {r.note}", highlight=False)
    info = machine()
    info["loadavg_before"] = load_before
    mode = "quick" if args.quick else "full"
    title = (
        f"trustledger benchmarks ({mode}; nproc {info['nproc']}, Python {info['python']}; "
        f"load average {load_before} before, {info['loadavg']} after)"
    )
    console.print(table(results, errors, title))
    OUT.mkdir(parents=True, exist_ok=True)
    # A partial run (--only) must not overwrite the record of the last complete one.
    suffix = ("-quick" if args.quick else "") + "".join(f"-{n}" for n in args.only or ())
    out = OUT / f"results{suffix}.json"
    doc = {
        "mode": mode,
        "machine": info,
        "seconds": timings,
        "results": [r.to_json() for r in results],
        "errors": errors,
    }
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    console.print(f"written {out}", highlight=False)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
