"""The tamper matrix: an insider edits the database behind the service's back.

Each test drops the append-only triggers as an insider with database access would
(SQLite: ``DROP TRIGGER``; PostgreSQL: ``ALTER TABLE … DISABLE TRIGGER ALL`` as
superuser), changes one kind of stored data, and runs ``trustledger audit --json``:
it must exit 1 and name the right check at the right seq. Every test runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Connection, text

from ledger.storage.aggregates import Accumulator
from tests.audits.conftest import pairs, populate, run_cli
from tests.audits.tampering import delete_nodes_of, insider, leaf_of, sql
from tests.factories import BANK, EstateFactory


@pytest.fixture
def seqs(estate: EstateFactory) -> dict[str, int]:
    s = populate(estate)
    with estate.service.reader(estate.id) as r:
        s["last"] = r.size - 1
    return s


def audit(estate: EstateFactory, *extra: str) -> set[tuple[str, int | None]]:
    code, report, output = run_cli(estate.service, "audit", "--estate", estate.id, "--json", *extra)
    assert code == 1, output
    assert report is not None and not report["clean"]
    return pairs(report)


def test_clean_estate_exits_zero(estate: EstateFactory, seqs: dict[str, int]) -> None:
    code, report, output = run_cli(estate.service, "audit", "--estate", estate.id, "--json")
    assert code == 0, output
    assert report is not None and report["clean"] and report["findings"] == []
    assert report["estates"][0]["size"] == seqs["last"] + 1


def test_changed_byte_of_a_leaf(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["spend"]
    with insider(estate.service) as conn:
        leaf = leaf_of(conn, estate.id, k)
        changed = leaf.replace("10月保洁费".encode(), "19月保洁费".encode())
        assert changed != leaf
        sql(
            conn,
            "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s",
            l=changed,
            e=estate.id,
            s=k,
        )
    found = audit(estate)
    assert {("signatures", k), ("chain", k + 1), ("tree-hash", k), ("derived-entries", k)} <= found
    assert ("checkpoint-root", None) in found


def test_non_canonical_leaf(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["budget"]
    with insider(estate.service) as conn:
        leaf = leaf_of(conn, estate.id, k)
        sql(
            conn,
            "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s",
            l=leaf + b" ",
            e=estate.id,
            s=k,
        )
    assert {("leaf", k), ("chain", k + 1)} <= audit(estate)


def test_amount_in_postings(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["spend"]
    with insider(estate.service) as conn:
        sql(
            conn,
            "UPDATE postings SET amount = amount - 1000 WHERE estate_id=:e AND seq=:s AND line=0",
            e=estate.id,
            s=k,
        )
    assert audit(estate) == {("derived-postings", k)}


def test_reversal_postings_follow_the_target(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["reversal"]
    with insider(estate.service) as conn:
        sql(conn, "DELETE FROM postings WHERE estate_id=:e AND seq=:s AND line=1", e=estate.id, s=k)
    assert audit(estate) == {("derived-postings", k)}


def test_derived_column_in_entries(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["document"]
    with insider(estate.service) as conn:
        sql(
            conn,
            "UPDATE entries SET date='2020-01-01' WHERE estate_id=:e AND seq=:s",
            e=estate.id,
            s=k,
        )
    assert audit(estate) == {("derived-entries", k)}


def test_running_balance_in_entry_facts(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["spend"]
    with insider(estate.service) as conn:
        sql(
            conn,
            "UPDATE entry_facts SET trust_balance = trust_balance + 100000"
            " WHERE estate_id=:e AND seq=:s",
            e=estate.id,
            s=k,
        )
    assert audit(estate) == {("derived-facts", k)}


def test_stored_tree_hash(estate: EstateFactory, seqs: dict[str, int]) -> None:
    with insider(estate.service) as conn:
        sql(
            conn,
            "UPDATE tree_hashes SET hash=:h WHERE estate_id=:e AND level=2 AND idx=1",
            h=b"\x07" * 32,
            e=estate.id,
        )
    assert audit(estate) == {("tree-hash", 7)}  # node (2, 1) is completed by leaf 7


def test_checkpoint_signature_byte(estate: EstateFactory, seqs: dict[str, int]) -> None:
    size = seqs["reversal"] + 1
    with insider(estate.service) as conn:
        note = sql(
            conn, "SELECT note FROM checkpoints WHERE estate_id=:e AND size=:s", e=estate.id, s=size
        ).scalar_one()
        head, _, line = note.rstrip("\n").rpartition("\n")
        name, encoded = line.rsplit(" ", 1)
        raw = bytearray(base64.b64decode(encoded))
        raw[-1] ^= 0x01
        forged = f"{head}\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
        sql(
            conn,
            "UPDATE checkpoints SET note=:n WHERE estate_id=:e AND size=:s",
            n=forged,
            e=estate.id,
            s=size,
        )
    code, report, output = run_cli(estate.service, "audit", "--estate", estate.id, "--json")
    assert code == 1, output
    assert report is not None
    bad = [f for f in report["findings"] if f["check"] == "checkpoint-signature"]
    assert [(f["seq"], f["evidence"]["size"]) for f in bad] == [(None, size)]
    assert pairs(report) == {("checkpoint-signature", None)}


def test_deleted_last_entry(estate: EstateFactory, seqs: dict[str, int]) -> None:
    last = seqs["last"]
    with insider(estate.service) as conn:
        for table in ("entries", "postings", "entry_facts", "voucher_refs"):
            sql(conn, f"DELETE FROM {table} WHERE estate_id=:e AND seq=:s", e=estate.id, s=last)
        delete_nodes_of(conn, estate.id, last)
    found = audit(estate)
    assert ("checkpoint-coverage", last) in found
    assert ("derived-estate", None) in found  # the head still says one more entry


def forget_totals(conn: Connection, estate: str, seq: int) -> None:
    """Take entry ``seq`` out of ``period_totals``, as an insider erasing it would."""
    date, category, delta = sql(
        conn,
        "SELECT date, category, trust_delta FROM entry_facts WHERE estate_id=:e AND seq=:s",
        e=estate,
        s=seq,
    ).one()
    lines = sql(
        conn,
        "SELECT account, amount FROM postings WHERE estate_id=:e AND seq=:s ORDER BY line",
        e=estate,
        s=seq,
    ).all()
    acc = Accumulator()
    acc.add(date, category, delta, [(a, n) for a, n in lines])
    for (dim, name, span, period), (n, t, i, x, a) in acc.rows().items():
        sql(
            conn,
            "UPDATE period_totals SET entries=entries-:n, trust_delta=trust_delta-:t,"
            " income=income-:i, spending=spending-:x, amount=amount-:a WHERE estate_id=:e"
            " AND dim=:d AND name=:k AND span=:sp AND period=:p",
            n=n,
            t=t,
            i=i,
            x=x,
            a=a,
            e=estate,
            d=dim,
            k=name,
            sp=span,
            p=period,
        )
    sql(conn, "DELETE FROM period_totals WHERE estate_id=:e AND entries=0", e=estate)


def test_deleted_last_entry_and_its_traces(estate: EstateFactory, seqs: dict[str, int]) -> None:
    """Remove every trace, head included: only a checkpoint saved earlier can tell."""
    last = seqs["last"]
    assert run_cli(estate.service, "audit", "--estate", estate.id)[0] == 0
    with estate.service.reader(estate.id) as r:
        saved = r.latest_checkpoint().note
    with insider(estate.service) as conn:
        forget_totals(conn, estate.id, last)
        for table in ("entries", "postings", "entry_facts", "voucher_refs"):
            sql(conn, f"DELETE FROM {table} WHERE estate_id=:e AND seq=:s", e=estate.id, s=last)
        delete_nodes_of(conn, estate.id, last)
        sql(conn, "DELETE FROM checkpoints WHERE estate_id=:e AND size=:s", e=estate.id, s=last + 1)
        sql(conn, "UPDATE estates SET size=:n WHERE id=:e", n=last, e=estate.id)
    found = audit(estate)
    assert found == {("checkpoint-coverage", last - 1)}  # the previous checkpoint covers 16 of 17
    path = estate.service.data_dir / "saved.checkpoint"
    path.write_text(saved, "utf-8")
    assert ("checkpoint-consistency", last) in audit(estate, "--since-checkpoint", str(path))


def test_swapped_leaves(estate: EstateFactory, seqs: dict[str, int]) -> None:
    a, b = seqs["spend"], seqs["wrong"]
    with insider(estate.service) as conn:
        la, lb = leaf_of(conn, estate.id, a), leaf_of(conn, estate.id, b)
        sql(
            conn, "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s", l=lb, e=estate.id, s=a
        )
        sql(
            conn, "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s", l=la, e=estate.id, s=b
        )
    found = audit(estate)
    assert {("chain", a), ("chain", b), ("chain", a + 1), ("chain", b + 1)} <= found
    assert {("tree-hash", a), ("tree-hash", b)} <= found


def test_deleted_voucher_file(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["spend"]
    with estate.service.reader(estate.id) as r:
        sha = r.session.execute(
            text("SELECT sha256 FROM voucher_refs WHERE estate_id=:e AND seq=:s"),
            {"e": estate.id, "s": k},
        ).scalar_one()
    path = estate.service.data_dir / "vouchers" / estate.id / sha[:2] / sha
    path.unlink()
    assert audit(estate) == {("vouchers", k)}


def test_replaced_voucher_bytes(estate: EstateFactory, seqs: dict[str, int]) -> None:
    k = seqs["budget"]
    with estate.service.reader(estate.id) as r:
        sha = r.session.execute(
            text("SELECT sha256 FROM voucher_refs WHERE estate_id=:e AND seq=:s"),
            {"e": estate.id, "s": k},
        ).scalar_one()
    path = estate.service.data_dir / "vouchers" / estate.id / sha[:2] / sha
    path.write_bytes(b"%PDF-1.4 forged minutes")
    assert audit(estate) == {("vouchers", k)}


def test_revoked_key_row_restored(estate: EstateFactory, seqs: dict[str, int]) -> None:
    with insider(estate.service) as conn:
        sql(
            conn,
            "UPDATE author_keys SET revoked_seq=NULL WHERE estate_id=:e AND key_id=:k",
            e=estate.id,
            k=estate.committee2.key_id,
        )
    assert audit(estate) == {("derived-keys", 0)}


def test_handover_note_of_a_rotated_log_key(estate: EstateFactory, seqs: dict[str, int]) -> None:
    size = seqs["rotation"]
    with insider(estate.service) as conn:
        note = sql(
            conn,
            "SELECT handover_note FROM log_keys WHERE estate_id=:e AND from_size=:s",
            e=estate.id,
            s=size,
        ).scalar_one()
        forged = note.replace(note.split("\n")[2], base64.b64encode(b"\x05" * 32).decode(), 1)
        sql(
            conn,
            "UPDATE log_keys SET handover_note=:n WHERE estate_id=:e AND from_size=:s",
            n=forged,
            e=estate.id,
            s=size,
        )
    assert audit(estate) == {("log-key", None)}


def test_replaced_current_log_key(estate: EstateFactory, seqs: dict[str, int]) -> None:
    """An insider swaps the published key for one of their own: the head no longer matches."""
    from ledger.note import Signer

    with insider(estate.service) as conn:
        origin = sql(conn, "SELECT origin FROM estates WHERE id=:e", e=estate.id).scalar_one()
        sql(
            conn,
            "UPDATE estates SET vkey=:v WHERE id=:e",
            v=Signer.generate(origin).vkey,
            e=estate.id,
        )
    assert audit(estate) == {("derived-estate", None)}


def test_checkpoint_signed_out_of_order(estate: EstateFactory, seqs: dict[str, int]) -> None:
    with insider(estate.service) as conn:
        sql(
            conn,
            "UPDATE checkpoints SET signed_at='2000-01-01T00:00:00.000Z'"
            " WHERE estate_id=:e AND size=:s",
            e=estate.id,
            s=seqs["last"] + 1,
        )
    assert audit(estate) == {("checkpoint-order", None)}


def test_period_total_row(estate: EstateFactory, seqs: dict[str, int]) -> None:
    """The maintained totals residents' balances come from (not append-only: no trigger)."""
    with insider(estate.service) as conn:
        changed = sql(
            conn,
            "UPDATE period_totals SET amount = amount + 100000 WHERE estate_id=:e"
            " AND dim='account' AND name=:a AND span='month' AND period='2026-10'",
            e=estate.id,
            a=BANK,
        )
        assert changed.rowcount == 1
    code, report, output = run_cli(estate.service, "audit", "--estate", estate.id, "--json")
    assert code == 1, output
    assert report is not None and pairs(report) == {("derived-totals", None)}
    (finding,) = report["findings"]
    assert "2026-10" in finding["message"] and BANK in finding["message"]
    assert (
        finding["evidence"]["amount"]["found"] == finding["evidence"]["amount"]["expected"] + 100000
    )


def test_missing_period_total_row(estate: EstateFactory, seqs: dict[str, int]) -> None:
    with insider(estate.service) as conn:
        sql(
            conn,
            "DELETE FROM period_totals WHERE estate_id=:e AND dim='category' AND span='all'",
            e=estate.id,
        )
    assert audit(estate) == {("derived-totals", None)}
