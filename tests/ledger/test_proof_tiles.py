"""Inclusion proofs hashed from tiles are the RFC 9162 proofs, read in one call.

``prove_inclusion(..., tile_height=h, tiled_levels=L)`` asks for the leaf's tiles (runs
of consecutive nodes) below level L instead of one node per level; the storage reads
them as ranges (``ledger/storage/nodes.py``). These tests hold it to the literal
reference of ``test_merkle`` for every tile shape, including tiles cut by the end of
the tree, and check what it asks the reader for.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.merkle import NodeIndex, hash_leaf, prove_inclusion, verify_inclusion
from ledger.storage.nodes import CACHED_LEVEL, TILE_HEIGHT
from tests.ledger.test_merkle import LEAVES, MAX_SIZE, STORE, CountingReader, ref_path, ref_root


class RecordingReader(CountingReader):
    def __init__(self, size: int) -> None:
        super().__init__(STORE, size)
        self.asked: list[NodeIndex] = []

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        self.asked += indexes
        return super().read_hashes(indexes)


@st.composite
def tiled_cases(draw: st.DrawFn) -> tuple[int, int, int, int]:
    size = draw(st.integers(1, MAX_SIZE))
    index = draw(st.integers(0, size - 1))
    height = draw(st.integers(1, 5))
    return size, index, height, height * draw(st.integers(1, 3))


@given(tiled_cases())
def test_tiled_proof_is_the_reference_path(case: tuple[int, int, int, int]) -> None:
    size, index, height, levels = case
    reader = RecordingReader(size)  # refuses nodes outside the tree of ``size``
    proof = prove_inclusion(index, size, reader, tile_height=height, tiled_levels=levels)
    assert proof == ref_path(index, LEAVES[:size])
    assert reader.calls <= 1
    verify_inclusion(hash_leaf(LEAVES[index]), index, size, proof, ref_root(size))


def test_every_small_tree_with_the_storage_tiles() -> None:
    """Exhaustive over sizes 1..140 with the shape the database reader uses."""
    for size in range(1, 141):
        for index in range(size):
            proof = prove_inclusion(
                index,
                size,
                CountingReader(STORE, size),
                tile_height=TILE_HEIGHT,
                tiled_levels=CACHED_LEVEL,
            )
            assert proof == ref_path(index, LEAVES[:size]), (index, size)


def test_tiles_are_asked_as_runs_of_consecutive_nodes() -> None:
    reader = RecordingReader(300)
    prove_inclusion(77, 300, reader, tile_height=3, tiled_levels=6)
    # Leaf 77: leaves 72..79 (level 0) and the level-3 nodes 8..15 (leaves 64..127),
    # then the siblings of levels 6 and 7 (leaves 0..63, 128..255) and the ragged
    # subtree [256, 300) of level 8 as its stored pieces (32 + 8 + 4 leaves).
    assert reader.asked == [
        *[(0, i) for i in range(72, 80)],
        *[(3, i) for i in range(8, 16)],
        (6, 0),
        (7, 1),
        (5, 8),
        (3, 36),
        (2, 74),
    ]


def test_a_tile_cut_by_the_end_of_the_tree() -> None:
    reader = RecordingReader(203)
    proof = prove_inclusion(201, 203, reader, tile_height=3, tiled_levels=6)
    assert proof == ref_path(201, LEAVES[:203])
    # Leaves 200..202 exist; the level-3 tile holds nodes 24 (leaves 192..199) and the
    # ragged subtree [200, 203), read as its stored pieces (1, 100) and (0, 202).
    assert reader.asked[:3] == [(0, 200), (0, 201), (0, 202)]
    assert reader.asked[3:6] == [(3, 24), (1, 100), (0, 202)]


@pytest.mark.parametrize("height, levels", [(3, 4), (2, 5)])
def test_tiled_levels_must_be_whole_tiles(height: int, levels: int) -> None:
    with pytest.raises(InvalidInput):
        prove_inclusion(3, 100, STORE, tile_height=height, tiled_levels=levels)
