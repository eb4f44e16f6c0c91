"""Tests of ledger.merkle: RFC 6962 vectors, a literal reference, proofs and tampering."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidInput, ProofError, RootMismatchError, StorageError
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    MemoryHashStore,
    NodeIndex,
    hash_children,
    hash_leaf,
    prove_consistency,
    prove_inclusion,
    root_from_inclusion,
    root_from_leaf_hashes,
    run_nodes,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.vectors import VECTORS

RFC6962: dict[str, Any] = json.loads((VECTORS / "rfc6962.json").read_text("utf-8"))
VECTOR_LEAVES = [bytes.fromhex(x) for x in RFC6962["leaves_hex"]]
VECTOR_ROOTS = {int(n): bytes.fromhex(h) for n, h in RFC6962["roots_hex"].items()}

MAX_SIZE = 300
LEAVES = [f"leaf {i}".encode() for i in range(MAX_SIZE)]
STORE = MemoryHashStore.from_leaves(LEAVES)


def b64(hashes: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in hashes]


# -- a literal RFC 9162 §2.1 reference, used only to cross-check -------------------------------


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of §2.1.1, recursively over leaf data."""
    if len(d) == 0:
        return EMPTY_ROOT
    if len(d) == 1:
        return hash_leaf(d[0])
    k = ref_split(len(d))
    return hash_children(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_split(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


@cache
def ref_root(size: int) -> bytes:
    return ref_mth(LEAVES[:size])


# -- a reader that counts calls and refuses nodes not stored at that size -----------------------


class CountingReader:
    """Wraps a store; records calls; fails on nodes outside the tree of ``size`` leaves."""

    def __init__(self, store: MemoryHashStore, size: int) -> None:
        self.store, self.size, self.calls = store, size, 0

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        self.calls += 1
        for level, index in indexes:
            assert (index + 1) << level <= self.size, f"node {(level, index)} not in tree"
        return self.store.read_hashes(indexes)


# -- vectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", sorted(VECTOR_ROOTS))
def test_vector_roots(size: int) -> None:
    leaves = VECTOR_LEAVES[:size]
    expected = VECTOR_ROOTS[size]
    assert root_from_leaf_hashes([hash_leaf(x) for x in leaves]) == expected
    assert ref_mth(leaves) == expected
    assert MemoryHashStore.from_leaves(leaves).root() == expected
    assert tree_root(size, MemoryHashStore.from_leaves(VECTOR_LEAVES)) == expected


def test_empty_root() -> None:
    assert EMPTY_ROOT.hex() == RFC6962["roots_hex"]["0"]
    assert CompactRange.empty().root() == EMPTY_ROOT
    assert tree_root(0, MemoryHashStore()) == EMPTY_ROOT


@pytest.mark.parametrize(
    "case", RFC6962["inclusion"], ids=lambda c: f"{c['index']}@{c['tree_size']}"
)
def test_vector_inclusion(case: dict[str, Any]) -> None:
    index, size, expected = case["index"], case["tree_size"], b64(case["hashes_b64"])
    reader = CountingReader(MemoryHashStore.from_leaves(VECTOR_LEAVES[:size]), size)
    assert prove_inclusion(index, size, reader) == expected
    assert reader.calls <= 1
    assert ref_path(index, VECTOR_LEAVES[:size]) == expected
    verify_inclusion(hash_leaf(VECTOR_LEAVES[index]), index, size, expected, VECTOR_ROOTS[size])


@pytest.mark.parametrize("case", RFC6962["consistency"], ids=lambda c: f"{c['from']}-{c['to']}")
def test_vector_consistency(case: dict[str, Any]) -> None:
    old, new, expected = case["from"], case["to"], b64(case["hashes_b64"])
    reader = CountingReader(MemoryHashStore.from_leaves(VECTOR_LEAVES[:new]), new)
    assert prove_consistency(old, new, reader) == expected
    assert reader.calls <= 1
    assert ref_subproof(old, VECTOR_LEAVES[:new], True) == expected
    verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], expected)


# -- stored-hash implementation against the reference --------------------------------------------

sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(min_value=1, max_value=new)), new


@given(st.integers(min_value=0, max_value=MAX_SIZE))
def test_tree_root_matches_reference(size: int) -> None:
    reader = CountingReader(STORE, size)
    assert tree_root(size, reader) == ref_root(size)
    assert reader.calls <= 1
    assert root_from_leaf_hashes([hash_leaf(x) for x in LEAVES[:size]]) == ref_root(size)
    edge = CompactRange.from_reader(size, CountingReader(STORE, size))
    assert edge.root() == ref_root(size)


@given(size_and_index())
def test_inclusion_matches_reference(case: tuple[int, int]) -> None:
    size, index = case
    reader = CountingReader(STORE, size)
    proof = prove_inclusion(index, size, reader)
    assert reader.calls <= 1
    assert proof == ref_path(index, LEAVES[:size])
    verify_inclusion(hash_leaf(LEAVES[index]), index, size, proof, ref_root(size))


