"""The OpenAPI document has an example for every operation, and the examples are true.

They come from a real run (``scripts/openapi_examples.py``): each answer must fit the
schema the document gives for it, and the verification examples must verify against
each other (the entry's leaf, its inclusion proof, the checkpoint and the log key).
"""

from __future__ import annotations

import base64
import json
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator

from api.app import create_app
from api.examples import JSON, TEXT_TYPES, recorded
from api.problems import TYPES, type_uri
from api.settings import Settings
from ledger.canonical import canonical_json
from ledger.checkpoint import verify_checkpoint
from ledger.merkle import hash_leaf, verify_inclusion
from ledger.storage.service import LedgerService

BINARY = {"application/pdf", "image/jpeg", "image/png", "image/webp", "application/octet-stream"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    """The document ``/openapi.json`` serves (producing it needs no database)."""
    app = create_app(Settings(write_rate=0), cast(LedgerService, object()))
    return json.loads(json.dumps(app.openapi()))


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    ]


def validate(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    root = {**schema, "components": doc["components"]}
    Draft202012Validator(root).validate(value)


def test_every_parameter_has_an_example(doc: dict[str, Any]) -> None:
    missing = [
        (name, p["name"])
        for name, op in operations(doc)
        for p in op.get("parameters", [])
        if p["in"] == "path" and "example" not in p
    ]
    assert missing == []


def test_every_request_body_has_an_example_that_fits_its_schema(doc: dict[str, Any]) -> None:
    seen = 0
    for name, op in operations(doc):
        content = op.get("requestBody", {}).get("content", {})
        if JSON in content:
            assert "example" in content[JSON], name
            validate(doc, content[JSON]["schema"], content[JSON]["example"])
            seen += 1
    assert seen == 6  # entries, batch, proposals, signatures, withdraw, estates


def test_every_answer_has_an_example_that_fits_its_schema(doc: dict[str, Any]) -> None:
    for name, op in operations(doc):
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        documented = [
            (kind, media)
            for r in ok.values()
            for kind, media in r.get("content", {}).items()
            if "example" in media
        ]
        kinds = {kind for r in ok.values() for kind in r.get("content", {})}
        if kinds and kinds <= BINARY:
            continue  # bytes: the parameters' examples are what "Try it out" needs
        assert documented, f"{name}: no example of a successful answer"
        for kind, media in documented:
            if kind == JSON:
                validate(doc, media["schema"], media["example"])
            else:
                assert kind in TEXT_TYPES and isinstance(media["example"], str), name


def test_every_operation_was_recorded(doc: dict[str, Any]) -> None:
    """A new operation needs its example: run ``scripts/openapi_examples.py``."""
    recorded_ops = set(recorded()["operations"])
    binary_only = {
        name
        for name, op in operations(doc)
        if {k for r in op["responses"].values() for k in r.get("content", {})} & BINARY
        and name.startswith("GET")
        and name not in recorded_ops
        and "statements" not in name
    }
    assert {name for name, _ in operations(doc)} - binary_only == recorded_ops


def test_the_verification_examples_verify_against_each_other() -> None:
    ops = recorded()["operations"]
    vkey = ops["GET /v1/estates/{estate}/log-key"]["response"]["vkey"]
    checkpoint = verify_checkpoint(ops["GET /v1/estates/{estate}/checkpoint"]["response"], vkey)
    item = ops["GET /v1/estates/{estate}/entries/{seq}"]["response"]
    leaf = base64.b64decode(item["leaf"])
    assert leaf == canonical_json(item["entry"])
    proof = ops["GET /v1/estates/{estate}/proofs/inclusion"]["response"]
    assert (proof["seq"], proof["tree_size"]) == (item["seq"], checkpoint.size)
    verify_inclusion(
        hash_leaf(leaf),
        item["seq"],
        checkpoint.size,
        [base64.b64decode(h) for h in proof["hashes"]],
        checkpoint.root,
    )
    page = ops["GET /v1/estates/{estate}/entries"]["response"]
    assert page["entries"][0] == item
    params = recorded()["params"]
    assert (params["seq"], params["tree_size"]) == (item["seq"], checkpoint.size)


def test_error_answers_name_their_problem_types(doc: dict[str, Any]) -> None:
    problem = doc["components"]["schemas"]["Problem"]
    assert problem["properties"]["type"]["enum"] == [type_uri(c) for c in TYPES]
    post = doc["paths"]["/v1/estates/{estate}/entries"]["post"]["responses"]
    assert "`/problems/missing-signature`" in post["403"]["description"]
    assert "`/problems/unbalanced-postings`" in post["422"]["description"]
    assert "`/problems/not-nfc`" in post["422"]["description"]
    for name, op in operations(doc):
        for code, response in op["responses"].items():
            if code[0] in "45":
                listed = {t.code for t in TYPES.values() if str(t.status) == code}
                for kind in listed:
                    assert f"`{type_uri(kind)}`" in response["description"], (name, code, kind)
