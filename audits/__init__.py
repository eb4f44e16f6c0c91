"""Audits: re-derive an estate's log from its leaves and report every finding.

Not built yet. Until it is, ``trustledger verify`` (``ledger.storage.verify``) gives
the quick check that stops at the first break.
"""
