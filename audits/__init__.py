"""Audits: re-derive an estate's log from its leaves and report every finding.

An audit trusts nothing it is given: it reads a log from a source — the database
(:mod:`audits.db`), a live server's public API (:mod:`audits.url`) or an exported
bundle (:mod:`audits.bundle`) — recomputes the hash chain, the canonical bytes,
the Merkle tree, every checkpoint, every signature under the keys and policy in
force at that point, the books (double entry, reversals, budgets) and the vouchers,
and compares whatever the source also stores (tree hashes, derived tables) with the
recomputation. Unlike ``trustledger verify`` (``ledger.storage.verify``), which
stops at the first break, it runs every check and lists every finding
(:class:`audits.findings.Finding`), streaming the log so memory stays flat.

Entry points: :func:`audits.run.run_audit`; :func:`audits.export.export_bundle`;
the CLI commands ``trustledger audit`` and ``trustledger export`` (``api.cli_audit``).
"""
