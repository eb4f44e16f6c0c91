"""The checks on logs the service would refuse, the fold after a failure, and the pieces.

Logs here are written directly (:mod:`tests.audits.memory_source`), so they can hold
what no append would accept: an unbalanced transaction, a one-signature spend, a
reversal made twice, an entry signed by an unknown key.
"""

from __future__ import annotations

import hashlib
import random

from audits.bundle import BundleSource
from audits.checks_tree import TreeCheck
from audits.db import DatabaseSource
from audits.findings import FindingSink, error
from audits.run import AuditOptions, AuditReport, run_audit
from audits.sources import AuditSource, node_ranges
from audits.url import UrlSource
from ledger.merkle import MemoryHashStore, hash_leaf
from ledger.signing import AuthorKey
from tests.audits.conftest import pairs
from tests.audits.memory_source import BANK, LogBuilder, MemorySource


def audit(source: AuditSource) -> AuditReport:
    return run_audit(source, AuditOptions(workers=1))


def chart(log: LogBuilder) -> None:
    log.account(BANK, "asset")
    log.account("Income:PropertyFee", "income")
    log.account("Expenses:Cleaning", "expense")


def test_a_clean_memory_log() -> None:
    log = LogBuilder()
    chart(log)
    log.transaction([(BANK, 100), ("Income:PropertyFee", -100)])
    assert audit(log.source).clean


def test_rules_are_named_by_check() -> None:
    log = LogBuilder()
    chart(log)
    unbalanced = log.transaction([(BANK, 100), ("Income:PropertyFee", -99)])
    one_signature = log.transaction([(BANK, -50), ("Expenses:Cleaning", 50)], log.trustee)
    target = log.transaction([(BANK, 10), ("Income:PropertyFee", -10)])
    body = {"target": target, "reason": "重复"}
    log.add("reversal", body, log.trustee, log.committee)
    twice = log.add("reversal", body, log.trustee, log.committee)
    stranger = log.transaction([(BANK, 1), ("Income:PropertyFee", -1)], AuthorKey.generate())
    assert pairs(audit(log.source)) == {
        ("double-entry", unbalanced),
        ("policy", one_signature),
        ("reversals", twice),
        ("signatures", stranger),
    }


def test_a_failed_entry_is_still_folded() -> None:
    """The account opened by a badly signed entry is open for the entries after it."""
    log = LogBuilder()
    log.account(BANK, "asset")
    bad = log.account("Income:PropertyFee", "income", AuthorKey.generate())
    log.transaction([(BANK, 100), ("Income:PropertyFee", -100)])
    assert pairs(audit(log.source)) == {("signatures", bad)}


def test_budget_without_minutes_is_a_warning() -> None:
    log = LogBuilder()
    chart(log)
    seq = log.add(
        "budget", {"year": 2026, "lines": [{"account": BANK, "amount": 1}]}, log.committee
    )
    report = audit(log.source)
    assert {(f.check, f.seq, f.severity) for f in report.findings} == {("budgets", seq, "warning")}
    assert len(report.findings) == 2  # no minutes; an asset account budgeted


def test_missing_and_altered_vouchers() -> None:
    log = LogBuilder()
    chart(log)
    data = b"%PDF-1.4 invoice"
    sha = hashlib.sha256(data).hexdigest()
    ref = [{"sha256": sha, "media_type": "application/pdf", "size": len(data), "name": "发票.pdf"}]
    body = {"title": "合同", "doc_type": "contract"}
    seq = log.add("document", body, log.committee, vouchers=ref)
    assert pairs(audit(log.source)) == {("vouchers", seq)}
    log.source.vouchers[sha] = b"%PDF-1.4 forged!"
    assert pairs(audit(log.source)) == {("vouchers", seq)}
    log.source.vouchers[sha] = data
    assert audit(log.source).clean


def test_checkpoint_order_and_coverage() -> None:
    log = LogBuilder()
    chart(log)
    notes = log.source.notes
    notes[1], notes[2] = notes[2], notes[1]  # the log "shrinks" from 3 to 2
    del notes[-1]  # entry 3 is appended without a checkpoint
    found = pairs(audit(log.source))
    assert found == {("checkpoint-order", None), ("checkpoint-coverage", 3)}


