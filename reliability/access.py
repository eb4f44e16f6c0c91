"""Nobody gets in where they don't belong: the refusal matrix, secrets, key files.

Two estates, A and B, on one ``trustledger serve`` (B shares A's platform operator
key, as estates of one platform do). After the legitimate writes the matrix needs
(a committee key revoked in A, one payload appended in B, a fee receipt with a
household commitment), each case below is sent over HTTP and must be refused with
its problem type, and nothing may be written: the entries of every estate, the
estates, log keys and appended proposals are counted before and after each case.

- forged signature (another payload's, random bytes, payload altered after
  signing): 403 invalid-signature;
- valid signature by a key of the wrong role (income by the supervisor, spending
  by trustee + supervisor, key change without the operator): 403 missing-signature;
- a revoked key: 403 revoked-key; a key of another estate: 403 unknown-key;
- a payload of estate B posted to A (cross-estate replay): 422 wrong-estate; B's
  payload re-addressed to A with the shared operator key's signature: 403
  invalid-signature;
- the same signature twice: 422 duplicate-signature;
- spending without the committee's co-signature: 403 missing-signature; as a
  proposal co-signed by the same role again and by the supervisor: stays pending;
- operator action without a token / malformed / Basic / unknown / revoked token:
  401 / 401 / 401 / 403 / 403; a genesis signed by a non-operator key with a valid
  token: 403 missing-signature;
- token brute force (well-formed random tokens): 429 after the burst, and the
  right token too while blocked.

Then the secrets: the server's whole log (JSON lines, captured from its stderr)
must not contain any token used, any author or log key seed (hex, base64,
base64url), the household salt or receipt code; the database must hold tokens only
as SHA-256 and no key material (file bytes for SQLite, ``pg_dump`` for
PostgreSQL); every file under ``DATA_DIR/logkeys`` and an author key from
``trustledger keygen`` is mode 0600.

``python -m reliability.access [--engine sqlite|postgresql|both]``
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from ledger.household import format_receipt_code, make_commitment
from ledger.signing import AuthorKey
from ledger.storage.appender import SignedPayload
from reliability.common import (
    Authors,
    Databases,
    Db,
    Result,
    Server,
    audit,
    cli,
    connect,
    is_problem,
    problem_type,
    wire,
)

NAME = "access"
BRUTE_FORCE = 40


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _forms(secret: bytes) -> list[str]:
    """How a key or salt could appear in a log: hex, base64, base64url, base32."""
    return [
        secret.hex(),
        _b64(secret),
        _b64(secret).rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        base64.b32encode(secret).decode().rstrip("=").lower(),
    ]


def _counts(db: Db) -> dict[str, int]:
    with connect(db) as conn:
        return {
            "entries": int(conn.execute(text("SELECT count(*) FROM entries")).scalar() or 0),
            "estates": int(conn.execute(text("SELECT count(*) FROM estates")).scalar() or 0),
            "log_keys": int(conn.execute(text("SELECT count(*) FROM log_keys")).scalar() or 0),
            "appended_proposals": int(
                conn.execute(
                    text("SELECT count(*) FROM proposals WHERE status = 'appended'")
                ).scalar()
                or 0
            ),
        }


def _with_signatures(item: SignedPayload, sigs: list[dict[str, str]]) -> dict[str, Any]:
    return {"payload": dict(item.payload.raw), "signatures": sigs}


def _sig_of(doc: dict[str, Any], key: AuthorKey) -> dict[str, str]:
    """``key``'s signature as it stands in ``doc`` (made for the payload as it was)."""
    return next(s for s in doc["signatures"] if s["key"] == key.key_id)


def _sig(key: AuthorKey, raw: dict[str, Any]) -> dict[str, str]:
    return key.sign(raw).to_json()


