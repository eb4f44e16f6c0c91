"""period_totals: totals by business period kept by the append, backfilled from the log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

Balances, the trust account's opening and closing balance and the totals of the
transaction list summed an estate's whole history on every call (docs/performance.md,
"Scale"). ``period_totals`` keeps those sums per (dimension, key, span, period); see
``ledger/storage/aggregates.py`` for what each row holds. This migration creates the
table and builds it for the entries already in the log with ``INSERT … SELECT …
GROUP BY`` over ``entry_facts`` and ``postings``: the month rows first, then the year
and all-time rows from the month rows. The whole-segment prefixes of the accounts
(``Income``, ``Income:Public``, …) come from a small helper table filled from the
distinct posted account names and dropped at the end.

The table is derived and mutable (no append-only triggers); on SQLite it is a
``WITHOUT ROWID`` table.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = "estate_id, dim, name, span, period, entries, trust_delta, income, spending, amount"
SUMS = "SUM(entries), SUM(trust_delta), SUM(income), SUM(spending), SUM(amount)"

# One row per transaction or reversal with its month and its income and spending
# (the same definitions as ledger.storage.aggregates.entry_rows: an account's type is
# its root's).
ENTRIES = """
e AS (
    SELECT f.estate_id AS estate_id, f.seq AS seq, substr(f.date, 1, 7) AS month,
           f.category AS category, f.trust_delta AS trust_delta,
           SUM(CASE WHEN substr(p.account, 1, 7) = 'Income:' THEN -p.amount ELSE 0 END) AS income,
           SUM(CASE WHEN substr(p.account, 1, 9) = 'Expenses:' THEN p.amount ELSE 0 END)
               AS spending
    FROM entry_facts f
    JOIN postings p ON p.estate_id = f.estate_id AND p.seq = f.seq
    GROUP BY f.estate_id, f.seq, f.date, f.category, f.trust_delta
)"""

BY_ALL_AND_CATEGORY = f"""
WITH {ENTRIES}
INSERT INTO period_totals ({COLUMNS})
SELECT estate_id, 'all', '', 'month', month,
       COUNT(*), SUM(trust_delta), SUM(income), SUM(spending), 0
FROM e GROUP BY estate_id, month
UNION ALL
SELECT estate_id, 'category', category, 'month', month,
       COUNT(*), SUM(trust_delta), SUM(income), SUM(spending), 0
FROM e GROUP BY estate_id, category, month
"""

BY_ACCOUNT = f"""
WITH {ENTRIES},
t AS (
    SELECT p.estate_id AS estate_id, p.seq AS seq, x.prefix AS name,
           SUM(CASE WHEN p.account = x.prefix THEN p.amount ELSE 0 END) AS amount
    FROM postings p
    JOIN period_totals_prefixes x ON x.estate_id = p.estate_id AND x.account = p.account
    GROUP BY p.estate_id, p.seq, x.prefix
)
INSERT INTO period_totals ({COLUMNS})
SELECT t.estate_id, 'account', t.name, 'month', e.month,
       COUNT(*), SUM(e.trust_delta), SUM(e.income), SUM(e.spending), SUM(t.amount)
FROM t JOIN e ON e.estate_id = t.estate_id AND e.seq = t.seq
GROUP BY t.estate_id, t.name, e.month
"""

YEARS = f"""
INSERT INTO period_totals ({COLUMNS})
SELECT estate_id, dim, name, 'year', substr(period, 1, 4), {SUMS}
FROM period_totals WHERE span = 'month'
GROUP BY estate_id, dim, name, substr(period, 1, 4)
"""

ALL_TIME = f"""
INSERT INTO period_totals ({COLUMNS})
SELECT estate_id, dim, name, 'all', '', {SUMS}
FROM period_totals WHERE span = 'month'
GROUP BY estate_id, dim, name
"""


def upgrade() -> None:
    op.create_table('period_totals',
    sa.Column('estate_id', sa.String(length=64), nullable=False),
    sa.Column('dim', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('span', sa.String(length=5), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.Column('trust_delta', sa.BigInteger(), nullable=False),
    sa.Column('income', sa.BigInteger(), nullable=False),
    sa.Column('spending', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['estate_id'], ['estates.id'], ),
    sa.PrimaryKeyConstraint('estate_id', 'dim', 'name', 'span', 'period'),
    sqlite_with_rowid=False,
    )
    _backfill()


def _backfill() -> None:
    helper = op.create_table('period_totals_prefixes',
    sa.Column('estate_id', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('estate_id', 'account', 'prefix'),
    )
    bind = op.get_bind()
    accounts = bind.execute(sa.text("SELECT DISTINCT estate_id, account FROM postings")).all()
    rows = [
        {"estate_id": estate, "account": account, "prefix": ":".join(parts[: i + 1])}
        for estate, account in accounts
        for parts in [account.split(":")]
        for i in range(len(parts))
    ]
    if rows:
        op.bulk_insert(helper, rows)
        for statement in (BY_ALL_AND_CATEGORY, BY_ACCOUNT, YEARS, ALL_TIME):
            op.execute(statement)
    op.drop_table('period_totals_prefixes')


def downgrade() -> None:
    op.drop_table('period_totals')