def test_checkpoint_root_runs_are_reported_once() -> None:
    log = LogBuilder()
    chart(log)
    for i in range(5):
        log.transaction([(BANK, i + 1), ("Income:PropertyFee", -(i + 1))])
    log.source.leaves[1] = log.source.leaves[1].replace(
        b"Assets:Bank:CoManaged", b"Assets:Bank:Elsewhere"
    )
    report = audit(log.source)
    roots = [f for f in report.findings if f.check == "checkpoint-root"]
    assert len(roots) == 2  # the first differing checkpoint, then one counting the other 7
    assert roots[1].evidence["count"] == 7


def test_tree_check_reports_the_lowest_node_only() -> None:
    leaves = [bytes([i]) * 8 for i in range(13)]
    store = MemoryHashStore.from_leaves(leaves)
    stored = dict(store.nodes)
    stored[(0, 5)] = b"\x00" * 32  # a leaf hash: its parents differ too
    stored[(2, 2)] = b"\x01" * 32  # an inner node over leaves 8..11
    del stored[(1, 4)]  # leaves 8..9: missing
    tree = TreeCheck("e")
    found = [f for leaf in leaves for f in tree.append(hash_leaf(leaf), stored)]
    assert [(f.seq, f.evidence["level"], f.evidence["index"]) for f in found] == [
        (5, 0, 5),
        (9, 1, 4),
        (11, 2, 2),
    ]
    assert tree.compact.root() == store.root()


def test_tree_check_suppresses_only_the_nodes_above_a_reported_one() -> None:
    """A changed leaf: its leaf hash is reported, the stored nodes above it (which the
    leaves no longer give) are not; a later unrelated node still is, and folding a run
    of leaves at once (:meth:`TreeCheck.keep`) leaves the same flags as appending them."""
    leaves = [bytes([i]) * 8 for i in range(40)]
    stored = dict(MemoryHashStore.from_leaves(leaves).nodes)
    changed = list(leaves)
    changed[2] = b"changed!"
    stored[(1, 12)] = b"\x02" * 32  # leaves 24..25: unrelated to leaf 2
    one_by_one = TreeCheck("e")
    found = [f for leaf in changed for f in one_by_one.append(hash_leaf(leaf), stored)]
    assert [(f.evidence["level"], f.evidence["index"]) for f in found] == [(0, 2), (1, 12)]
    assert len(one_by_one._dirty) == len(one_by_one.compact.hashes)
    kept = 0
    for cut in range(1, len(changed)):
        tree = TreeCheck("e")
        for leaf in changed[:cut]:
            list(tree.append(hash_leaf(leaf), stored))
        trial = tree.trial()
        runs = trial.extend([hash_leaf(leaf) for leaf in changed[cut:]])
        if not TreeCheck.all_stored(runs, stored):
            continue  # the audit appends such a run leaf by leaf
        tree.keep(trial)
        kept += 1
        assert tree._dirty == one_by_one._dirty, cut
        assert tree.compact.root() == one_by_one.compact.root()
    assert kept >= 5


def test_node_ranges_match_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(200):
        start = rng.randrange(0, 300)
        end = start + rng.randrange(0, 300)
        expected = {
            (level, idx)
            for level in range(12)
            for idx in range(600)
            if start <= ((idx + 1) << level) - 1 < end
        }
        got = {(lv, i) for lv, lo, hi in node_ranges(start, end) for i in range(lo, hi + 1)}
        assert got == expected, (start, end)


def test_sink_caps_each_check() -> None:
    sink = FindingSink(cap=3)
    sink.add(error("e", i, "chain", "x") for i in range(10))
    sink.add([error("e", 1, "leaf", "y")])
    found = sink.findings()
    assert len(sink) == 11 and len(found) == 5
    assert found[-1].evidence == {"total": 10, "listed": 3}


def test_every_source_implements_the_protocol(tmp_path: object) -> None:
    for cls in (DatabaseSource, UrlSource, BundleSource, MemorySource):
        missing = [
            name
            for name in (
                "estates",
                "size_hint",
                "log_keys",
                "leaf_batches",
                "checkpoints",
                "tree_hashes",
                "derived_rows",
                "state_tables",
                "consistency_proof",
                "voucher",
                "anomalies",
                "close",
            )
            if not callable(getattr(cls, name, None))
        ]
        assert not missing, (cls, missing)
    assert isinstance(LogBuilder().source, AuditSource)
    assert isinstance(UrlSource("http://127.0.0.1:9"), AuditSource)
