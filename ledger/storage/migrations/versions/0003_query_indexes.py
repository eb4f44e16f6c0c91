"""indexes for the query API: postings by account and seq, reversals by reversal seq

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00

``ix_postings_account_seq`` serves the ``account`` filter of the transaction list
(``seq IN (SELECT seq FROM postings WHERE estate_id = ? AND account IN (…))``) in
seq order; ``ix_reversals_reversal_seq`` finds what a reversal reverses without
reading its leaf.
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_postings_account_seq', 'postings', ['estate_id', 'account', 'seq'], unique=False)
    op.create_index('ix_reversals_reversal_seq', 'reversals', ['estate_id', 'reversal_seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reversals_reversal_seq', table_name='reversals')
    op.drop_index('ix_postings_account_seq', table_name='postings')