@given(old_and_new())
def test_consistency_matches_reference(case: tuple[int, int]) -> None:
    old, new = case
    reader = CountingReader(STORE, new)
    proof = prove_consistency(old, new, reader)
    assert reader.calls <= 1
    assert proof == ref_subproof(old, LEAVES[:new], True)
    verify_consistency(old, new, ref_root(old), ref_root(new), proof)


def test_store_holds_only_perfect_subtrees_inside_the_tree() -> None:
    store = MemoryHashStore.from_leaves(LEAVES[:13])
    assert all((i + 1) << level <= 13 for level, i in store.nodes)
    assert len(store.nodes) == 2 * 13 - (13).bit_count()
    with pytest.raises(StorageError):
        store.read_hashes([(2, 3)])  # leaves 12..15: not complete in a tree of 13


# -- tampering fails verification --------------------------------------------------------------


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << bit % 8
    return bytes(out)


@given(size_and_index(), st.data())
def test_inclusion_any_bit_flip_fails(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = prove_inclusion(index, size, STORE)
    leaf, root = hash_leaf(LEAVES[index]), ref_root(size)
    target = data.draw(st.integers(min_value=0, max_value=len(proof) + 1), label="target")
    bit = data.draw(st.integers(min_value=0, max_value=HASH_SIZE * 8 - 1), label="bit")
    if target == 0:
        leaf = flip(leaf, bit)
    elif target == 1:
        root = flip(root, bit)
    else:
        proof[target - 2] = flip(proof[target - 2], bit)
    with pytest.raises(RootMismatchError):
        verify_inclusion(leaf, index, size, proof, root)


@given(old_and_new(), st.data())
def test_consistency_any_bit_flip_fails(case: tuple[int, int], data: st.DataObject) -> None:
    old, new = case
    proof = prove_consistency(old, new, STORE)
    roots = [ref_root(old), ref_root(new)]
    target = data.draw(st.integers(min_value=0, max_value=len(proof) + 1), label="target")
    bit = data.draw(st.integers(min_value=0, max_value=HASH_SIZE * 8 - 1), label="bit")
    if target < 2:
        roots[target] = flip(roots[target], bit)
    else:
        proof[target - 2] = flip(proof[target - 2], bit)
    with pytest.raises(RootMismatchError):
        verify_consistency(old, new, roots[0], roots[1], proof)


@given(size_and_index(), st.data())
def test_inclusion_wrong_index_or_size_fails(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = prove_inclusion(index, size, STORE)
    leaf = hash_leaf(LEAVES[index])
    other_index = data.draw(
        st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index)
    )
    with pytest.raises(ProofError):
        verify_inclusion(leaf, other_index, size, proof, ref_root(size))
    other_size = data.draw(
        st.integers(min_value=index + 1, max_value=MAX_SIZE).filter(lambda n: n != size)
    )
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, other_size, proof, ref_root(other_size))


@given(old_and_new(), st.data())
def test_consistency_wrong_sizes_fail(case: tuple[int, int], data: st.DataObject) -> None:
    old, new = case
    proof = prove_consistency(old, new, STORE)
    other_old = data.draw(st.integers(min_value=1, max_value=new).filter(lambda m: m != old))
    with pytest.raises(ProofError):
        verify_consistency(other_old, new, ref_root(other_old), ref_root(new), proof)
    other_new = data.draw(st.integers(min_value=old, max_value=MAX_SIZE).filter(lambda n: n != new))
    with pytest.raises(ProofError):
        verify_consistency(old, other_new, ref_root(old), ref_root(other_new), proof)


@given(size_and_index())
def test_inclusion_wrong_length_fails(case: tuple[int, int]) -> None:
    size, index = case
    proof = prove_inclusion(index, size, STORE)
    leaf, root = hash_leaf(LEAVES[index]), ref_root(size)
    with pytest.raises(ProofError, match="too long"):
        verify_inclusion(leaf, index, size, [*proof, bytes(HASH_SIZE)], root)
    if proof:
        with pytest.raises(ProofError, match="too short"):
            verify_inclusion(leaf, index, size, proof[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, [*proof[:-1], b"short"], root)


@given(old_and_new())
def test_consistency_wrong_length_fails(case: tuple[int, int]) -> None:
    old, new = case
    proof = prove_consistency(old, new, STORE)
    old_root, new_root = ref_root(old), ref_root(new)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, [*proof, bytes(HASH_SIZE)])
    if proof:
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, proof[:-1])


# -- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (6, 5), (-1, 5)])
def test_impossible_inclusion_parameters(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        prove_inclusion(index, size, STORE)
    with pytest.raises(ProofError):
        root_from_inclusion(hash_leaf(b""), index, size, [])


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (6, 5), (-1, 5)])
def test_impossible_consistency_parameters(old: int, new: int) -> None:
    with pytest.raises(ProofError):
        prove_consistency(old, new, STORE)
    with pytest.raises(ProofError):
        verify_consistency(old, new, EMPTY_ROOT, EMPTY_ROOT, [])


