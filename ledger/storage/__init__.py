"""Storage of estate logs: SQLAlchemy 2 on SQLite or PostgreSQL, files for keys and vouchers.

The leaf bytes in ``entries`` are the truth; every other column and table (kind,
date, postings, keys, accounts, reversals) is derived from them on append and can
be re-derived by an audit. Callers own the transaction: repositories never commit.
"""
