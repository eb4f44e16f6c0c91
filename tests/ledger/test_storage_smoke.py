from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory


def test_append_and_verify(estate: EstateFactory) -> None:
    first = estate.append(estate.income(10_000))[0]
    assert first.created and first.entry.seq == 7
    spent = estate.append(estate.spend(2_500))[0]
    assert spent.entry.prev == first.entry.leaf_hash()
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == 9
