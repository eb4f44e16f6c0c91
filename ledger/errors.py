"""The core's error hierarchy.

Two roots: :class:`LedgerError` for anything the ledger refuses (bad input, a
failed proof, a broken policy) and :class:`StorageError` for things that went
wrong below it. Each leaf has a stable ``code`` that the HTTP edge maps to an
RFC 9457 problem type and the CLI prints; the core never knows about HTTP.
Errors carry the data a caller needs (``field``, expected vs. found values).
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code = "ledger-error"

    def __init__(self, message: str, *, field: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.data = data

    def __str__(self) -> str:
        return self.message


# -- input ---------------------------------------------------------------------------------


class InvalidInput(LedgerError):
    """The input is not well formed (wrong type, missing field, out of range)."""

    code = "invalid-input"


class InvalidText(InvalidInput):
    """A string is not valid UTF-8 or carries control characters."""

    code = "invalid-text"


class NotNFC(InvalidText):
    """A string is not in Unicode normalisation form C."""

    code = "not-nfc"


class InvalidAmount(InvalidInput):
    """An amount is not an integer number of fen within bounds."""

    code = "invalid-amount"


class UnknownKind(InvalidInput):
    """The payload's kind is not one this ledger knows."""

    code = "unknown-kind"


class WrongEstate(InvalidInput):
    """The payload names another estate than the log it is posted to."""

    code = "wrong-estate"


# -- signatures and policy ------------------------------------------------------------------


class SignatureError(LedgerError):
    """Base of signature failures."""

    code = "signature-error"


class InvalidSignature(SignatureError):
    """A signature does not verify under the key it names."""

    code = "invalid-signature"


class UnknownKey(SignatureError):
    """A signature names a key that is not registered in this estate's log."""

    code = "unknown-key"


class RevokedKey(SignatureError):
    """A signature is made by a key revoked earlier in the log."""

    code = "revoked-key"


class DuplicateSignature(SignatureError):
    """The same key signed twice."""

    code = "duplicate-signature"


class MissingSignature(SignatureError):
    """The policy asks for a signature (by role) that is not there."""

    code = "missing-signature"


# -- accounting -----------------------------------------------------------------------------


class AccountingError(LedgerError):
    """Base of double-entry failures."""

    code = "accounting-error"


class UnbalancedPostings(AccountingError):
    """Postings do not sum to zero."""

    code = "unbalanced-postings"


class UnknownAccount(AccountingError):
    """A posting names an account that is not open."""

    code = "unknown-account"


class AccountState(AccountingError):
    """An account is opened twice, or closed when not open."""

    code = "account-state"


class InvalidReversal(AccountingError):
    """A reversal names no transaction, or one already reversed."""

    code = "invalid-reversal"


# -- log ------------------------------------------------------------------------------------


class Conflict(LedgerError):
    """The payload id is already in the log with other content."""

    code = "id-conflict"


class MissingVoucher(LedgerError):
    """An entry references a voucher whose bytes have not been uploaded."""

    code = "missing-voucher"


class NotFound(LedgerError):
    """An estate, entry, or other object does not exist."""

    code = "not-found"


class LogStateError(LedgerError):
    """The operation does not fit the log's current state (e.g. a second genesis)."""

    code = "log-state"


class ProofError(LedgerError):
    """A Merkle proof does not verify, or its parameters are impossible."""

    code = "proof-error"


class RootMismatchError(ProofError):
    """A recomputed root differs from the expected one."""

    code = "root-mismatch"

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        super().__init__(
            f"root mismatch: expected {expected.hex()}, calculated {calculated.hex()}",
            expected=expected,
            calculated=calculated,
        )
        self.expected = expected
        self.calculated = calculated


class NoteError(LedgerError):
    """A signed note or checkpoint is malformed or its signature does not verify."""

    code = "bad-note"


class StatementError(LedgerError):
    """A statement does not verify: signature, signer, checkpoint or figures."""

    code = "statement-invalid"


class PeriodNotClosed(LedgerError):
    """A statement was asked for a period that has not ended yet."""

    code = "period-not-closed"


class StorageError(Exception):
    """Something below the ledger failed (database, files)."""