def test_consistency_equal_sizes() -> None:
    reader = CountingReader(STORE, 7)
    assert prove_consistency(7, 7, reader) == []
    assert reader.calls == 0
    verify_consistency(7, 7, ref_root(7), ref_root(7), [])
    with pytest.raises(RootMismatchError):
        verify_consistency(7, 7, ref_root(7), ref_root(6), [])
    with pytest.raises(ProofError):
        verify_consistency(7, 7, ref_root(7), ref_root(7), [ref_root(7)])


def test_consistency_empty_proof_between_different_sizes_fails() -> None:
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(3, 4, ref_root(3), ref_root(4), [])


def test_root_mismatch_carries_both_roots() -> None:
    proof = prove_inclusion(3, 10, STORE)
    wrong = bytes(HASH_SIZE)
    with pytest.raises(RootMismatchError) as info:
        verify_inclusion(hash_leaf(LEAVES[3]), 3, 10, proof, wrong)
    assert info.value.expected == wrong
    assert info.value.calculated == ref_root(10)


def test_bad_reader_answer_is_a_storage_error() -> None:
    class ShortReader:
        def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
            return STORE.read_hashes(indexes)[:-1]

    with pytest.raises(StorageError):
        tree_root(5, ShortReader())


# -- the compact range -------------------------------------------------------------------------


def test_compact_range_indexes() -> None:
    assert CompactRange.indexes_for(0) == []
    assert CompactRange.indexes_for(1) == [(0, 0)]
    assert CompactRange.indexes_for(6) == [(2, 0), (1, 2)]
    assert CompactRange.indexes_for(13) == [(3, 0), (2, 2), (0, 12)]


def test_compact_range_append_reports_new_nodes() -> None:
    edge = CompactRange.empty()
    created: dict[NodeIndex, bytes] = {}
    for i, leaf in enumerate(LEAVES[:40]):
        nodes = edge.append(hash_leaf(leaf))
        assert nodes[0] == ((0, i), hash_leaf(leaf))
        assert [node for node, _ in nodes] == [(lv, i >> lv) for lv in range(len(nodes))]
        created.update(nodes)
        assert edge.size == i + 1
        assert edge.root() == ref_root(i + 1)
        assert list(edge.hashes) == [created[n] for n in CompactRange.indexes_for(i + 1)]
    assert created == dict(MemoryHashStore.from_leaves(LEAVES[:40]).nodes)


def test_compact_range_resumes_from_stored_edge() -> None:
    edge = CompactRange.from_reader(21, CountingReader(STORE, 21))
    for leaf in LEAVES[21:50]:
        edge.append(hash_leaf(leaf))
    assert edge.root() == ref_root(50)


def test_compact_range_rejects_bad_edges() -> None:
    with pytest.raises(InvalidInput):
        CompactRange(3, [bytes(HASH_SIZE)])
    with pytest.raises(InvalidInput):
        CompactRange(1, [b"short"])
    with pytest.raises(InvalidInput):
        CompactRange(-1, [])
    with pytest.raises(InvalidInput):
        CompactRange.empty().append(b"short")


def test_every_small_tree_matches_reference() -> None:
    """Exhaustive over sizes 1..40: every inclusion and consistency proof, and its verification."""
    for size in range(1, 41):
        root = ref_root(size)
        for index in range(size):
            proof = prove_inclusion(index, size, CountingReader(STORE, size))
            assert proof == ref_path(index, LEAVES[:size]), (index, size)
            verify_inclusion(hash_leaf(LEAVES[index]), index, size, proof, root)
        for old in range(1, size + 1):
            proof = prove_consistency(old, size, CountingReader(STORE, size))
            assert proof == ref_subproof(old, LEAVES[:size], True), (old, size)
            verify_consistency(old, size, ref_root(old), root, proof)


# -- extend: many leaves at once gives the nodes of one append per leaf ----------------------


@settings(max_examples=300)
@given(st.integers(0, 600), st.lists(st.integers(0, 300), max_size=4))
def test_extend_equals_append_per_leaf(start, batches):
    import hashlib

    total = start + sum(batches)
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(total)]
    one, many = CompactRange.empty(), CompactRange.empty()
    for h in hashes[:start]:
        one.append(h)
        many.append(h)
    by_leaf, by_batch, at = [], [], start
    for n in batches:
        for h in hashes[at : at + n]:
            by_leaf.extend(one.append(h))
        by_batch.extend(run_nodes(many.extend(hashes[at : at + n])))
        at += n
        assert one.hashes == many.hashes and one.size == many.size
    assert sorted(by_leaf) == sorted(by_batch)
    assert many.root() == root_from_leaf_hashes(hashes)


def test_extend_refuses_a_bad_hash_and_changes_nothing():
    edge = CompactRange.empty()
    edge.append(b"\x01" * 32)
    with pytest.raises(InvalidInput):
        edge.extend([b"\x02" * 32, b"short"])
    assert edge.size == 1
