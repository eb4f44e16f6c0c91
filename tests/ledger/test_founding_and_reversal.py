"""Rules that close loopholes: the operator founds every log; reversals of closed accounts."""

from __future__ import annotations

import pytest

from api.payloads import genesis_body, payload, sign
from ledger.errors import InvalidReversal, MissingSignature
from ledger.policy import DEFAULT_POLICY, Policy, Rule
from ledger.signing import AuthorKey
from ledger.storage.service import LedgerService
from tests.factories import BANK, DAY, EstateFactory


def test_genesis_needs_the_operator_even_if_its_policy_says_otherwise(
    service: LedgerService, estate_id: str
) -> None:
    committee = AuthorKey.generate()
    lax = Policy(
        tuple(
            (name, Rule(any_of=("committee",)) if name == "genesis" else rule)
            for name, rule in DEFAULT_POLICY.rules
        )
    )
    body = genesis_body("自封小区", "某地", 10, [(committee.public_key, "committee", "张三")], lax)
    with pytest.raises(MissingSignature) as e:
        service.create_estate(sign(payload(estate_id, "genesis", body, date=DAY), [committee]))
    assert e.value.data["role"] == "operator"
    assert estate_id not in {x.id for x in service.estates()}


def test_reversal_into_a_closed_account_is_refused(estate: EstateFactory) -> None:
    spent = estate.append(estate.spend(300))[0].entry.seq
    refund = {  # empty the expense account so that it can be closed
        "postings": [
            {"account": BANK, "amount": 300},
            {"account": "Expenses:Cleaning", "amount": -300},
        ],
        "counterparty": "保洁公司",
        "category": "退款",
    }
    estate.append(estate.signed("transaction", refund, estate.trustee))
    close = {
        "action": "close",
        "name": "Expenses:Cleaning",
        "type": "expense",
        "display_name": "保洁",
    }
    estate.append(estate.signed("account", close, estate.committee))
    reversal = {"target": spent, "reason": "重复入账"}
    with pytest.raises(InvalidReversal):
        estate.append(estate.signed("reversal", reversal, estate.trustee, estate.committee))
    with estate.service.reader(estate.id) as r:
        assert r.size == spent + 3  # nothing written
