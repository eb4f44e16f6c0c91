"""published statements and their PDFs; both append-only

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:00:00

A statement, once published, never changes: a correction is a new row with the
next ``number`` for the same period, whose document names the one it supersedes.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

APPEND_ONLY = ("statements", "statement_pdfs")


def upgrade() -> None:
    op.create_table(
        'statements',
        sa.Column('estate_id', sa.String(length=64), sa.ForeignKey('estates.id'), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('root', sa.LargeBinary(length=32), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('issued_at', sa.String(length=24), nullable=False),
        sa.Column('document', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('estate_id', 'period', 'number'),
    )
    op.create_table(
        'statement_pdfs',
        sa.Column('estate_id', sa.String(length=64), sa.ForeignKey('estates.id'), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('lang', sa.String(length=8), nullable=False),
        sa.Column('pdf', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint('estate_id', 'period', 'number', 'lang'),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION trustledger_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION trustledger_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'trustledger: table {table} is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table('statement_pdfs')
    op.drop_table('statements')
