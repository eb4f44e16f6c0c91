"""The ``trustledger`` command line (Typer).

Exit codes: 0 done, 1 a check found a failure, 2 the command could not run
(usage, input, missing files, database unreachable). Errors are one line for
people, in Chinese unless ``TRUSTLEDGER_LANG=en``; never a stack trace.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from sqlalchemy.exc import SQLAlchemyError

from api.messages import error_title, say
from api.settings import Settings
from ledger.canonical import parse_json
from ledger.errors import LedgerError, StorageError
from ledger.storage.service import LedgerService

app = typer.Typer(
    help="trustledger: verifiable books for estates under the trust model (信托制物业).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
estate_app = typer.Typer(help="Estates (operator).", no_args_is_help=True)
app.add_typer(estate_app, name="estate")
token_app = typer.Typer(help="Operator bearer tokens for the HTTP API.", no_args_is_help=True)
app.add_typer(token_app, name="token")

DbUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL; default: SQLite in TRUSTLEDGER_DATA_DIR."),
]
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"{say('error')}: {message}", err=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn the ledger's errors into one line and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LedgerError as e:
            index = e.data.get("index")
            where = f" [#{index}]" if index is not None else ""
            fail(f"{error_title(e.code)}{where}: {e.message}")
        except (StorageError, OSError) as e:
            fail(str(e))
        except SQLAlchemyError as e:
            fail(f"database: {str(e).splitlines()[0]}")

    return wrapper  # type: ignore[return-value]


def service(database_url: str | None, *, migrate: bool = True) -> LedgerService:
    settings = Settings()
    url = database_url or settings.db_url()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    svc = LedgerService(
        url, settings.data_dir, settings.log_origin_host, blobs=settings.blob_stores()
    )
    if migrate:
        svc.migrate()
    return svc


def read_json_file(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as e:
        fail(f"{path}: {e.strerror or e}")
    try:
        return parse_json(data)
    except LedgerError as e:
        fail(f"{path}: {e.message}")


@app.command()
@handles_errors
def init(database_url: DbUrl = None) -> None:
    """Create the database schema, or upgrade it to the newest migration."""
    svc = service(database_url)
    typer.echo(say("init", url=svc.engine.url.render_as_string(hide_password=True)))


@app.command()
@handles_errors
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Private key file to create (mode 0600).")],
    name: Annotated[str, typer.Option("--name", help="Holder's display name, e.g. 业委会 张三.")],
    role: Annotated[
        str, typer.Option("--role", help="committee|trustee|supervisor|auditor|operator")
    ] = "",
) -> None:
    """Create an author's Ed25519 key pair; the private key never leaves this file."""
    from api.keys import keygen as make_key
    from ledger.storage.keyfiles import load_author_key

    pub = make_key(out, name, role)
    key, _, _ = load_author_key(out)
    typer.echo(say("keygen", key_id=key.key_id, name=name, out=out, pub=pub))


@estate_app.command("create")
@handles_errors
def estate_create(
    estate: Annotated[str, typer.Option("--id", help="Estate id, e.g. qingliang-2.")],
    name: Annotated[str, typer.Option("--name", help="Estate name, e.g. 青凉二村.")],
    operator_key: Annotated[Path, typer.Option("--operator-key", help="Operator's key file.")],
    key: Annotated[
        list[Path], typer.Option("--key", help="Founding key (.pub or key file), repeatable.")
    ],
    address: Annotated[str, typer.Option("--address")] = "",
    households: Annotated[int, typer.Option("--households", min=0)] = 0,
    database_url: DbUrl = None,
) -> None:
    """Create an estate: the genesis entry with its founding keys and the default policy."""
    from api.keys import load_public
    from api.payloads import genesis_body, payload, sign
    from ledger.storage.keyfiles import load_author_key

    op, op_name, op_role = load_author_key(operator_key)
    if op_role != "operator":
        fail(f"{operator_key}: not an operator key (role {op_role or 'none'})")
    founders = [(op.public_key, "operator", op_name)]
    for path in key:
        public, holder, role = load_public(path)
        if not role:
            fail(f"{path}: key has no role; create it with `trustledger keygen --role …`")
        founders.append((public, role, holder))
    body = genesis_body(name, address or name, households, founders)
    signed = sign(payload(estate, "genesis", body, date=dt.date.today()), [op])
    svc = service(database_url)
    svc.create_estate(signed)
    with svc.reader(estate) as r:
        typer.echo(say("estate_created", estate=estate, vkey=r.row.vkey))