class Matrix:
    def __init__(self, server: Server, db: Db, a: Authors, b: Authors, result: Result) -> None:
        self.server, self.db, self.a, self.b, self.result = server, db, a, b, result
        self.rows: list[dict[str, Any]] = []
        self.client = httpx.Client(base_url=server.base, timeout=30)

    def case(
        self,
        name: str,
        expect: tuple[int, str],
        send: Callable[[httpx.Client], httpx.Response],
    ) -> httpx.Response:
        before = _counts(self.db)
        r = send(self.client)
        after = _counts(self.db)
        got = (r.status_code, problem_type(r).removeprefix("/problems/"))
        written = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        ok = got == expect and is_problem(r) and not written
        self.result.requests += 1
        if written or r.is_success:
            self.result.let_in += 1
        if not ok:
            self.result.fail(f"{name}: got {got}, expected {expect}, written {written}")
        detail = ""
        try:
            body = r.json()
            detail = str(body.get("detail", ""))[:160]
            if body.get("role"):
                detail += f" [role {body['role']}]"
        except ValueError:
            pass
        self.rows.append(
            {
                "case": name,
                "answer": f"{got[0]} {got[1]}",
                "expected": f"{expect[0]} {expect[1]}",
                "written": written or 0,
                "ok": ok,
                "detail": detail,
            }
        )
        return r

    def post(self, estate: str, doc: dict[str, Any]) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post(f"/v1/estates/{estate}/entries", json=doc)


