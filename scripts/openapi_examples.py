"""Write ``api/openapi_examples.json``: real requests and answers for every API operation.

Seeds the demo estate into a scratch directory, then makes each call once through the
app (signed posts with the demo's keys, a voucher upload, a proposal co-signed and
one withdrawn, a log key rotation, a new estate) and keeps what was sent and what
came back. ``api.examples`` puts them into the OpenAPI document, so ``/docs`` shows
answers the server really gave, which verify against each other (the inclusion proof
against the checkpoint, each leaf against its entry: ``tests/api/test_openapi_examples.py``).

Long lists are cut to their first items (the accounts of an estate, the problem
types, a statement's lines: so that example's signature does not verify); entries,
proofs and checkpoints are kept whole.

    .venv/bin/python scripts/openapi_examples.py
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from api.app import create_app  # noqa: E402
from api.demo import DEMO_ESTATE, demo_keys, seed  # noqa: E402
from api.settings import Settings  # noqa: E402
from ledger.household import format_receipt_code  # noqa: E402
from ledger.signing import Signature  # noqa: E402
from ledger.storage.models import HouseholdSaltRow  # noqa: E402
from ledger.storage.proposals import withdraw_signing_bytes  # noqa: E402
from ledger.storage.service import LedgerService  # noqa: E402
from statements import ca  # noqa: E402

OUT = ROOT / "api" / "openapi_examples.json"
TODAY = dt.date(2026, 11, 27)
E = DEMO_ESTATE
BASE = f"/v1/estates/{E}"
KEEP = 3  # items kept of long lists


def _cut(value: Any, *keys: str) -> Any:
    """``value`` with the lists under ``keys`` cut to their first :data:`KEEP` items."""
    out = copy.deepcopy(value)
    for key in keys:
        out[key] = out[key][:KEEP]
    return out


def _ok(r: Any, status: int = 200) -> Any:
    if r.status_code != status:
        raise SystemExit(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}")
    return r


def _payment(memo: str, fen: int, vouchers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "v": 1,
        "estate": E,
        "id": str(uuid.uuid4()),
        "kind": "transaction",
        "date": "2026-11-20",
        "body": {
            "postings": [
                {"account": "Expenses:ElevatorMaintenance", "amount": fen},
                {"account": "Assets:Bank:CoManaged", "amount": -fen},
            ],
            "counterparty": "常州迅升电梯工程有限公司",
            "category": "电梯维保",
        },
        "vouchers": vouchers,
        "memo": memo,
    }


def main() -> None:
    ops: dict[str, dict[str, Any]] = {}

    def keep(op: str, response: Any, *, request: Any = None, status: int = 200) -> None:
        ops[op] = {"status": str(status), "response": response}
        if request is not None:
            ops[op]["request"] = request

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch)
        settings = Settings(data_dir=data_dir, write_rate=0)
        svc = LedgerService(settings.db_url(), data_dir, settings.log_origin_host)
        svc.migrate()
        seed(svc, data_dir, today=TODAY)
        ca.init_ca(data_dir)
        ca.issue_estate_cert(data_dir, E, "示范花园小区")
        keys = demo_keys(data_dir)
        trustee, committee = keys["trustee"], keys["committee-1"]
        token = svc.create_operator_token("示例运营")[1]
        c = TestClient(create_app(settings, svc))

        keep("GET /v1/estates", _ok(c.get("/v1/estates")).json())
        details = _ok(c.get(BASE)).json()
        keep("GET /v1/estates/{estate}", _cut(details, "accounts", "keys"))
        keep("GET /v1/estates/{estate}/log-key", _ok(c.get(f"{BASE}/log-key")).json())
        checkpoint = _ok(c.get(f"{BASE}/checkpoint")).text
        size = details["size"]

        with svc.session() as s:
            salts = {
                r.commitment: r
                for r in s.scalars(select(HouseholdSaltRow).where(HouseholdSaltRow.estate_id == E))
            }
        with svc.reader(E) as r:
            leaves = [(seq, json.loads(leaf)) for seq, leaf in r.leaves(max(0, size - 600), 600)]
        seq_with_voucher = next(
            seq
            for seq, e in reversed(leaves)
            if e["payload"]["kind"] == "transaction" and e["payload"].get("vouchers")
        )
        receipt_seq, household = next(
            (seq, e["payload"]["body"]["household"])
            for seq, e in reversed(leaves)
            if e["payload"]["body"].get("household") in salts
        )
        entry = _ok(c.get(f"{BASE}/entries/{seq_with_voucher}")).json()
        sha256 = entry["entry"]["payload"]["vouchers"][0]["sha256"]
        keep("GET /v1/estates/{estate}/entries/{seq}", entry)
        keep(
            "GET /v1/estates/{estate}/entries",
            _ok(c.get(f"{BASE}/entries", params={"start": seq_with_voucher, "limit": 2})).json(),
        )
        keep(
            "GET /v1/estates/{estate}/proofs/inclusion",
            _ok(
                c.get(
                    f"{BASE}/proofs/inclusion",
                    params={"seq": seq_with_voucher, "tree_size": size},
                )
            ).json(),
        )
        keep(
            "GET /v1/estates/{estate}/proofs/consistency",
            _ok(
                c.get(f"{BASE}/proofs/consistency", params={"from": size - 100, "to": size})
            ).json(),
        )
        statements = _ok(c.get(f"{BASE}/statements")).json()
        period = statements["closed_periods"][0]
        statement = _ok(c.get(f"{BASE}/statements/{period}")).json()
        lines = statement["statement"]["lines"]  # one per entry of the period: hundreds
        statement["statement"]["lines"] = lines[:KEEP]
        keep("GET /v1/estates/{estate}/statements/{period}", statement)
        ops["GET /v1/estates/{estate}/statements/{period}"]["note"] = (
            f"(The example's `lines` are cut to {KEEP} of {len(lines)}, so its signature "
            "does not verify; a real answer has every line.)"
        )
        keep("GET /v1/estates/{estate}/statements", _ok(c.get(f"{BASE}/statements")).json())

        # Queries.
        txs = _ok(c.get(f"{BASE}/transactions", params={"limit": 2})).json()
        keep("GET /v1/estates/{estate}/transactions", txs)
        csv_lines = _ok(c.get(f"{BASE}/transactions.csv", params={"from": "2026-10-01"})).text
        keep("GET /v1/estates/{estate}/transactions.csv", "".join(csv_lines.splitlines(True)[:4]))
        balances = _ok(c.get(f"{BASE}/balances", params={"date": "2026-10-31"})).json()
        keep("GET /v1/estates/{estate}/balances", _cut(balances, "accounts"))
        summary = _ok(c.get(f"{BASE}/summary", params={"period": period})).json()
        keep("GET /v1/estates/{estate}/summary", summary)
        budget = _ok(c.get(f"{BASE}/budget", params={"year": 2026})).json()
        keep("GET /v1/estates/{estate}/budget", budget)
        salt = salts[household]
        code = format_receipt_code(receipt_seq, salt.salt, salt.unit_id)
        keep(
            "GET /v1/estates/{estate}/receipts/{code}", _ok(c.get(f"{BASE}/receipts/{code}")).json()
        )

        # Writes: a voucher, then the payment that cites it, signed by both sides.
        pdf = "%PDF-1.4\n% 11月电梯维保发票（示例）\n%%EOF\n".encode()
        pdf_sha = hashlib.sha256(pdf).hexdigest()
        stored = _ok(c.put(f"{BASE}/vouchers/{pdf_sha}", content=pdf), 201).json()
        keep("PUT /v1/estates/{estate}/vouchers/{sha256}", stored, status=201)
        ref = {"sha256": pdf_sha, "media_type": "application/pdf", "size": len(pdf)}
        ref["name"] = "电梯维保发票-2026-11.pdf"
        payment = _payment("11月电梯维保费", 1008000, [ref])
        signed = {"payload": payment, "signatures": sigs(payment, trustee, committee)}
        posted = _ok(c.post(f"{BASE}/entries", json=signed), 201).json()
        keep("POST /v1/estates/{estate}/entries", posted, request=signed, status=201)

        batch = {"items": []}
        for memo, fen in (("11月电梯年检费", 150000), ("11月电梯配件", 86000)):
            p = _payment(memo, fen, [])
            batch["items"].append({"payload": p, "signatures": sigs(p, trustee, committee)})
        done = _ok(c.post(f"{BASE}/entries:batch", json=batch), 201).json()
        keep("POST /v1/estates/{estate}/entries:batch", done, request=batch, status=201)

        # Co-signing: the trustee proposes, the committee co-signs; another is withdrawn.
        spend = _payment("12月电梯维保费（待业委会会签）", 1008000, [])
        proposed = {"payload": spend, "signatures": sigs(spend, trustee)}
        made = _ok(c.post(f"{BASE}/proposals", json=proposed), 201).json()
        keep("POST /v1/estates/{estate}/proposals", made, request=proposed, status=201)
        keep("GET /v1/estates/{estate}/proposals/{proposal_id}", made)
        keep(
            "GET /v1/estates/{estate}/proposals",
            _ok(c.get(f"{BASE}/proposals", params={"status": "pending"})).json(),
        )
        cosign = {"signatures": sigs(spend, committee)}
        appended = _ok(c.post(f"{BASE}/proposals/{spend['id']}/signatures", json=cosign)).json()
        keep(
            "POST /v1/estates/{estate}/proposals/{proposal_id}/signatures",
            appended,
            request=cosign,
        )
        other = _payment("重复提交的维保费（撤回）", 1008000, [])
        _ok(
            c.post(
                f"{BASE}/proposals", json={"payload": other, "signatures": sigs(other, trustee)}
            ),
            201,
        )
        raw = Ed25519PrivateKey.from_private_bytes(trustee.seed).sign(
            withdraw_signing_bytes(other["id"])
        )
        withdrawal = {"signature": Signature(trustee.key_id, raw).to_json()}
        withdrawn = _ok(c.post(f"{BASE}/proposals/{other['id']}:withdraw", json=withdrawal))
        keep(
            "POST /v1/estates/{estate}/proposals/{proposal_id}:withdraw",
            withdrawn.json(),
            request=withdrawal,
        )

        # Operator: a new estate, and a log key rotation of the demo.
        bearer = {"Authorization": f"Bearer {token}"}
        genesis = new_genesis(keys)
        created = _ok(c.post("/v1/estates", json=genesis, headers=bearer), 201).json()
        keep("POST /v1/estates", created, request=genesis, status=201)
        rotated = _ok(c.post(f"{BASE}/log-key:rotate", headers=bearer)).json()
        keep("POST /v1/estates/{estate}/log-key:rotate", rotated)
        keep("GET /v1/estates/{estate}/log-keys", _ok(c.get(f"{BASE}/log-keys")).json())

        # Operations.
        keep("GET /healthz", _ok(c.get("/healthz")).json())
        keep("GET /readyz", _ok(c.get("/readyz")).json())
        keep("GET /problems", _cut(_ok(c.get("/problems")).json(), "problems"))
        keep("GET /problems/{code}", _ok(c.get("/problems/missing-signature")).json())
        metrics = _ok(c.get("/metrics")).text.splitlines(True)
        keep("GET /metrics", "".join(m for m in metrics if "trustledger_" in m)[:1200])
        keep("GET /v1/estates/{estate}/checkpoint", checkpoint)
        c.close()
        svc.engine.dispose()

    params = {
        "estate": E,
        "seq": seq_with_voucher,
        "tree_size": size,
        "start": seq_with_voucher,
        "from": size - 100,
        "to": size,
        "sha256": sha256,
        "period": period,
        "proposal_id": spend["id"],
        "code": code,
        "date": "2026-10-31",
        "year": 2026,
        "path": "0/000",
    }
    document = {"about": __doc__.strip().splitlines()[0], "params": params, "operations": ops}
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(ops)} operations, {len(text):,} characters")


def sigs(payload: dict[str, Any], *keys: Any) -> list[dict[str, str]]:
    return [k.sign(payload).to_json() for k in keys]


def new_genesis(keys: dict[str, Any]) -> dict[str, Any]:
    """A second estate of the same operator, founded with the demo's keys."""
    from api.demo_data import KEYS
    from api.payloads import genesis_body, payload, sign

    founders = [(keys[stem].public_key, role, holder) for stem, role, holder in KEYS]
    body = genesis_body("青凉二村", "江苏省常州市天宁区青凉路 2 号", 480, founders)
    raw = payload("qingliang-2", "genesis", body, date=TODAY, memo="青凉二村信托制物业账本创立")
    item = sign(raw, [keys["operator"]])
    return {"payload": raw, "signatures": [s.to_json() for s in item.signatures]}


if __name__ == "__main__":
    main()
