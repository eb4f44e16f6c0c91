"""Signed public statements of an estate for a period (JSON and Chinese PDF).

Figures and the signature are computed by :mod:`ledger.statement` (pure, so audits
recompute them the same way); :mod:`statements.store` publishes and keeps them;
:mod:`statements.pdf` renders and signs the PDF; :mod:`statements.verify` checks a
statement file against a live log.
"""
