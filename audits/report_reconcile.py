"""Rendering a bank reconciliation: JSON for machines, a plain-text table for people.

Strings from the bank file and the log are printed as plain text, never markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audits.bankcsv import describe
from audits.reconcile import Reconciliation


def reconciliation_json(r: Reconciliation) -> dict[str, Any]:
    return {
        "format": "trustledger-reconciliation/v1",
        "clean": r.clean,
        "bank_lines": len(r.bank),
        "ledger_lines": len(r.ledger),
        "matched": [{"bank": describe(b), "seq": x.seq} for b, x in r.matched],
        "findings": [f.to_json() for f in r.findings],
    }


def print_reconciliation(r: Reconciliation, console: Console) -> None:
    console.print(
        Text(
            f"bank lines {len(r.bank)}, ledger lines {len(r.ledger)}, matched {len(r.matched)}",
            style="bold",
        )
    )
    if r.clean:
        console.print(Text("reconciled: no differences (对账一致)", style="bold green"))
        return
    table = Table()
    for col in ("check", "seq", "message"):
        table.add_column(col)
    for f in r.findings:
        table.add_row(Text(f.check), "—" if f.seq is None else str(f.seq), Text(f.message))
    console.print(table)
