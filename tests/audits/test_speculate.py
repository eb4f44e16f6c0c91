"""Workers judge ahead against a snapshot; the main process keeps only verdicts it can prove.

A log whose state changes often (accounts opened, a key registered and another
revoked, reversals of old and new entries, refused entries) is cut into chunks of
three and audited with a pool: every verdict must equal the inline audit's, and
the entries judged against a stale snapshot must have been judged again.
"""

from __future__ import annotations

from audits.run import AuditOptions, run_audit
from audits.speculate import RecordingView, Snapshot, agrees
from audits.state import AuditState
from ledger.signing import AuthorKey
from tests.audits.memory_source import BANK, LogBuilder


def busy_log() -> LogBuilder:
    log = LogBuilder()
    log.account(BANK, "asset")
    log.account("Income:PropertyFee", "income")
    old = log.transaction([(BANK, 100), ("Income:PropertyFee", -100)])
    for i in range(6):
        log.transaction([(BANK, 10 + i), ("Income:PropertyFee", -10 - i)])
    newcomer = AuthorKey.generate()
    body = {
        "action": "register",
        "public_key": _b64(newcomer.public_key),
        "role": "trustee",
        "holder": "新物业",
        "reason": "换物业",
    }
    log.add("key", body, log.committee, log.operator)
    log.transaction([(BANK, 7), ("Income:PropertyFee", -7)], newcomer)  # needs the new key
    log.account("Expenses:Cleaning", "expense")
    log.transaction([(BANK, -5), ("Expenses:Cleaning", 5)], newcomer, log.committee)
    log.add("reversal", {"target": old, "reason": "错账"}, log.trustee, log.committee)
    log.add("reversal", {"target": old, "reason": "再冲"}, log.trustee, log.committee)  # refused
    revoke = {"action": "revoke", "key_id": log.trustee.key_id, "reason": "离任"}
    log.add("key", revoke, log.committee, log.operator)
    log.transaction([(BANK, 3), ("Income:PropertyFee", -3)], log.trustee)  # revoked key
    log.transaction([(BANK, 2), ("Income:PropertyFee", -1)], newcomer)  # unbalanced
    return log


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_pool_verdicts_equal_inline_verdicts() -> None:
    log = busy_log()
    inline = run_audit(log.source, AuditOptions(workers=1))
    pooled = run_audit(log.source, AuditOptions(workers=2, parallel_from=0))
    assert [f.to_json() for f in pooled.findings] == [f.to_json() for f in inline.findings]
    assert {(f.check, f.seq) for f in inline.findings} == {
        ("reversals", 15),
        ("signatures", 17),
        ("double-entry", 18),
    }
    assert pooled.estates[0].rejudged > 0  # the new key and account were in flight


def test_recorded_reads_are_replayed_against_the_true_fold() -> None:
    log = busy_log()
    true = AuditState(log.source.estate)
    stale = Snapshot.of(true).state_at(0)
    view = RecordingView(stale)
    assert view.key("0000000000000000") is None
    assert agrees(true, view.reads)
    true.keys["0000000000000000"] = object()  # type: ignore[assignment]
    assert not agrees(true, view.reads)
