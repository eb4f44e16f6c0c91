"""The database schema (SQLAlchemy 2 declarative, typed with ``Mapped``).

Every table is keyed by ``estate_id`` first and nothing crosses estates, so the
data can be distributed by estate. ``entries``, ``tree_hashes``, ``checkpoints``
and ``postings`` are append-only: database triggers (see the migrations) reject
UPDATE and DELETE on them. ``household_salts`` is deliberately deletable (PIPL).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

APPEND_ONLY_TABLES = (
    "entries",
    "tree_hashes",
    "checkpoints",
    "postings",
    "entry_facts",
    "log_keys",
    "redactions",
    "statements",
    "statement_pdfs",
)


class Base(DeclarativeBase):
    pass


class EstateRow(Base):
    """An estate and its log head; the row appends lock to serialise one estate's log."""

    __tablename__ = "estates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(300))
    vkey: Mapped[str] = mapped_column(String(400))  # current log verifier key
    policy: Mapped[str] = mapped_column(Text)  # JSON, derived from genesis/policy entries
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[str] = mapped_column(String(24))


class EntryRow(Base):
    __tablename__ = "entries"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payload_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    date: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[str] = mapped_column(String(24))
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = (
        Index("ix_entries_payload_id", "estate_id", "payload_id", unique=True),
        Index("ix_entries_kind_date", "estate_id", "kind", "date"),
    )


class TreeHashRow(Base):
    """Hash of the perfect subtree over leaves [idx·2^level, (idx+1)·2^level).

    On SQLite a ``WITHOUT ROWID`` table (migration 0008): the rows live in the primary
    key's B-tree, so a node is one descent and a run of a level's nodes one range.
    """

    __tablename__ = "tree_hashes"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = ({"sqlite_with_rowid": False},)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[str] = mapped_column(String(24))


class PostingRow(Base):
    """One posting of a transaction (or the negated postings of a reversal)."""

    __tablename__ = "postings"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    date: Mapped[str] = mapped_column(String(10))
    # amount is in the index so that sums over an account's postings up to a date
    # (balances, opening balances, totals) read the index alone (migration 0006)
    __table_args__ = (
        Index("ix_postings_account_date_amount", "estate_id", "account", "date", "amount"),
        Index("ix_postings_account_seq", "estate_id", "account", "seq"),  # migration 0003
    )


class KeyRow(Base):
    __tablename__ = "author_keys"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    role: Mapped[str] = mapped_column(String(16))
    holder: Mapped[str] = mapped_column(String(100))
    added_seq: Mapped[int] = mapped_column(BigInteger)
    revoked_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AccountRow(Base):
    __tablename__ = "accounts"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(100))
    opened_seq: Mapped[int] = mapped_column(BigInteger)
    closed_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ReversalRow(Base):
    __tablename__ = "reversals"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    target_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reversal_seq: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_reversals_reversal_seq", "estate_id", "reversal_seq"),)


class VoucherRefRow(Base):
    """Which entry references which voucher hash (derived, for lookups)."""

    __tablename__ = "voucher_refs"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class HouseholdSaltRow(Base):
    """Salt and unit behind a fee receipt's commitment; deleting it unlinks the payment."""

    __tablename__ = "household_salts"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    commitment: Mapped[str] = mapped_column(String(44), primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    unit_id: Mapped[str] = mapped_column(String(64))


class EntryFactRow(Base):
    """Derived facts of a transaction or reversal, for the queries people make.

    ``trust_delta`` is the entry's net change of the trust account
    (``Assets:Bank:CoManaged``) and ``trust_balance`` the account's balance after
    the entry: both re-derivable from the leaves, stored so that a page of the
    transaction list shows running balances without summing the whole log.
    """

    __tablename__ = "entry_facts"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    date: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(64))
    counterparty: Mapped[str] = mapped_column(String(200))
    memo: Mapped[str] = mapped_column(String(500))
    household: Mapped[str | None] = mapped_column(String(44), nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # sum of the positive postings
    trust_delta: Mapped[int] = mapped_column(BigInteger)
    trust_balance: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        Index("ix_entry_facts_date_delta", "estate_id", "date", "seq", "trust_delta"),
        Index("ix_entry_facts_category", "estate_id", "category", "seq"),
        Index("ix_entry_facts_household", "estate_id", "household"),
    )


class PeriodTotalRow(Base):
    """Totals of transactions and reversals by business period, kept by the append.

    Derived and mutable (each append adds to its rows with an upsert): see
    :mod:`ledger.storage.aggregates` for what each row sums. Migration 0007; on
    SQLite a ``WITHOUT ROWID`` table, so a range of a key's periods reads one B-tree.
    """

    __tablename__ = "period_totals"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    dim: Mapped[str] = mapped_column(String(8), primary_key=True)  # all | category | account
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    span: Mapped[str] = mapped_column(String(5), primary_key=True)  # all | year | month
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "" | YYYY | YYYY-MM
    entries: Mapped[int] = mapped_column(BigInteger)
    trust_delta: Mapped[int] = mapped_column(BigInteger)
    income: Mapped[int] = mapped_column(BigInteger)
    spending: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # dim "account": Σ postings to exactly name
    __table_args__ = ({"sqlite_with_rowid": False},)


class RedactionRow(Base):
    """A voucher whose bytes were withdrawn by a signed ``redaction`` entry."""

    __tablename__ = "redactions"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))


class ProposalRow(Base):
    """A payload waiting for co-signatures; appended once the policy is satisfied."""

    __tablename__ = "proposals"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the payload id
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON of the payload
    signatures: Mapped[str] = mapped_column(Text)  # JSON list of {"key", "sig"}
    proposed_by: Mapped[str] = mapped_column(Text, server_default="[]")  # JSON key ids
    status: Mapped[str] = mapped_column(String(16))  # pending | appended | withdrawn
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[str] = mapped_column(String(24))
    updated_at: Mapped[str] = mapped_column(String(24))
    __table_args__ = (Index("ix_proposals_status", "estate_id", "status"),)


class OperatorTokenRow(Base):
    """An operator bearer token, stored only as its SHA-256."""

    __tablename__ = "operator_tokens"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[str] = mapped_column(String(24))
    revoked_at: Mapped[str | None] = mapped_column(String(24), nullable=True)


class LogKeyRow(Base):
    """Every log key an estate has used, from the tree size it first signed."""

    __tablename__ = "log_keys"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    from_size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    vkey: Mapped[str] = mapped_column(String(400))
    handover_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class StatementRow(Base):
    """A published statement (signed JSON); a correction is a new ``number`` for the period."""

    __tablename__ = "statements"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)  # the checkpoint the figures come from
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    sha256: Mapped[str] = mapped_column(String(64))  # of the document's bytes
    issued_at: Mapped[str] = mapped_column(String(24))
    document: Mapped[bytes] = mapped_column(LargeBinary)  # JCS of {statement, signature}


class StatementPdfRow(Base):
    """The signed PDF of a statement, rendered once on first request."""

    __tablename__ = "statement_pdfs"
    estate_id: Mapped[str] = mapped_column(ForeignKey("estates.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(24))