def run_matrix(server: Server, db: Db, a: Authors, b: Authors, tokens: dict[str, str]) -> Result:
    result = Result(NAME, db.engine, "refusal matrix", "")
    m = Matrix(server, db, a, b, result)
    A = a.id

    # forged signatures
    item = a.income(1_234)
    other = a.income(4_321)
    m.case(
        "forged: another payload's signature",
        (403, "invalid-signature"),
        m.post(A, _with_signatures(item, [_sig(a.trustee, dict(other.payload.raw))])),
    )
    m.case(
        "forged: random signature bytes",
        (403, "invalid-signature"),
        m.post(A, _with_signatures(item, [{"key": a.trustee.key_id, "sig": _b64(os.urandom(64))}])),
    )
    altered = wire(item)
    altered["payload"]["body"]["postings"][0]["amount"] = 9_999_999
    altered["payload"]["body"]["postings"][1]["amount"] = -9_999_999
    m.case("forged: payload altered after signing", (403, "invalid-signature"), m.post(A, altered))

    # wrong role
    m.case(
        "wrong role: income signed by the supervisor",
        (403, "missing-signature"),
        m.post(A, wire(a.income(500, keys=[a.supervisor]))),
    )
    m.case(
        "wrong role: spending by trustee + supervisor",
        (403, "missing-signature"),
        m.post(A, wire(a.spend(500, a.trustee, a.supervisor))),
    )
    newcomer = AuthorKey.generate()
    register = a.signed(
        "key",
        {
            "action": "register",
            "public_key": _b64(newcomer.public_key),
            "role": "trustee",
            "holder": "冒名物业",
            "reason": "未经平台",
        },
        a.committee,
    )
    m.case(
        "wrong role: key change without the operator",
        (403, "missing-signature"),
        m.post(A, wire(register)),
    )

    # revoked, foreign keys
    m.case(
        "revoked key",
        (403, "revoked-key"),
        m.post(A, wire(a.income(700, keys=[a.committee2]))),
    )
    m.case(
        "key of another estate",
        (403, "unknown-key"),
        m.post(A, wire(a.income(800, keys=[b.trustee]))),
    )

    # cross-estate replay
    appended_in_b = tokens["_b_payload"]
    m.case(
        "replay: B's appended payload posted to A",
        (422, "wrong-estate"),
        lambda c: c.post(f"/v1/estates/{A}/entries", json=appended_in_b),
    )
    b_raw = dict(appended_in_b["payload"])
    b_raw["estate"] = A
    m.case(
        "replay: B's payload re-addressed to A (operator key valid in both)",
        (403, "invalid-signature"),
        m.post(A, {"payload": b_raw, "signatures": [_sig_of(appended_in_b, a.operator)]}),
    )

    # the same signature twice
    spend = a.spend(900, a.trustee)
    twice = [_sig(a.trustee, dict(spend.payload.raw))] * 2
    m.case(
        "the same signature twice",
        (422, "duplicate-signature"),
        m.post(A, _with_signatures(spend, twice)),
    )

    # spending without the co-signature
    lone = a.spend(1_000, a.trustee)
    r = m.case(
        "spending without the committee's co-signature",
        (403, "missing-signature"),
        m.post(A, wire(lone)),
    )
    missing_role = r.json().get("role") if is_problem(r) else None
    before = _counts(db)
    proposed = m.client.post(f"/v1/estates/{A}/proposals", json=wire(lone))
    pid = lone.payload.id
    again = m.client.post(
        f"/v1/estates/{A}/proposals/{pid}/signatures",
        json={"signatures": [_sig(a.trustee, dict(lone.payload.raw))]},
    )
    sup = m.client.post(
        f"/v1/estates/{A}/proposals/{pid}/signatures",
        json={"signatures": [_sig(a.supervisor, dict(lone.payload.raw))]},
    )
    after = _counts(db)
    states = [proposed.status_code, again.status_code, sup.status_code]
    status = m.client.get(f"/v1/estates/{A}/proposals/{pid}").json().get("status")
    result.requests += 4
    if after["entries"] != before["entries"] or status != "pending":
        result.let_in += 1
        result.fail(
            f"proposal without the committee: {states}, status {status}, {before} → {after}"
        )
    m.rows.append(
        {
            "case": "proposal co-signed by trustee again and by the supervisor",
            "answer": f"{states}, proposal {status}",
            "expected": "no entry; proposal pending",
            "written": after["entries"] - before["entries"],
            "ok": after["entries"] == before["entries"] and status == "pending",
            "detail": "",
        }
    )

    # operator actions
    c_authors = Authors.new("access-c", operator=a.operator)
    genesis_c = c_authors.genesis()
    by_committee = _with_signatures(
        genesis_c, [_sig(c_authors.committee, dict(genesis_c.payload.raw))]
    )
    rotate = f"/v1/estates/{A}/log-key:rotate"
    create = "/v1/estates"
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    m.case("operator: rotate without a token", (401, "unauthorized"), lambda c: c.post(rotate))
    m.case(
        "operator: create estate without a token",
        (401, "unauthorized"),
        lambda c: c.post(create, json=wire(genesis_c)),
    )
    m.case(
        "operator: valid token, genesis signed by a non-operator key",
        (403, "missing-signature"),
        lambda c: c.post(create, json=by_committee, headers=bearer(tokens["valid"])),
    )
    m.case(
        "operator: malformed token",
        (401, "unauthorized"),
        lambda c: c.post(rotate, headers={"Authorization": "Bearer abc"}),
    )
    m.case(
        "operator: Basic instead of Bearer",
        (401, "unauthorized"),
        lambda c: c.post(
            rotate, headers={"Authorization": "Basic " + _b64(b"op:" + tokens["valid"].encode())}
        ),
    )
    m.case(
        "operator: revoked token",
        (403, "forbidden"),
        lambda c: c.post(rotate, headers=bearer(tokens["revoked"])),
    )
    m.case(
        "operator: wrong token",
        (403, "forbidden"),
        lambda c: c.post(rotate, headers=bearer("tlop_" + secrets.token_urlsafe(32))),
    )

    # brute force
    before = _counts(db)
    answers = []
    guesses = []
    for _ in range(BRUTE_FORCE):
        guess = "tlop_" + secrets.token_urlsafe(32)
        guesses.append(guess)
        answers.append(m.client.post(rotate, headers=bearer(guess)).status_code)
    blocked_right = m.client.post(rotate, headers=bearer(tokens["valid"]))
    after = _counts(db)
    result.requests += BRUTE_FORCE + 1
    first_429 = answers.index(429) + 1 if 429 in answers else None
    tokens["_guesses"] = " ".join(guesses)
    ok = (
        first_429 is not None
        and first_429 <= 11
        and all(s == 429 for s in answers[first_429 - 1 :])
        and blocked_right.status_code == 429
        and is_problem(blocked_right, "rate-limited")
        and after == before
        and blocked_right.headers.get("retry-after")
    )
    if not ok:
        result.fail(f"brute force: answers {answers}, right token then {blocked_right.status_code}")
    if after != before or any(s < 400 for s in answers):
        result.let_in += 1
    m.rows.append(
        {
            "case": f"token brute force ({BRUTE_FORCE} guesses, then the right token)",
            "answer": f"403 ×{answers.count(403)}, then 429 from guess {first_429}; "
            f"right token: {blocked_right.status_code}",
            "expected": "429 after the burst (10 failures in all)",
            "written": 0 if after == before else after,
            "ok": bool(ok),
            "detail": f"Retry-After: {blocked_right.headers.get('retry-after')}",
        }
    )
    m.client.close()
    result.details = {"cases": m.rows, "missing_role_named": missing_role}
    result.counts = f"{len(m.rows)} cases"
    return result