@estate_app.command("rotate-key")
@handles_errors
def estate_rotate_key(
    estate: Annotated[str, typer.Option("--estate", help="Estate id.")],
    database_url: DbUrl = None,
) -> None:
    """Replace the estate's log key; the current checkpoint is signed by old and new key."""
    svc = service(database_url)
    _, key = svc.rotate_log_key(estate)
    typer.echo(say("key_rotated", estate=estate, size=key.from_size, vkey=key.vkey))


@token_app.command("create")
@handles_errors
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what holds the token.")],
    database_url: DbUrl = None,
) -> None:
    """Create an operator token and print it once; only its SHA-256 is stored."""
    svc = service(database_url)
    record, token = svc.create_operator_token(name)
    typer.echo(say("token_created", id=record.id, name=record.name), err=True)
    typer.echo(token)


@token_app.command("revoke")
@handles_errors
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (token list).")],
    database_url: DbUrl = None,
) -> None:
    """Revoke an operator token by its id."""
    record = service(database_url).revoke_operator_token(token_id)
    typer.echo(say("token_revoked", id=record.id, name=record.name))


@token_app.command("list")
@handles_errors
def token_list(database_url: DbUrl = None) -> None:
    """List operator tokens (ids and names; the tokens themselves are not stored)."""
    for t in service(database_url).operator_tokens():
        state = f"revoked {t.revoked_at}" if t.revoked_at else "active"
        typer.echo(f"{t.id}\t{t.name}\t{t.created_at}\t{state}")


@app.command()
@handles_errors
def post(
    payload_file: Annotated[
        Path, typer.Option("--payload", help="Payload JSON, or {payload, signatures}.")
    ],
    key: Annotated[list[Path], typer.Option("--key", help="Key file to sign with, repeatable.")],
    sign_only: Annotated[
        bool, typer.Option("--sign-only", help="Only sign; write --out for co-signing.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Where --sign-only writes.")] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Post through this server's HTTP API.")
    ] = None,
    voucher: Annotated[
        list[Path] | None, typer.Option("--voucher", help="Voucher file to upload first (--url).")
    ] = None,
    propose: Annotated[
        bool, typer.Option("--propose", help="Park as a proposal for co-signing (--url).")
    ] = False,
    database_url: DbUrl = None,
) -> None:
    """Sign a payload with your key(s) and append it (co-signing keeps others' signatures)."""
    from api.payloads import sign
    from ledger.signing import parse_signatures
    from ledger.storage.keyfiles import load_author_key

    doc = read_json_file(payload_file)
    raw, existing = doc, []
    if isinstance(doc, dict) and set(doc) == {"payload", "signatures"}:
        raw, existing = doc["payload"], list(parse_signatures(doc["signatures"]))
    keys = [load_author_key(p)[0] for p in key]
    signed = sign(raw, keys, existing)
    if sign_only:
        if out is None:
            fail("--sign-only needs --out FILE")
        doc = {"payload": raw, "signatures": [s.to_json() for s in signed.signatures]}
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", "utf-8")
        typer.echo(say("signed_only", out=out))
        return
    if url:
        _post_remote(url, signed, voucher or [], propose)
        return
    if voucher or propose:
        fail("--voucher and --propose go with --url")
    svc = service(database_url)
    result = svc.append(signed.payload.estate, [signed])[0]
    msg = "appended" if result.created else "repeated"
    typer.echo(say(msg, seq=result.entry.seq, kind=result.entry.payload.kind))


