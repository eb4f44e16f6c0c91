"""Clean chunks are folded at once; the findings are exactly those of the per-entry path.

A chunk whose every check would find nothing comes back from its worker as a
summary (:class:`audits.analyse.ChunkSummary`) that the main process folds in one
step, checking only what a worker cannot see: the answers its verdicts took from a
stale snapshot, the link to the chunk before, the trust balance carried in, the
stored tree hashes it completes. Here the populated estate is read in chunks of
three leaves, an insider changes one thing, and the audit runs with summaries
(inline and in a pool) and with every chunk forced entry by entry: the findings
must be the same, in the same order, and so must each estate's result.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection

import audits.db
from audits.analyse import _totals
from audits.checks_derived import fact_columns
from audits.run import AuditReport, EstateAudit
from audits.speculate import ChunkReads
from audits.state import AuditState, judge
from ledger.entry import parse_leaf
from ledger.payload import Posting
from ledger.policy import DEFAULT_POLICY
from ledger.storage.aggregates import Accumulator
from ledger.validate import AccountRecord, Effects
from tests.audits.conftest import audit_service, populate, voucher
from tests.audits.memory_source import BANK, LogBuilder
from tests.audits.tampering import insider, leaf_of, sql
from tests.factories import EstateFactory


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audits.db, "PAGE", 3)


@pytest.fixture
def seqs(estate: EstateFactory) -> dict[str, int]:
    s = populate(estate)
    estate.append(*(estate.income(1_000 + i) for i in range(7)))
    with estate.service.reader(estate.id) as r:
        s["last"] = r.size - 1
    return s


def outcome(report: AuditReport) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    estates = [(e.estate, e.size, e.checkpoint_size, e.root, e.findings) for e in report.estates]
    return [f.to_json() for f in report.findings], estates


def audits_agree(estate: EstateFactory, monkeypatch: pytest.MonkeyPatch) -> AuditReport:
    """Audit with summaries (inline, pool) and entry by entry; all three must agree."""
    options: dict[str, Any] = {"estates": (estate.id,), "parallel_from": 0}
    folded: list[bool] = []
    fold = EstateAudit._fold_clean

    def counting(self: EstateAudit, *args: Any) -> Any:
        done = fold(self, *args)
        folded.append(done is not None)
        return done

    monkeypatch.setattr(EstateAudit, "_fold_clean", counting)
    inline = audit_service(estate.service, workers=1, **options)
    assert any(folded), "no chunk was folded from its summary"
    pooled = audit_service(estate.service, workers=2, **options)
    monkeypatch.setattr(EstateAudit, "_fold_clean", lambda *args: None)
    per_entry = audit_service(estate.service, workers=1, **options)
    assert outcome(inline) == outcome(per_entry)
    assert outcome(pooled) == outcome(per_entry)
    return per_entry


Tamper = Callable[[Connection, str, dict[str, int]], None]


def update(statement: str) -> Tamper:
    def run(conn: Connection, estate: str, seqs: dict[str, int]) -> None:
        params = {k: v for k, v in seqs.items() if f":{k}" in statement}
        if ":zero" in statement:
            params["zero"] = bytes(32)
        sql(conn, statement, e=estate, **params)

    return run


TAMPERS: dict[str, Tamper] = {
    # a worker sees it: its chunk's rows do not say what the leaves say
    "facts-balance-one": update(
        "UPDATE entry_facts SET trust_balance = trust_balance + 1 WHERE estate_id=:e AND seq=:spend"
    ),
    "facts-memo": update("UPDATE entry_facts SET memo = 'x' WHERE estate_id=:e AND seq=:spend"),
    "entries-kind": update(
        "UPDATE entries SET kind = 'document' WHERE estate_id=:e AND seq=:wrong"
    ),
    "postings-amount": update(
        "UPDATE postings SET amount = amount + 1 WHERE estate_id=:e AND seq=:spend AND line=0"
    ),
    "postings-extra": update(
        "INSERT INTO postings (estate_id, seq, line, account, amount, date)"
        " SELECT estate_id, seq, 9, account, 0, date FROM postings"
        " WHERE estate_id=:e AND seq=:last AND line=0"
    ),
    "voucher-ref-gone": update("DELETE FROM voucher_refs WHERE estate_id=:e AND seq=:spend"),
    "entries-row-gone": update("DELETE FROM entries WHERE estate_id=:e AND seq=:document"),
    # only the main process sees it: the chunk itself is consistent
    "facts-balance-shifted": update(
        "UPDATE entry_facts SET trust_balance = trust_balance + 7"
        " WHERE estate_id=:e AND seq>=:register"
    ),
    "tree-high-node": update(
        "UPDATE tree_hashes SET hash = :zero WHERE estate_id=:e AND level=3 AND idx=0"
    ),
    "tree-node-gone": update("DELETE FROM tree_hashes WHERE estate_id=:e AND level=2 AND idx=1"),
    "checkpoint-root": update(
        "UPDATE checkpoints SET root = :zero WHERE estate_id=:e AND size = :spend + 1"
    ),
    "period-totals": update(
        "UPDATE period_totals SET entries = entries + 1 WHERE estate_id=:e AND dim='all'"
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_database(
    estate: EstateFactory, seqs: dict[str, int], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    with insider(estate.service) as conn:
        TAMPERS[name](conn, estate.id, seqs)
    report = audits_agree(estate, monkeypatch)
    assert not report.clean, name


def test_clean_log(
    estate: EstateFactory, seqs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert audits_agree(estate, monkeypatch).clean


def test_changed_leaf(
    estate: EstateFactory, seqs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    k = seqs["spend"]
    with insider(estate.service) as conn:
        leaf = leaf_of(conn, estate.id, k).replace("10月".encode(), "11月".encode())
        sql(
            conn,
            "UPDATE entries SET leaf=:l WHERE estate_id=:e AND seq=:s",
            l=leaf,
            e=estate.id,
            s=k,
        )
    assert not audits_agree(estate, monkeypatch).clean


def test_missing_voucher_file(
    estate: EstateFactory, seqs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = voucher(estate, "后补发票.pdf", "late invoice")
    estate.append(estate.income(3_000, vouchers=[lost]))
    estate.service.blobs_for(estate.id).delete(lost["sha256"])
    report = audits_agree(estate, monkeypatch)
    assert ("vouchers", seqs["last"] + 1) in {(f.check, f.seq) for f in report.findings}


def test_reversal_of_an_earlier_chunk(
    estate: EstateFactory, seqs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = seqs["spend"]
    reversal = estate.signed(
        "reversal", {"target": old, "reason": "冲销"}, estate.trustee, estate.committee
    )
    estate.append(reversal, estate.income(4_000))
    assert audits_agree(estate, monkeypatch).clean


def test_chunk_totals_are_the_accumulators() -> None:
    """:func:`audits.analyse._totals` adds entries of one shape at once; the rows are
    those of :class:`~ledger.storage.aggregates.Accumulator` fed entry by entry."""
    rng = random.Random(17)
    log = LogBuilder()
    for name, kind in (
        (BANK, "asset"),
        ("Income:PropertyFee", "income"),
        ("Income:Public:Parking", "income"),
        ("Expenses:Cleaning", "expense"),
    ):
        log.account(name, kind)
    for _ in range(50):  # the builder's recorded_at holds 60 entries
        a, b = (
            rng.choice(["Income:PropertyFee", "Income:Public:Parking", "Expenses:Cleaning"]),
            BANK,
        )
        n = rng.randrange(1, 5_000)
        postings = [(b, n), (a, -n)] if rng.random() < 0.5 else [(a, n), (b, -n)]
        day = dt.date(2026, rng.choice([9, 10, 11]), rng.randrange(1, 28))
        body = {
            "postings": [{"account": x, "amount": y} for x, y in postings],
            "counterparty": "业主",
            "category": rng.choice(["物业费", "停车费", "保洁"]),
        }
        log.add("transaction", body, log.trustee, log.committee, date=day)
    state = AuditState(log.source.estate)
    done = []
    for leaf in log.source.leaves:
        verdict = judge(state, parse_leaf(leaf))
        state.apply(verdict.effects)
        done.append((parse_leaf(leaf), verdict.effects))
    facts = [fact_columns(e.payload, fx.postings) for e, fx in done]
    expected = Accumulator()
    for (_, fx), fact in zip(done, facts, strict=True):
        if fact is not None:
            lines = [(p.account, p.amount) for p in fx.postings]
            expected.add(fact[1], fact[2], fact[7], lines)
    assert _totals(done, facts) == expected.months
    assert len(expected.months) > 15


def test_chunk_reads_leave_out_what_the_chunk_changed() -> None:
    reads = ChunkReads(10)
    opened = Effects(10, "account", "account", account_opened=AccountRecord("A", "asset", "A", 10))
    reads.add([("account", "A", None), ("policy", None, DEFAULT_POLICY)], opened)
    posting = Effects(11, "transaction", "income", postings=(Posting("A", 5), Posting("B", -5)))
    reads.add([("account", "A", opened.account_opened), ("account", "B", None)], posting)
    reads.add([("transaction_postings", 11, posting.postings)], Effects(12, "reversal", "r"))
    assert reads.reads() == (
        ("account", "A", None),
        ("policy", None, DEFAULT_POLICY),
        ("account", "B", None),
    )
    assert not reads.unknown
    reads.add([("transaction_postings", 3, None)], Effects(13, "reversal", "r"))
    assert reads.unknown  # a snapshot does not know the postings of entry 3


def test_reversals_of_earlier_chunks_are_folded_from_summaries(
    estate: EstateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``reversals`` rows tell which earlier entries a chunk reverses; the worker is
    given their postings, so such a chunk is clean too (the fold confirms the answers)."""
    fees = [a.entry.seq for a in estate.append(*(estate.income(500 + i) for i in range(8)))]
    late = [
        estate.signed("reversal", {"target": t, "reason": "冲销"}, estate.trustee, estate.committee)
        for t in fees[:3]
    ]
    estate.append(*late, estate.income(900))
    per_entry: list[int] = []
    each = EstateAudit._per_entry

    def counting(self: EstateAudit, meta: Any, leaves: Any, notes: Any) -> Any:
        per_entry.append(len(leaves))
        return each(self, meta, leaves, notes)

    monkeypatch.setattr(EstateAudit, "_per_entry", counting)
    report = audit_service(estate.service, workers=1, estates=(estate.id,))
    assert report.clean and not any(per_entry)  # every chunk folded from its summary
    monkeypatch.undo()
    audits_agree(estate, monkeypatch)