# -- secrets ---------------------------------------------------------------------------------


def _db_dump(db: Db) -> bytes:
    if db.engine == "sqlite":
        path = Path(db.name)
        return b"".join(
            Path(str(path) + s).read_bytes() for s in ("", "-wal") if Path(str(path) + s).exists()
        )
    from sqlalchemy.engine import make_url

    url = make_url(db.url)
    args = ["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    args += ["-U", url.username or "postgres", db.name]
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    return subprocess.run(args, capture_output=True, check=True, env=env, timeout=120).stdout


def secrets_check(
    server: Server,
    db: Db,
    authors: Sequence[Authors],
    tokens: dict[str, str],
    receipt: dict[str, Any],
) -> Result:
    result = Result(NAME, db.engine, "secrets: logs, database, key files", "")
    log = server.log_text()
    lines = [line for line in log.splitlines() if line.startswith("{")]
    found: dict[str, list[str]] = {}
    secrets_: dict[str, list[str]] = {
        "operator token (valid)": [tokens["valid"], tokens["valid"].removeprefix("tlop_")],
        "operator token (revoked)": [tokens["revoked"], tokens["revoked"].removeprefix("tlop_")],
        "brute-force guesses": tokens["_guesses"].split(),
        "receipt code": [receipt["code"]],
        "household salt": _forms(receipt["salt"]),
    }
    for f in authors:
        for role, key in f.keys().items():
            secrets_[f"author seed {f.id} {role}"] = _forms(key.seed)
    logkeys = sorted((db.data_dir / "logkeys").glob("*.ed25519"))
    for p in logkeys:
        secrets_[f"log key {p.name}"] = _forms(p.read_bytes())
    for what, forms in secrets_.items():
        hits = [s for s in forms if s and s in log]
        if hits:
            found[what] = [h[:12] + "…" for h in hits]
    if found:
        result.fail(f"secrets in the server log: {found}")
        result.let_in += len(found)
    if len(lines) < 20 or "/receipts/***" not in log:
        result.fail(f"the log looks empty or unmasked ({len(lines)} JSON lines)")

    # tokens hashed; no key material in the database
    dump = _db_dump(db)
    in_db = {
        what: True
        for what, forms in secrets_.items()
        if not what.startswith(("household salt", "receipt code"))
        and any(s.encode() in dump for s in forms if len(s) >= 16)
    }
    for p in logkeys:
        if p.read_bytes() in dump:
            in_db[f"raw log key {p.name}"] = True
    if in_db:
        result.fail(f"secrets in the database: {sorted(in_db)}")
        result.let_in += len(in_db)
    with connect(db) as conn:
        hashes = set(conn.execute(text("SELECT token_hash FROM operator_tokens")).scalars())
        estates = set(conn.execute(text("SELECT id FROM estates")).scalars())
    # a refused genesis (valid token, wrong signature) must not leave files behind either
    orphans = sorted(p.name for p in logkeys if p.name.split(".")[0] not in estates)
    for name in ("valid", "revoked"):
        if hashlib.sha256(tokens[name].encode()).hexdigest() not in hashes:
            result.fail(f"the {name} token is not stored as its SHA-256")

    # key files 0600
    modes = {}
    for p in sorted((db.data_dir / "logkeys").iterdir()):
        if p.is_file():
            modes[p.name] = oct(stat.S_IMODE(p.stat().st_mode))
    keydir = db.data_dir.parent / "author-keys"
    shutil.rmtree(keydir, ignore_errors=True)
    keydir.mkdir()
    code, _, err = cli(
        None,
        "keygen",
        "--out",
        str(keydir / "alice.key"),
        "--name",
        "业委会 张三",
        "--role",
        "committee",
    )
    if code != 0:
        result.fail(f"trustledger keygen failed: {err}")
    else:
        modes["author key from trustledger keygen"] = oct(
            stat.S_IMODE((keydir / "alice.key").stat().st_mode)
        )
    loose = {k: v for k, v in modes.items() if v != "0o600"}
    if loose:
        result.fail(f"key files not 0600: {loose}")
    result.requests = 0
    result.counts = f"{sum(len(v) for v in secrets_.values())} secret forms, {len(lines)} log lines"
    result.details = {
        "log_lines": len(lines),
        "secret_kinds_searched": len(secrets_),
        "found_in_log": found,
        "found_in_database": sorted(in_db),
        "key_file_modes": modes,
        "log_key_files_of_no_estate": orphans,
        "tokens_stored_as_sha256": True,
        "constant_time": "ledger.storage.tokens.find: hmac.compare_digest of SHA-256 digests "
        "against every stored token, no early exit",
    }
    return result


# -- the campaign ----------------------------------------------------------------------------


def _prepare(db: Db) -> tuple[Authors, Authors, dict[str, str]]:
    a = Authors.new("access-a")
    b = Authors.new("access-b", operator=a.operator)
    a.create(db, opening=10_000_000)
    b.create(db, opening=10_000_000)
    svc = db.service()
    try:
        _, valid = svc.create_operator_token("reliability access")
        record, revoked = svc.create_operator_token("reliability revoked")
        svc.revoke_operator_token(record.id)
    finally:
        svc.engine.dispose()
    return a, b, {"valid": valid, "revoked": revoked}


def _legitimate(server: Server, a: Authors, b: Authors, tokens: dict[str, str]) -> dict[str, Any]:
    """The writes the matrix builds on: a revocation in A, a payload in B, a fee receipt."""
    with httpx.Client(base_url=server.base, timeout=30) as c:
        revoke = a.signed(
            "key",
            {"action": "revoke", "key_id": a.committee2.key_id, "reason": "换届离任"},
            a.committee,
            a.operator,
        )
        for estate, doc in ((a.id, wire(revoke)),):
            r = c.post(f"/v1/estates/{estate}/entries", json=doc)
            assert r.status_code == 201, r.text
        register = {
            "action": "register",
            "public_key": _b64(AuthorKey.generate().public_key),
            "role": "trustee",
            "holder": "新物业公司",
            "reason": "更换受托人",
        }
        in_b = wire(b.signed("key", register, b.committee, b.operator))
        r = c.post(f"/v1/estates/{b.id}/entries", json=in_b)
        assert r.status_code == 201, r.text
        tokens["_b_payload"] = in_b  # type: ignore[assignment]
        salt, unit = os.urandom(16), "3-2-501"
        fee = a.income(88_000, household=base64.b64decode(make_commitment(salt, unit)))
        r = c.post(f"/v1/estates/{a.id}/entries", json=wire(fee))
        assert r.status_code == 201, r.text
        code = format_receipt_code(r.json()["seq"], salt, unit)
        found = c.get(f"/v1/estates/{a.id}/receipts/{code}")
        page = c.post(
            f"/e/{a.id}/receipt",
            content=f"code={code}".encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        wrong = c.get(f"/v1/estates/{a.id}/receipts/{code[:-1]}9")
        return {
            "code": code,
            "salt": salt,
            "answers": [found.status_code, page.status_code, wrong.status_code],
        }


def run(engines: Sequence[str], *, full: bool = False, workdir: Path) -> list[Result]:
    results = []
    dbs = Databases(workdir / NAME)
    try:
        for engine in engines:
            db = dbs.new(engine, NAME)
            a, b, tokens = _prepare(db)
            server = Server(db, db.data_dir.parent / "server.log")
            began = time.monotonic()
            with server:
                receipt = _legitimate(server, a, b, tokens)
                matrix = run_matrix(server, db, a, b, tokens)
                if receipt["answers"] != [200, 200, 404]:
                    matrix.fail(f"receipt look-ups answered {receipt['answers']}")
            matrix.seconds = round(time.monotonic() - began, 1)
            outcome = audit(db)
            matrix.audit = outcome.verdict
            if not outcome.clean:
                matrix.fail(f"audit: {outcome.findings[:5]}")
            results.append(matrix)
            results.append(secrets_check(server, db, [a, b], tokens, receipt))
    finally:
        dbs.close()
    return results


if __name__ == "__main__":
    from reliability.run import campaign_main

    campaign_main(NAME)