def _post_remote(url: str, signed: Any, vouchers: list[Path], propose: bool) -> None:
    from api.client import Client, RemoteError

    client = Client(url)
    try:
        for path in vouchers:
            client.put_voucher(signed.payload.estate, path)
        status, body = client.post(signed, propose=propose)
    except RemoteError as e:
        fail(str(e))
    except httpx.HTTPError as e:
        fail(f"{url}: {e}")
    if propose:
        typer.echo(say("proposed", id=signed.payload.id, status=body.get("status", "")))
        return
    typer.echo(
        say("appended" if status == 201 else "repeated", seq=body["seq"], kind=signed.payload.kind)
    )


@app.command("voucher")
@handles_errors
def voucher_info(
    file: Annotated[Path, typer.Argument(help="The voucher file (PDF, JPEG, PNG, WebP).")],
    name: Annotated[str | None, typer.Option("--name", help="Name shown to residents.")] = None,
) -> None:
    """Print the JSON that references a voucher file in a payload's "vouchers" list."""
    from api.client import voucher_descriptor

    typer.echo(json.dumps(voucher_descriptor(file, name), ensure_ascii=False))


@app.command()
@handles_errors
def verify(
    estate: Annotated[str | None, typer.Option("--estate", help="Estate id; default: all.")] = None,
    database_url: DbUrl = None,
) -> None:
    """Quick local check: chain, rules, Merkle tree and signed checkpoints (exit 1 on a break)."""
    from ledger.storage.verify import verify_estate

    svc = service(database_url, migrate=False)
    ids = [estate] if estate else [e.id for e in svc.estates()]
    failed = False
    for estate_id in ids:
        try:
            with svc.session() as s:
                result = verify_estate(s, estate_id)
            typer.echo(say("verify_ok", estate=estate_id, size=result.tree.size))
        except LedgerError as e:
            if e.code == "not-found":
                raise
            failed = True
            typer.echo(say("verify_fail", estate=estate_id, detail=e.message), err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
@handles_errors
def demo(
    database_url: DbUrl = None,
    months: Annotated[int, typer.Option("--months", min=1, max=36)] = 12,
) -> None:
    """Seed the demo estate 示范花园小区 (idempotent: a second run adds nothing)."""
    from api.demo import DEMO_ESTATE, seed

    svc = service(database_url)
    data_dir = Settings().data_dir
    size, created = seed(svc, data_dir, months=months, today=dt.date.today())
    typer.echo(say("demo_done" if created else "demo_exists", estate=DEMO_ESTATE, size=size))
    from api.demo_data import DEMO_NAME
    from statements import ca

    if not ca.ca_paths(data_dir)[1].exists():  # statement PDFs are signed from the start
        ca.init_ca(data_dir)
    if not ca.estate_paths(data_dir, DEMO_ESTATE)[1].exists():
        ca.issue_estate_cert(data_dir, DEMO_ESTATE, DEMO_NAME)


@app.command()
@handles_errors
def serve(
    database_url: DbUrl = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64)] = 1,
) -> None:
    """Serve the HTTP API and the resident pages (uvicorn)."""
    import os

    import uvicorn

    if database_url:
        os.environ["TRUSTLEDGER_DATABASE_URL"] = database_url
    service(database_url)  # creates or upgrades the schema before serving
    os.environ["TRUSTLEDGER_JSON_LOGS"] = "1"  # each worker's create_app sets up JSON logs
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        access_log=False,  # our own access log masks receipt codes; uvicorn's would not
    )


from api import cli_audit  # noqa: E402,F401 - registers `audit` and `export` on `app`
from api.cli_ca import ca_app  # noqa: E402

app.add_typer(ca_app, name="ca")
from api import cli_statement  # noqa: E402,F401 - registers `statement` on `app`


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
