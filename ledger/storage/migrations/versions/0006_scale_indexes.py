"""covering indexes for whole-history sums: postings with amount, facts with trust_delta

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

Balances, the period summary's opening and closing balance of the trust account, the
budget report and the totals of the transaction list sum ``postings.amount`` over an
account's postings up to a date, and ``entry_facts.trust_delta`` over an estate's facts
in a date range. With the summed column in the index both engines read the index alone
instead of one table row per posting or fact: on a 1,000,000-entry SQLite log the
balances' ``GROUP BY account`` went from 1.6 s to 0.34 s (``bench/query_scale.py``,
docs/performance.md "Scale"). Each new index has the old one as its prefix and replaces
it, so appends maintain as many indexes as before.
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_postings_account_date_amount', 'postings', ['estate_id', 'account', 'date', 'amount'], unique=False)
    op.drop_index('ix_postings_account_date', table_name='postings')
    op.create_index('ix_entry_facts_date_delta', 'entry_facts', ['estate_id', 'date', 'seq', 'trust_delta'], unique=False)
    op.drop_index('ix_entry_facts_date', table_name='entry_facts')


def downgrade() -> None:
    op.create_index('ix_entry_facts_date', 'entry_facts', ['estate_id', 'date', 'seq'], unique=False)
    op.drop_index('ix_entry_facts_date_delta', table_name='entry_facts')
    op.create_index('ix_postings_account_date', 'postings', ['estate_id', 'account', 'date'], unique=False)
    op.drop_index('ix_postings_account_date_amount', table_name='postings')
