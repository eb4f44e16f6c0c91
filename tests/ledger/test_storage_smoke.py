from typing import Any

from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory


def test_append_and_verify(estate: EstateFactory) -> None:
    first = estate.append(estate.income(10_000))[0]
    assert first.created and first.entry.seq == 7
    spent = estate.append(estate.spend(2_500))[0]
    assert spent.entry.prev == first.entry.leaf_hash()
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == 9


def test_head_after_a_rolled_back_append(estate: EstateFactory) -> None:
    """The appender keeps the head of its last append in memory, before the commit: a
    rolled-back append must leave the next one reading the true head from the database."""
    from ledger.storage.appender import Appender

    estate.append(estate.income(10_000))
    try:
        with estate.service.session() as s:
            Appender(s, estate.id, estate.service._signer).append(
                [estate.income(111), estate.income(222)]
            )
            raise RuntimeError("the caller fails before its commit")
    except RuntimeError:
        pass
    after = estate.append(estate.income(333))[0]
    assert after.entry.seq == 8
    with estate.service.session() as s:
        assert verify_estate(s, estate.id).tree.size == 9


def test_head_after_another_writer(estate: EstateFactory, monkeypatch: Any) -> None:
    """Another process's appends (here: a head this process remembers from an earlier
    size) are seen: the next append reads the edge of the tree again."""
    from ledger.storage import appender

    estate.append(estate.income(10_000))
    stale = dict(appender._heads)
    estate.append(estate.income(20_000), estate.spend(500))
    monkeypatch.setattr(appender, "_heads", stale)
    last = estate.append(estate.income(30_000))[0]
    assert last.entry.seq == 10
    with estate.service.session() as s:
        report = verify_estate(s, estate.id)
        assert report.tree.size == 11
