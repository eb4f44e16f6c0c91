"""Operator actions over HTTP: bearer tokens, creating estates, rotating log keys.

Tokens: 401 without or with a malformed header, 403 for a wrong or revoked token,
failures rate-limited per address, and the token never stored or logged. Log key
rotation: old checkpoints still verify under the old key, the hand-over note under
both, later checkpoints under the new key only, the files settle after a crash on
either side of the commit, and ``verify_estate`` / ``trustledger verify`` follow it.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app as cli
from api.payloads import genesis_body, payload, sign
from ledger.checkpoint import verify_checkpoint
from ledger.errors import LogStateError, NoteError
from ledger.note import open_note, parse_vkey
from ledger.storage import logkeys
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate
from tests.api.conftest import ClientFactory
from tests.api.test_posting_api import assert_problem, wire
from tests.factories import DAY, EstateFactory


@pytest.fixture
def token(service: LedgerService) -> str:
    return service.create_operator_token("测试运营")[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run_cli(service: LedgerService, *args: str) -> Any:
    env = {"TRUSTLEDGER_DATA_DIR": str(service.data_dir), "TRUSTLEDGER_LANG": "en"}
    return CliRunner().invoke(cli, [*args, "--database-url", service.url], env=env)


def new_estate(service: LedgerService, prefix: str) -> EstateFactory:
    """An estate not created yet, with an id of its own (tests share the database)."""
    return EstateFactory(service, f"{prefix}-{uuid.uuid4().hex[:8]}")


# -- tokens ----------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash(service: LedgerService) -> None:
    record, token = service.create_operator_token("平台值班")
    assert token.startswith("tlop_") and len(token) == 48
    with service.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM operator_tokens")).all()
    dumped = repr(rows)
    assert token not in dumped and token[5:] not in dumped
    assert hashlib.sha256(token.encode()).hexdigest() in dumped
    assert record.id in dumped and record.active


def test_without_a_token_is_401(client: TestClient, service: LedgerService) -> None:
    f = new_estate(service, "op-none")
    r = client.post("/v1/estates", json=wire(f.genesis()))
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "tlop_" + "a" * 43,  # no scheme
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Bearer tlop_short",
        "Bearer  tlop_" + "a" * 43,
        "Bearer tlop_" + "a" * 42 + "!",
    ],
)
def test_a_malformed_header_is_401(client: TestClient, service: LedgerService, header: str) -> None:
    f = new_estate(service, "op-malformed")
    r = client.post("/v1/estates", json=wire(f.genesis()), headers={"Authorization": header})
    assert_problem(r, 401, "unauthorized")


def test_a_wrong_token_is_403(client: TestClient, service: LedgerService, token: str) -> None:
    f = new_estate(service, "op-wrong")
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    r = client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(wrong))
    assert_problem(r, 403, "forbidden")
    assert client.get(f"/v1/estates/{f.id}").status_code == 404


def test_a_revoked_token_is_403(client: TestClient, service: LedgerService, token: str) -> None:
    record = service.find_operator_token(token)
    assert record is not None
    service.revoke_operator_token(record.id)
    service.revoke_operator_token(record.id)  # again: no change, no error
    f = new_estate(service, "op-revoked")
    r = client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token))
    body = assert_problem(r, 403, "forbidden")
    assert token not in r.text and "revoked" in body["detail"]


def test_failed_attempts_are_rate_limited(
    make_client: ClientFactory, service: LedgerService, token: str
) -> None:
    client = make_client(operator_auth_burst=3)
    f = new_estate(service, "op-limited")
    bad = bearer("tlop_" + "x" * 43)
    for _ in range(3):
        assert_problem(
            client.post("/v1/estates", json=wire(f.genesis()), headers=bad), 403, "forbidden"
        )
    assert_problem(
        client.post("/v1/estates", json=wire(f.genesis()), headers=bad), 429, "rate-limited"
    )
    # Blocked means blocked: even the right token waits until the bucket refills.
    r = client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token))
    assert_problem(r, 429, "rate-limited")
    # Other addresses and public reads are not affected.
    assert client.get("/v1/estates").status_code == 200


def test_successes_are_not_rate_limited(
    make_client: ClientFactory, service: LedgerService, token: str
) -> None:
    client = make_client(operator_auth_burst=1)
    for i in range(4):
        f = new_estate(service, f"op-many-{i}")
        assert (
            client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token)).status_code
            == 201
        )


def test_tokens_are_never_logged(
    client: TestClient, service: LedgerService, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    f = new_estate(service, "op-logs")
    client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token))
    client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token[:-2] + "zz"))
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "operator authentication failed" in logged
    assert token not in logged and token[:-2] not in logged


def test_token_cli(service: LedgerService, client: TestClient) -> None:
    created = run_cli(service, "token", "create", "--name", "运维 张三")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("tlop_") and "\n" not in token
    listed = run_cli(service, "token", "list")
    assert listed.exit_code == 0 and "运维 张三" in listed.stdout and token not in listed.stdout
    token_id = next(
        line.split("\t")[0] for line in listed.stdout.splitlines() if "运维 张三" in line
    )
    f = new_estate(service, "op-cli")
    assert (
        client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token)).status_code == 201
    )

    revoked = run_cli(service, "token", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in run_cli(service, "token", "list").stdout
    r = client.post("/v1/estates", json=wire(f.genesis()), headers=bearer(token))
    assert_problem(r, 403, "forbidden")
    assert run_cli(service, "token", "revoke", "0" * 16).exit_code == 2


# -- creating estates ------------------------------------------------------------------------


def test_create_an_estate_over_http(client: TestClient, service: LedgerService, token: str) -> None:
    f = new_estate(service, "op-created")
    genesis = f.genesis()
    r = client.post("/v1/estates", json=wire(genesis), headers=bearer(token))
    assert r.status_code == 201, r.text
    assert r.json()["seq"] == 0 and r.json()["entry"]["payload"] == genesis.payload.raw

    again = client.post("/v1/estates", json=wire(genesis), headers=bearer(token))
    assert again.status_code == 200 and again.json() == r.json()

    other = EstateFactory(service, f.id).genesis()  # same estate, other keys and id
    assert_problem(
        client.post("/v1/estates", json=wire(other), headers=bearer(token)), 409, "log-state"
    )

    details = client.get(f"/v1/estates/{f.id}").json()
    assert details["size"] == 1 and details["name"] == "测试小区"
    note = client.get(f"/v1/estates/{f.id}/checkpoint").text
    assert verify_checkpoint(note, details["vkey"]).size == 1
    f.append(f.open_account("Assets:Bank:CoManaged", "asset", "共管账户"))
    with service.session() as s:
        assert verify_estate(s, f.id).tree.size == 2


def test_create_refuses_other_kinds_and_bad_genesis(
    client: TestClient, service: LedgerService, token: str
) -> None:
    f = new_estate(service, "op-refused")
    account = f.open_account("Assets:Bank:CoManaged", "asset", "共管账户")
    r = client.post("/v1/estates", json=wire(account), headers=bearer(token))
    assert_problem(r, 422, "invalid-input", "payload.kind")
    # A genesis signed by a founding committee key, not the operator: the policy refuses.
    raw = dict(f.genesis().payload.raw)
    r = client.post("/v1/estates", json=wire(sign(raw, [f.committee])), headers=bearer(token))
    assert_problem(r, 403, "missing-signature")
    assert client.get(f"/v1/estates/{f.id}").status_code == 404
    assert key_files(service, f.id) == []  # no log key is made for a refused estate


def test_a_genesis_with_a_policy_of_v1_creates_an_estate(
    client: TestClient, service: LedgerService, token: str
) -> None:
    f = new_estate(service, "op-oldpolicy")
    body = genesis_body("旧小区", "常州", 10, [(f.operator.public_key, "operator", "平台")])
    del body["policy"]["redaction"]
    item = sign(payload(f.id, "genesis", body, date=DAY), [f.operator])
    assert client.post("/v1/estates", json=wire(item), headers=bearer(token)).status_code == 201
    assert client.get(f"/v1/estates/{f.id}").json()["policy"]["redaction"] == {
        "all_of": ["committee"]
    }


# -- log key rotation ------------------------------------------------------------------------


def rotate(client: TestClient, estate: str, token: str) -> Any:
    return client.post(f"/v1/estates/{estate}/log-key:rotate", headers=bearer(token))


def key_files(service: LedgerService, estate: str) -> list[str]:
    return sorted(p.name for p in (service.data_dir / "logkeys").glob(f"{estate}.*ed25519"))


def test_rotation_needs_a_token(estate_client: tuple[TestClient, EstateFactory]) -> None:
    client, f = estate_client
    assert_problem(client.post(f"/v1/estates/{f.id}/log-key:rotate"), 401, "unauthorized")
    assert_problem(
        rotate(client, "no-such-estate", f.service.create_operator_token("x")[1]), 404, "not-found"
    )


def test_rotation_hands_the_log_over(
    estate_client: tuple[TestClient, EstateFactory], token: str
) -> None:
    client, f = estate_client
    f.append(f.income(10_000))
    base = f"/v1/estates/{f.id}"
    old_vkey = client.get(f"{base}/log-key").json()["vkey"]
    old_note = client.get(f"{base}/checkpoint").text
    size = client.get(base).json()["size"]

    r = rotate(client, f.id, token)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"origin", "vkey", "from_size", "handover"}
    new_vkey = out["vkey"]
    assert out["from_size"] == size and new_vkey != old_vkey
    assert parse_vkey(new_vkey).name == parse_vkey(old_vkey).name == out["origin"]

    # The hand-over note: the current checkpoint, signed by both keys.
    handover = out["handover"]
    assert len(open_note(handover, [parse_vkey(old_vkey), parse_vkey(new_vkey)]).signatures) == 2
    old_cp = verify_checkpoint(old_note, old_vkey)
    assert verify_checkpoint(handover, old_vkey) == old_cp == verify_checkpoint(handover, new_vkey)
    assert client.get(f"{base}/log-key").json()["vkey"] == new_vkey
    # Until the next append, the published checkpoint is the hand-over note.
    assert client.get(f"{base}/checkpoint").text == handover

    appended = f.append(f.income(2_000))[0]
    new_note = client.get(f"{base}/checkpoint").text
    assert verify_checkpoint(new_note, new_vkey).size == appended.entry.seq + 1
    with pytest.raises(NoteError):
        verify_checkpoint(new_note, old_vkey)
    # Old checkpoints still verify under the old key, and only under it.
    with f.service.session() as s:
        rows = s.execute(
            text("SELECT size, note FROM checkpoints WHERE estate_id = :e ORDER BY size"),
            {"e": f.id},
        ).all()
    for cp_size, note in rows:
        key = old_vkey if cp_size <= size else new_vkey
        assert verify_checkpoint(note, key).size == cp_size

    history = client.get(f"{base}/log-keys").json()
    assert history["origin"] == out["origin"]
    assert history["keys"] == [
        {"vkey": old_vkey, "from_size": 0, "handover": None},
        {"vkey": new_vkey, "from_size": size, "handover": handover},
    ]
    with f.service.session() as s:
        assert verify_estate(s, f.id).tree.size == appended.entry.seq + 1

    # Files: the current key under the estate's name, the old one kept under its key id.
    old_id = parse_vkey(old_vkey).key_id.hex()
    assert key_files(f.service, f.id) == sorted([f"{f.id}.ed25519", f"{f.id}.{old_id}.ed25519"])


def test_rotating_twice_needs_an_entry_between(
    estate_client: tuple[TestClient, EstateFactory], token: str
) -> None:
    client, f = estate_client
    assert rotate(client, f.id, token).status_code == 200
    assert_problem(rotate(client, f.id, token), 409, "log-state")
    f.append(f.income(1))
    third = rotate(client, f.id, token)
    assert third.status_code == 200
    f.append(f.income(2))
    keys = client.get(f"/v1/estates/{f.id}/log-keys").json()["keys"]
    assert [k["vkey"] for k in keys][-1] == third.json()["vkey"] and len(keys) == 3
    with f.service.session() as s:
        verify_estate(s, f.id)


def test_a_crash_after_the_commit_is_finished_by_the_next_load(
    estate: EstateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = estate.service

    def crash(*args: Any) -> Any:
        raise OSError("power cut")

    monkeypatch.setattr(svc.log_keys, "promote", crash)
    _, key = svc.rotate_log_key(estate.id)  # committed; the files were not promoted
    assert f"{estate.id}.next.ed25519" in key_files(svc, estate.id)
    monkeypatch.undo()

    appended = estate.append(estate.income(500))[0]  # loads the key the database names
    with svc.reader(estate.id) as r:
        note = r.latest_checkpoint().note
    assert verify_checkpoint(note, key.vkey).size == appended.entry.seq + 1
    assert f"{estate.id}.next.ed25519" not in key_files(svc, estate.id)
    assert svc.log_keys.load(estate.id, key_origin(svc, estate.id)).vkey == key.vkey
    with svc.session() as s:
        verify_estate(s, estate.id)


def test_a_crash_before_the_commit_keeps_the_old_key(
    estate: EstateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = estate.service
    with svc.reader(estate.id) as r:
        old_vkey = r.row.vkey

    def crash(*args: Any) -> Any:
        raise LogStateError("crash before the commit")

    monkeypatch.setattr(logkeys, "rotate", crash)
    with pytest.raises(LogStateError):
        svc.rotate_log_key(estate.id)
    monkeypatch.undo()
    assert f"{estate.id}.next.ed25519" in key_files(svc, estate.id)  # stale, never named

    appended = estate.append(estate.income(700))[0]
    with svc.reader(estate.id) as r:
        assert r.row.vkey == old_vkey
        assert (
            verify_checkpoint(r.latest_checkpoint().note, old_vkey).size == appended.entry.seq + 1
        )
    _, key = svc.rotate_log_key(estate.id)  # replaces the stale file
    assert key.vkey != old_vkey
    assert key_files(svc, estate.id) == sorted(
        [f"{estate.id}.ed25519", f"{estate.id}.{parse_vkey(old_vkey).key_id.hex()}.ed25519"]
    )
    estate.append(estate.income(1))
    with svc.session() as s:
        verify_estate(s, estate.id)


def key_origin(svc: LedgerService, estate: str) -> str:
    with svc.reader(estate) as r:
        return r.row.origin


def test_verify_notices_a_published_key_that_is_not_the_log_key(estate: EstateFactory) -> None:
    svc = estate.service
    svc.rotate_log_key(estate.id)
    with svc.engine.begin() as conn:
        first = conn.execute(
            text("SELECT vkey FROM log_keys WHERE estate_id = :e AND from_size = 0"),
            {"e": estate.id},
        ).scalar_one()
        conn.execute(
            text("UPDATE estates SET vkey = :v WHERE id = :e"), {"v": first, "e": estate.id}
        )
    with svc.session() as s, pytest.raises(LogStateError, match="newest log key"):
        verify_estate(s, estate.id)


def test_rotate_and_verify_from_the_cli(estate: EstateFactory) -> None:
    svc = estate.service
    estate.append(estate.income(100))
    result = run_cli(svc, "estate", "rotate-key", "--estate", estate.id)
    assert result.exit_code == 0, result.output
    with svc.reader(estate.id) as r:
        assert r.row.vkey in result.stdout
    estate.append(estate.income(200))
    checked = run_cli(svc, "verify", "--estate", estate.id)
    assert checked.exit_code == 0, checked.output
    assert run_cli(svc, "estate", "rotate-key", "--estate", estate.id).exit_code == 0
    assert run_cli(svc, "estate", "rotate-key", "--estate", estate.id).exit_code == 2  # same size


def test_the_key_store_never_signs_with_an_unpublished_key(tmp_path: Path) -> None:
    from ledger.errors import StorageError
    from ledger.storage.keyfiles import LogKeyStore

    store = LogKeyStore(tmp_path)
    first = store.create("k-store", "example/estates/k-store")
    assert store.create("k-store", "example/estates/k-store").vkey == first.vkey
    stranger = store.prepare_next("k-store", "example/estates/k-store")
    with pytest.raises(StorageError):
        store.load("k-store", "example/estates/k-store", "example/estates/k-store+00000000+AQ==")
    assert store.load("k-store", "example/estates/k-store", first.vkey).vkey == first.vkey
    assert store.promote("k-store", "example/estates/k-store", stranger.vkey).vkey == stranger.vkey
    assert store.load("k-store", "example/estates/k-store").vkey == stranger.vkey
