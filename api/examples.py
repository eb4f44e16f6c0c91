"""Examples for every operation of the OpenAPI document, from a real run of the server.

``openapi_examples.json`` (written by ``scripts/openapi_examples.py`` from the demo
estate) holds what was sent and what came back for each operation, and a value for
each parameter name. :func:`document_examples` puts them into the document that
``/docs`` shows: parameters are filled in for "Try it out", request bodies and
answers are the real ones.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

JSON = "application/json"
TEXT_TYPES = ("text/plain", "text/csv")
REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "POST /v1/estates/{estate}/proposals/{proposal_id}/signatures": {
        "type": "object",
        "required": ["signatures"],
        "properties": {
            "signatures": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/SignatureIn"},
                "minItems": 1,
            }
        },
        "additionalProperties": False,
    },
    "POST /v1/estates/{estate}/proposals/{proposal_id}:withdraw": {
        "type": "object",
        "required": ["signature"],
        "properties": {
            "signature": {
                "$ref": "#/components/schemas/SignatureIn",
                "description": "by a key that made the proposal, over "
                "`trustledger/withdraw/v1\\n` and the proposal id",
            }
        },
        "additionalProperties": False,
    },
}
"""Bodies the routes read themselves (strictly, in the ledger core), described here."""

SIGNATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["key", "sig"],
    "properties": {
        "key": {"type": "string", "description": "the key id: 16 lowercase hex digits"},
        "sig": {"type": "string", "description": "base64 of the 64-byte Ed25519 signature"},
    },
    "additionalProperties": False,
}


@functools.cache
def recorded() -> dict[str, Any]:
    text = resources.files("api").joinpath("openapi_examples.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def document_examples(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the recorded examples to the OpenAPI document ``doc`` (in place; returns it)."""
    data = recorded()
    params, ops = data["params"], data["operations"]
    doc.setdefault("components", {}).setdefault("schemas", {})["SignatureIn"] = SIGNATURE_SCHEMA
    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            name = f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                if p["name"] in params and "example" not in p:
                    p["example"] = params[p["name"]]
            if name in REQUEST_SCHEMAS and "requestBody" not in op:
                op["requestBody"] = {
                    "required": True,
                    "content": {JSON: {"schema": REQUEST_SCHEMAS[name]}},
                }
            example = ops.get(name)
            if example is None:
                continue
            if "request" in example:
                op["requestBody"]["content"][JSON]["example"] = example["request"]
            response = op["responses"].setdefault(example["status"], {"description": "OK"})
            if "note" in example and example["note"] not in response["description"]:
                response["description"] += " " + example["note"]
            content = response.setdefault("content", {})
            if isinstance(example["response"], str):
                kind = next((t for t in content if t in TEXT_TYPES), "text/plain")
                content.setdefault(kind, {"schema": {"type": "string"}})
                content[kind]["example"] = example["response"]
            else:
                content.setdefault(JSON, {"schema": {"type": "object"}})
                content[JSON]["example"] = example["response"]
    return doc
