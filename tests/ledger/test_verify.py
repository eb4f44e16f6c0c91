"""verify_estate catches tampering that gets past the append-only triggers.

On a private SQLite copy the triggers are dropped (as someone with the database file
could), then single bits of stored leaves, tree hashes and checkpoints are flipped;
verify_estate must raise a LedgerError every time, and pass again once the byte is
restored (so each failure is caused by that flip and nothing else).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.errors import LedgerError, LogStateError, RootMismatchError
from ledger.storage.service import LedgerService
from ledger.storage.verify import verify_estate
from tests.factories import EstateFactory


@pytest.fixture
def tampered(sqlite_template: Path, tmp_path: Path) -> Iterator[EstateFactory]:
    """An estate of a few entries in a SQLite file whose update triggers are gone."""
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    svc = LedgerService(f"sqlite:///{path}", tmp_path / "data", "trustledger.example")
    f = EstateFactory.create(svc, "verify-me")
    f.append(f.income(10_000), f.income(20_000, "Income:Public:Parking"))
    f.append(f.spend(2_500))
    f.append(f.income(1))
    with svc.engine.begin() as conn:
        for table in ("entries", "tree_hashes", "checkpoints"):
            conn.execute(text(f"DROP TRIGGER {table}_no_update"))
    yield f
    svc.engine.dispose()


def verify(f: EstateFactory) -> Any:
    with f.service.session() as s:
        return verify_estate(s, f.id)


def fetch(f: EstateFactory, sql: str, **params: Any) -> list[Any]:
    with f.service.engine.connect() as conn:
        return list(conn.execute(text(sql), {"e": f.id, **params}))


def store(f: EstateFactory, sql: str, **params: Any) -> None:
    with f.service.engine.begin() as conn:
        assert conn.execute(text(sql), {"e": f.id, **params}).rowcount == 1


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_untampered_log_verifies(tampered: EstateFactory) -> None:
    result = verify(tampered)
    assert result.tree.size == 11
    assert fetch(tampered, "SELECT count(*) FROM entries WHERE estate_id = :e")[0][0] == 11


def test_the_triggers_are_really_gone(tampered: EstateFactory) -> None:
    (leaf,) = fetch(tampered, "SELECT leaf FROM entries WHERE estate_id = :e AND seq = 0")[0]
    store(tampered, "UPDATE entries SET leaf = :l WHERE estate_id = :e AND seq = 0", l=leaf)


def _check_leaf_flips(f: EstateFactory, seq: int, stride: int) -> int:
    sql = "SELECT leaf FROM entries WHERE estate_id = :e AND seq = :s"
    (leaf,) = fetch(f, sql, s=seq)[0]
    update = "UPDATE entries SET leaf = :l WHERE estate_id = :e AND seq = :s"
    caught = 0
    for pos in range(0, len(leaf), stride):
        store(f, update, l=flip(leaf, pos * 8 + pos % 8), s=seq)
        with pytest.raises(LedgerError):
            verify(f)
        caught += 1
    store(f, update, l=leaf, s=seq)
    verify(f)
    return caught


def test_flipped_bit_in_the_last_leaf(tampered: EstateFactory) -> None:
    # The last leaf has no successor whose prev would catch it: tree hashes must.
    last = verify(tampered).tree.size - 1
    assert _check_leaf_flips(tampered, last, stride=3) > 100


@pytest.mark.parametrize("seq", [0, 3, 8])
def test_flipped_bit_in_an_earlier_leaf(tampered: EstateFactory, seq: int) -> None:
    assert _check_leaf_flips(tampered, seq, stride=29) > 10


def test_swapped_leaves(tampered: EstateFactory) -> None:
    a, b = fetch(tampered, "SELECT seq, leaf FROM entries WHERE estate_id = :e AND seq IN (8, 9)")
    update = "UPDATE entries SET leaf = :l WHERE estate_id = :e AND seq = :s"
    store(tampered, update, l=b[1], s=a[0])
    store(tampered, update, l=a[1], s=b[0])
    with pytest.raises(LogStateError):
        verify(tampered)


def test_flipped_bit_in_a_stored_tree_hash(tampered: EstateFactory) -> None:
    hashes = fetch(tampered, "SELECT level, idx, hash FROM tree_hashes WHERE estate_id = :e")
    assert len(hashes) == 11 + 5 + 2 + 1  # the perfect subtrees of 11 leaves
    update = "UPDATE tree_hashes SET hash = :h WHERE estate_id = :e AND level = :lv AND idx = :ix"
    for n, (level, idx, h) in enumerate(hashes):
        store(tampered, update, h=flip(h, n * 13 % 256), lv=level, ix=idx)
        with pytest.raises(LogStateError, match=rf"\({level}, {idx}\)"):
            verify(tampered)
        store(tampered, update, h=h, lv=level, ix=idx)
    verify(tampered)


def test_flipped_bit_in_a_checkpoint_root(tampered: EstateFactory) -> None:
    checkpoints = fetch(tampered, "SELECT size, root FROM checkpoints WHERE estate_id = :e")
    assert [size for size, _ in checkpoints] == [1, 7, 9, 10, 11]
    update = "UPDATE checkpoints SET root = :r WHERE estate_id = :e AND size = :n"
    for size, root in checkpoints:
        store(tampered, update, r=flip(root, 100), n=size)
        with pytest.raises(RootMismatchError):
            verify(tampered)
        store(tampered, update, r=root, n=size)
    verify(tampered)


@pytest.mark.parametrize(("size", "stride"), [(11, 3), (7, 11), (1, 11)])
def test_flipped_bit_in_a_checkpoint_note(tampered: EstateFactory, size: int, stride: int) -> None:
    (note,) = fetch(
        tampered, "SELECT note FROM checkpoints WHERE estate_id = :e AND size = :n", n=size
    )[0]
    update = "UPDATE checkpoints SET note = :t WHERE estate_id = :e AND size = :n"
    for i in range(0, len(note), stride):
        ch = note[i]
        changed = note[:i] + chr(ord(ch) ^ (1 << (i % 5))) + note[i + 1 :]
        store(tampered, update, t=changed, n=size)
        with pytest.raises(LedgerError):
            verify(tampered)
    for extra in (note + "\n", note.rstrip("\n"), " " + note, note.replace("\n", "\r\n")):
        store(tampered, update, t=extra, n=size)
        with pytest.raises(LedgerError):
            verify(tampered)
    store(tampered, update, t=note, n=size)
    verify(tampered)


def test_checkpoint_note_of_another_size(tampered: EstateFactory) -> None:
    # A genuine signed note, but for another tree size than its row claims.
    (older,) = fetch(tampered, "SELECT note FROM checkpoints WHERE estate_id = :e AND size = 10")[0]
    store(tampered, "UPDATE checkpoints SET note = :t WHERE estate_id = :e AND size = 11", t=older)
    with pytest.raises(LedgerError):
        verify(tampered)


def test_flipped_bit_in_a_stored_leaf_hash(tampered: EstateFactory) -> None:
    # entries.leaf_hash is what the next append chains to (its prev): a corrupted one
    # must be caught before it is built upon.
    sql = "SELECT seq, leaf_hash FROM entries WHERE estate_id = :e ORDER BY seq"
    update = "UPDATE entries SET leaf_hash = :h WHERE estate_id = :e AND seq = :s"
    for seq, h in fetch(tampered, sql):
        store(tampered, update, h=flip(h, seq), s=seq)
        with pytest.raises(LogStateError):
            verify(tampered)
        store(tampered, update, h=h, s=seq)
    verify(tampered)


def test_deleted_tail_is_caught(tampered: EstateFactory) -> None:
    with tampered.service.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER entries_no_delete"))
    store(tampered, "DELETE FROM entries WHERE estate_id = :e AND seq = 10")
    with pytest.raises(LogStateError):
        verify(tampered)
