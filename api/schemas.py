"""Pydantic models of the API's JSON, for the OpenAPI document and its examples.

Request bodies are parsed strictly by the ledger core (``parse_json``), not by these
models: they describe the shapes for readers of ``/docs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CHECKPOINT_EXAMPLE = (
    "trustledger.example/estates/qingliang-2\n1234\n"
    "pyDNOAZPfYREA2fY3H/3pGSOyhOtNlns6QFwXDpFDS4=\n\n"
    "— trustledger.example/estates/qingliang-2 cUpQy9qBGoHUL0/UO+ppz4/tOVFydIjP0O3SehL6b1SfRr5989fS"
    "H1CJG7xm28QdbsPPCl0ZfM0wiWzBIvZ4n+03Vwk=\n"
)
PAYLOAD_EXAMPLE: dict[str, Any] = {
    "v": 1,
    "estate": "qingliang-2",
    "id": "6f1c8a52-3e0b-4a8e-9a57-1f8d2f0c9b11",
    "kind": "transaction",
    "date": "2026-11-02",
    "body": {
        "postings": [
            {"account": "Assets:Bank:CoManaged", "amount": -1200000},
            {"account": "Expenses:ElevatorMaintenance", "amount": 1200000},
        ],
        "counterparty": "常州某电梯工程有限公司",
        "category": "电梯维保",
    },
    "vouchers": [
        {
            "sha256": "9f2c0c7d1b5e4a3f8e6d5c4b3a291817161514131211100f0e0d0c0b0a090807",
            "media_type": "application/pdf",
            "size": 48211,
            "name": "电梯维保发票-2026-10.pdf",
        }
    ],
    "memo": "10月电梯维保费",
}
SIGNATURES_EXAMPLE: list[Any] = [
    {"key": "3b1f0c2d4e5a6978", "sig": "base64 Ed25519 signature (64 bytes)"},
    {"key": "a7c9e1f30b2d4c6e", "sig": "base64 Ed25519 signature (64 bytes)"},
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EstateSummary(Strict):
    id: str = Field(examples=["qingliang-2"])
    name: str = Field(examples=["青凉二村"])
    origin: str = Field(examples=["trustledger.example/estates/qingliang-2"])


class EstateList(Strict):
    estates: list[EstateSummary]


class Account(Strict):
    name: str = Field(examples=["Assets:Bank:CoManaged"])
    type: str = Field(examples=["asset"])
    display_name: str = Field(examples=["共管账户"])
    opened_seq: int
    closed_seq: int | None
    balance: int = Field(description="fen; debit positive (Beancount sign convention)")


class AuthorKeyInfo(Strict):
    key_id: str
    public_key: str
    role: str
    holder: str
    added_seq: int
    revoked_seq: int | None


class CheckpointRef(Strict):
    size: int
    root: str


class EstateDetails(Strict):
    id: str
    name: str
    address: str
    currency: str
    households: int
    origin: str
    vkey: str
    size: int
    checkpoint: CheckpointRef
    policy: dict[str, Any]
    accounts: list[Account]
    keys: list[AuthorKeyInfo]


class LogKey(Strict):
    origin: str = Field(examples=["trustledger.example/estates/qingliang-2"])
    vkey: str = Field(examples=["trustledger.example/estates/qingliang-2+c74f20a3+ARpc2Q…"])


class LogKeyEntry(Strict):
    vkey: str
    from_size: int = Field(description="signs checkpoints of sizes greater than this")
    handover: str | None = Field(
        description="the checkpoint of size from_size signed by the previous and this key"
    )


class LogKeyHistory(Strict):
    origin: str
    keys: list[LogKeyEntry] = Field(description="oldest first; the last is the current key")


class EntryItem(Strict):
    seq: int
    leaf: str = Field(description="base64 of the exact leaf bytes (RFC 8785 of `entry`)")
    entry: dict[str, Any] = Field(
        description="the stored entry: seq, prev, recorded_at, payload, signatures"
    )


class EntriesPage(Strict):
    entries: list[EntryItem]
    next: int | None = Field(description="start of the next page, or null at the end")


class InclusionProof(Strict):
    seq: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    from_: int = Field(alias="from")
    to: int
    hashes: list[str]


class SignedPayloadIn(BaseModel):
    """A payload and its authors' signatures (parsed strictly by the ledger core)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"payload": PAYLOAD_EXAMPLE, "signatures": SIGNATURES_EXAMPLE}]
        }
    )
    payload: dict[str, Any]
    signatures: list[dict[str, str]]


class BatchIn(BaseModel):
    items: list[SignedPayloadIn] = Field(max_length=1000)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["/problems/missing-signature"])
    title: str
    status: int
    detail: str
    field: str | None = None


class EntriesOut(Strict):
    """The entries a batch post appended (or found already there), in request order."""

    entries: list[EntryItem]


class VoucherStored(Strict):
    sha256: str
    size: int
    media_type: str = Field(examples=["application/pdf"])


PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what errors really are (in place; returns ``doc``).

    Every 4xx/5xx response is ``application/problem+json`` with the ``Problem`` schema
    (FastAPI's default 422 ``HTTPValidationError`` in ``application/json`` is never
    sent: validation errors go through the problem handler too), and every operation
    on an estate may answer 404. Each error response names the problem types of its
    status, and ``type`` is one of the listed ones.
    """
    from api.problems import TYPES, type_uri

    by_status: dict[str, list[str]] = {}
    for t in TYPES.values():
        by_status.setdefault(str(t.status), []).append(f"`{type_uri(t.code)}` ({t.title})")
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    components["Problem"]["properties"]["type"]["enum"] = [type_uri(c) for c in TYPES]
    for path, ops in doc.get("paths", {}).items():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            if "{estate}" in path:
                responses.setdefault("404", {"description": "Not Found"})
            for code, response in responses.items():
                if code[0] in "45":
                    if response.get("description") == "Validation Error":
                        response["description"] = "Invalid input"
                    response["content"] = {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}}
                    if code in by_status and "Problem types:" not in response["description"]:
                        kinds = "; ".join(by_status[code])
                        response["description"] += f". Problem types: {kinds}"
    text = repr(doc.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)
    return doc


class StatementCheckpoint(Strict):
    size: int = Field(examples=[5225])
    root: str = Field(examples=["m3ZGCVVx7HgCuQ5/2k7t8wZxK3cC1mYAbvYp4YQPk9o="])


class StatementSummary(Strict):
    period: str = Field(examples=["2026-10"])
    number: int = Field(examples=[1], description="1, then 2 for its first correction, …")
    issued_at: str = Field(examples=["2026-11-01T02:00:00Z"])
    checkpoint: StatementCheckpoint
    sha256: str = Field(description="hex SHA-256 of the signed JSON document (JCS)")
    superseded_by: int | None = Field(description="the number of the correction, if any")
    json_url: str = Field(alias="json", examples=["/v1/estates/shifan-garden/statements/2026-10"])
    pdf: str = Field(examples=["/v1/estates/shifan-garden/statements/2026-10.pdf"])


class StatementList(Strict):
    statements: list[StatementSummary]
    closed_periods: list[str] = Field(
        examples=[["2026-10", "2026-09", "2026-Q3", "2025"]],
        description="periods that have ended: GET /statements/{period} produces them",
    )
