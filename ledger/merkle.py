"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

What it does: hashes leaves and nodes with the RFC 6962 §2.1 prefixes; keeps
the right edge of a growing tree (:class:`CompactRange`) and reports each node
an append creates; computes roots (RFC 9162 §2.1.1), inclusion proofs
(§2.1.3.1) and consistency proofs (§2.1.4.1) from stored hashes, asking a
:class:`HashReader` for them in **one** batched call per root or proof (one
database round trip); verifies proofs (§2.1.3.2, §2.1.4.2), raising
:class:`~ledger.errors.ProofError` / :class:`~ledger.errors.RootMismatchError`
rather than returning ``False``.

Stored hashes are addressed ``(level, index)``: the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. Only perfect subtrees wholly
inside the tree are stored; a ragged right edge is hashed from the perfect
subtrees of its binary decomposition. The shape follows Go's
``golang.org/x/mod/sumdb/tlog``, with ``(level, index)`` instead of tlog's
flat storage index.

What it does not: no I/O (storage comes in as a :class:`HashReader`), no trust
decisions (a proof only ties a leaf or an old root to the root it is given;
whether that root is trustworthy, e.g. signed, is the caller's business), and
no leaf encoding (callers hash their own leaf bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol, TypeAlias

from ledger.errors import (
    InvalidInput,
    LedgerError,
    ProofError,
    RootMismatchError,
    StorageError,
)

LEAF_PREFIX = b"\x00"
"""RFC 6962 §2.1: prefix of a leaf hash input, so a leaf never hashes like a node."""

NODE_PREFIX = b"\x01"
"""RFC 6962 §2.1: prefix of an interior node hash input."""

HASH_SIZE = 32
"""Size of a SHA-256 hash in bytes."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 9162 §2.1.1: the root of the empty tree, ``SHA-256()``."""

NodeIndex: TypeAlias = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index << level, (index+1) << level)``."""


class HashReader(Protocol):
    """Source of stored node hashes (storage implements it with one batched query)."""

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        """Return the stored hash of each node in ``indexes``, in the same order."""
        ...


def hash_leaf(data: bytes) -> bytes:
    """RFC 6962 §2.1: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


# -- the right edge of a tree ----------------------------------------------------------------


NodeRun = tuple[int, int, list[bytes]]
"""Consecutive stored nodes of one level: ``(level, index of the first, their hashes)``."""


def run_nodes(runs: Iterable[NodeRun]) -> list[tuple[NodeIndex, bytes]]:
    """The nodes of :meth:`CompactRange.extend`'s runs, one by one."""
    return [((level, first + i), h) for level, first, hashes in runs for i, h in enumerate(hashes)]


class CompactRange:
    """The right edge of a tree of ``size`` leaves: one perfect subtree per set bit.

    The hashes are ordered left to right (largest subtree first). This is enough
    to compute the root and to append further leaves without reading the tree.

    It is mutable on purpose: it is a builder that an appending writer holds
    while it adds a batch of leaves; values handed out (:attr:`hashes`,
    :meth:`root`, the nodes returned by :meth:`append`) are immutable.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        if size < 0:
            raise InvalidInput(f"tree size {size} is negative", field="size")
        if len(hashes) != size.bit_count():
            raise InvalidInput(
                f"a tree of size {size} has {size.bit_count()} edge hashes, got {len(hashes)}",
                field="hashes",
            )
        _check_hash_sizes(hashes, InvalidInput)
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def empty(cls) -> CompactRange:
        """The right edge of the empty tree."""
        return cls(0, [])

    @classmethod
    def from_reader(cls, size: int, reader: HashReader) -> CompactRange:
        """Load the right edge of a stored tree of ``size`` leaves (one read)."""
        return cls(size, _read(reader, cls.indexes_for(size)))

    @staticmethod
    def indexes_for(size: int) -> list[NodeIndex]:
        """The nodes making up the right edge of a tree of ``size`` leaves, left to right."""
        levels = [level for level in reversed(range(size.bit_length())) if size >> level & 1]
        # Bit ``level`` of size is set, so ``size >> level`` is odd and the subtree at
        # that level starts at leaf ``(size >> level) - 1 << level``.
        return [(level, (size >> level) - 1) for level in levels]

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The edge hashes, left to right, matching :meth:`indexes_for`."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeIndex, bytes]]:
        """Add one leaf; return every node this creates: the leaf, then each completed parent."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            raise InvalidInput(f"a hash must be {HASH_SIZE} bytes", field="hash")
        size = self._size
        self._size = size + 1
        created = [((0, size), leaf_hash)]
        if not size & 1:  # no left sibling to complete: the leaf joins the edge
            self._hashes.append(leaf_hash)
            return created
        # Each set low bit of the old size is a left sibling now completed by the new leaf
        # (hash_children inlined: this loop is the whole cost of building a tree).
        hashes, sha256, current, level = self._hashes, hashlib.sha256, leaf_hash, 0
        while size >> level & 1:
            current = sha256(NODE_PREFIX + hashes.pop() + current).digest()
            level += 1
            created.append(((level, size >> level), current))
        hashes.append(current)
        return created

    def extend(self, leaf_hashes: Sequence[bytes]) -> list[NodeRun]:
        """Add many leaves; return the nodes this creates as runs ``(level, first index,
        hashes)`` of consecutive nodes, one run per level from the leaves up (the same
        nodes as one :meth:`append` per leaf; :func:`run_nodes` lists them one by one).

        Level by level: the new nodes of a level are paired with each other — the
        first with the old edge's node of that level when the old size has that bit
        set — and an odd last one joins the new edge.
        """
        for h in leaf_hashes:
            if type(h) is not bytes or len(h) != HASH_SIZE:
                raise InvalidInput(f"a hash must be {HASH_SIZE} bytes", field="hash")
        start = self._size
        sha256, edge = hashlib.sha256, self._hashes
        runs: list[NodeRun] = []
        carries: list[bytes] = []  # new edge nodes, lowest level first
        nodes, first, level = list(leaf_hashes), start, 0
        while nodes:
            runs.append((level, first, nodes))
            if first & 1:  # the old edge's node of this level is the left sibling
                nodes = [edge.pop(), *nodes]
                first -= 1
            pairs = len(nodes) >> 1
            if len(nodes) & 1:
                carries.append(nodes[-1])
            nodes = [
                sha256(NODE_PREFIX + nodes[2 * i] + nodes[2 * i + 1]).digest() for i in range(pairs)
            ]
            first >>= 1
            level += 1
        edge.extend(reversed(carries))
        self._size = start + len(leaf_hashes)
        return runs

    def root(self) -> bytes:
        """RFC 9162 §2.1.1 root of the tree (:data:`EMPTY_ROOT` when empty)."""
        return _fold_right(self._hashes) if self._hashes else EMPTY_ROOT


# -- reading stored hashes -------------------------------------------------------------------


def _check_hash_sizes(hashes: Iterable[bytes], error: type[LedgerError]) -> None:
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise error(f"a hash must be {HASH_SIZE} bytes", field="hash")


def _read(reader: HashReader, indexes: Sequence[NodeIndex]) -> list[bytes]:
    """One batched read, checked: storage must answer one 32-byte hash per node."""
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes) or any(map(HASH_SIZE.__ne__, map(len, hashes))):
        raise StorageError(f"hash reader answered {len(hashes)} hashes for {len(indexes)} nodes")
    return list(hashes)


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash a decomposition (largest subtree first) into one subtree hash, right to left."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hash_children(h, acc)
    return acc


def _range_nodes(begin: int, end: int) -> list[NodeIndex]:
    """Perfect subtrees covering leaves ``[begin, end)``, largest first.

    Every range a proof needs starts at a multiple of a power of two no smaller
    than its length, so each piece is an aligned (storable) subtree.
    """
    nodes: list[NodeIndex] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        assert begin % (1 << level) == 0, "proof ranges are aligned"
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def _range_hashes(ranges: Sequence[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """The RFC 9162 subtree hash ``MTH(D[begin:end])`` of each range, with one read."""
    pieces = [_range_nodes(begin, end) for begin, end in ranges]
    flat = [node for nodes in pieces for node in nodes]
    table = dict(zip(flat, _read(reader, flat), strict=True))
    return [_fold_right([table[node] for node in nodes]) for nodes in pieces]


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}", field="index")


def _check_sizes(old_size: int, new_size: int) -> None:
    if not 0 < old_size <= new_size:
        msg = f"no consistency proof from size {old_size} to size {new_size}"
        raise ProofError(msg, field="old_size")


def _split(n: int) -> int:
    """RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- roots and proofs from stored hashes -----------------------------------------------------


def tree_root(size: int, reader: HashReader) -> bytes:
    """RFC 9162 §2.1.1 ``MTH`` of the first ``size`` leaves of the stored tree."""
    if size < 0:
        raise ProofError(f"tree size {size} is negative", field="size")
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], reader)[0]


def _inclusion_ranges(index: int, size: int, level: int = 0) -> list[tuple[int, int]]:
    """Leaf ranges of the audit path ``PATH(index, D[0:size])``, bottom up (from ``level``).

    At each level the path holds the sibling of the subtree containing the leaf;
    a sibling wholly past the end does not exist (the node is promoted), and one
    that is cut by the end is the ragged subtree ``[start, size)``.
    """
    ranges = []
    while 1 << level < size:
        start = ((index >> level) ^ 1) << level
        if start < size:
            ranges.append((start, min(start + (1 << level), size)))
        level += 1
    return ranges


def prove_inclusion(
    index: int, size: int, reader: HashReader, *, tile_height: int = 0, tiled_levels: int = 0
) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    By default each hash of the path is read as the stored node(s) of its subtree. With
    ``tile_height`` h > 0 the path's hashes below level ``tiled_levels`` (a multiple of
    h) are hashed from tiles instead, as in C2SP tlog-tiles: for each tile level ``t``
    (0, h, 2h, …) the reader is asked for the leaf's tile, the nodes of level ``t``
    under the same node of level ``t + h`` (up to 2^h consecutive nodes, clipped to the
    tree), and the siblings of levels ``t`` … ``t + h - 1`` are computed from it. A
    store kept in ``(level, index)`` order reads a tile as one short range where it
    would look up h nodes far apart; the proof is the same, still in one read.
    """
    _check_index(index, size)
    if tile_height <= 0 or tiled_levels <= 0:
        return _range_hashes(_inclusion_ranges(index, size), reader)
    if tiled_levels % tile_height:
        raise InvalidInput("tiled levels must be a multiple of the tile height", field="tiles")
    wanted: list[NodeIndex] = []
    tiles = _inclusion_tiles(index, size, tile_height, tiled_levels, wanted)
    upper = _inclusion_upper(index, size, tiled_levels, wanted)
    hashes = _read(reader, wanted)
    proof: list[bytes] = []
    at = 0
    for level, first, complete, edge_count in tiles:
        tile = hashes[at : at + complete]
        at += complete
        if edge_count:
            tile.append(_fold_right(hashes[at : at + edge_count]))
            at += edge_count
        proof += _tile_path(tile, (index >> level) - first, tile_height)
    if len(upper) == len(hashes) - at:  # each hash above the tiles is one stored node
        return proof + hashes[at:]
    for count in upper:
        proof.append(hashes[at] if count == 1 else _fold_right(hashes[at : at + count]))
        at += count
    return proof


def _inclusion_tiles(
    index: int, size: int, height: int, levels: int, wanted: list[NodeIndex]
) -> list[tuple[int, int, int, int]]:
    """The leaf's tiles below ``levels``: adds their nodes to ``wanted`` and returns, per
    tile, (its level, its first node, how many complete nodes, how many edge pieces)."""
    tiles = []
    level = 0
    while level < levels and 1 << level < size:
        first = index >> (level + height) << height
        end = min(size, (first + (1 << height)) << level)  # the tile's end, in leaves
        complete = (end >> level) - first
        wanted += [(level, first + i) for i in range(complete)]
        # A tile cut by the end of the tree ends with the ragged subtree [.., size),
        # read as the stored subtrees of its binary decomposition.
        edge = _range_nodes((first + complete) << level, end) if complete << level < end else []
        wanted += edge
        tiles.append((level, first, complete, len(edge)))
        level += height
    return tiles


def _inclusion_upper(index: int, size: int, level: int, wanted: list[NodeIndex]) -> list[int]:
    """The path's hashes from ``level`` up: adds their stored nodes to ``wanted`` and
    returns how many make each hash (one, or the pieces of a ragged subtree)."""
    counts = []
    while 1 << level < size:
        sibling = (index >> level) ^ 1
        start = sibling << level
        if start < size:
            if start + (1 << level) <= size:
                wanted.append((level, sibling))
                counts.append(1)
            else:  # the ragged subtree [start, size)
                pieces = _range_nodes(start, size)
                wanted += pieces
                counts.append(len(pieces))
        level += 1
    return counts


def _tile_path(nodes: Sequence[bytes], position: int, height: int) -> list[bytes]:
    """The audit path of node ``position`` of a tile through the tile's ``height`` levels.

    ``nodes`` are the tile's nodes of its lowest level, complete except possibly the
    last one (cut by the end of the tree), so the subtree over any slice of them is
    the left-balanced tree that pairing neighbours builds (an odd last node goes up
    unchanged, as in :func:`root_from_leaf_hashes`). A sibling past the end does not
    exist (RFC 9162: the node is promoted).
    """
    sha256 = hashlib.sha256
    path = [nodes[position ^ 1]] if position ^ 1 < len(nodes) else []
    for k in range(1, height):
        start = ((position >> k) ^ 1) << k
        if start < len(nodes):
            level = nodes[start : start + (1 << k)]
            while len(level) > 1:
                paired = [
                    sha256(NODE_PREFIX + level[i] + level[i + 1]).digest()
                    for i in range(0, len(level) - 1, 2)
                ]
                if len(level) & 1:
                    paired.append(level[-1])
                level = paired
            path.append(level[0])
    return path


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges of ``PROOF(old_size, D[0:new_size])``, unrolling RFC 9162 ``SUBPROOF``.

    ``SUBPROOF`` appends its own subtree after recursing, so the ranges are
    collected top-down and reversed at the end.
    """
    ranges = []
    begin, end, m, starts_at_old_root = 0, new_size, old_size, True
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin, m, starts_at_old_root = begin + k, m - k, False
    if not starts_at_old_root:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def prove_consistency(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 proof that the tree of ``old_size`` leaves is a prefix of ``new_size``.

    ``old_size`` must be at least 1 (the RFC defines no proof from the empty
    tree); equal sizes give the empty proof.
    """
    _check_sizes(old_size, new_size)
    if old_size == new_size:
        return []
    return _range_hashes(_consistency_ranges(old_size, new_size), reader)


# -- verification ----------------------------------------------------------------------------


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-4: the root an inclusion proof leads to.

    Raises :class:`ProofError` for impossible parameters or a proof of the wrong
    length; the caller compares the result with the root it trusts.
    """
    _check_index(index, size)
    _check_hash_sizes([leaf_hash, *proof], ProofError)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long", field="proof")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short", field="proof")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: check that ``leaf_hash`` is leaf ``index`` of the tree with ``root``."""
    calculated = root_from_inclusion(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatchError(root, calculated)


def _roots_from_consistency(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 1-6: the (old, new) roots a consistency proof leads to."""
    if not proof:  # step 1
        raise ProofError("consistency proof is empty", field="proof")
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)  # step 2
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError("consistency proof is too long", field="proof")
        if fn & 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 7, first part
        raise ProofError("consistency proof is too short", field="proof")
    return fr, sr


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: check that the tree ``old_root`` is a prefix of the tree ``new_root``.

    Equal sizes need an empty proof and equal roots. ``old_size`` 0 is refused,
    as in :func:`prove_consistency`.
    """
    _check_sizes(old_size, new_size)
    _check_hash_sizes([old_root, new_root, *proof], ProofError)
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty", field="proof")
        if old_root != new_root:
            raise RootMismatchError(new_root, old_root)
        return
    fr, sr = _roots_from_consistency(old_size, new_size, old_root, proof)
    if fr != old_root:
        raise RootMismatchError(old_root, fr)
    if sr != new_root:
        raise RootMismatchError(new_root, sr)


# -- in-memory store and a plain root --------------------------------------------------------


class MemoryHashStore:
    """An in-memory :class:`HashReader` holding every stored node of a growing tree.

    For tests and for audits that rebuild a tree from its leaves. Mutable: it
    is a store that grows by :meth:`append`; reads of a node it does not hold
    (not a perfect subtree inside the tree) raise :class:`StorageError`.

    Nodes are kept per level in index order: a level's nodes are completed left to
    right, so node ``(level, i)`` is ``levels[level][i]`` and the left sibling a new
    node completes is the last one of its level.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]
        self._size = 0

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> MemoryHashStore:
        """A store holding the tree of these leaf byte strings."""
        store = cls()
        for data in leaves:
            store.append(data)
        return store

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    @property
    def nodes(self) -> Mapping[NodeIndex, bytes]:
        """Read-only copy of every stored node, by ``(level, index)``."""
        return MappingProxyType(
            {(lv, i): h for lv, row in enumerate(self._levels) for i, h in enumerate(row)}
        )

    def append(self, data: bytes) -> int:
        """Append a leaf by its bytes; return its index."""
        return self.append_hash(hashlib.sha256(LEAF_PREFIX + data).digest())

    def append_hash(self, leaf_hash: bytes) -> int:
        """Append a leaf by its leaf hash; return its index."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            raise InvalidInput(f"a hash must be {HASH_SIZE} bytes", field="hash")
        index = self._size
        levels, sha256, current, n, level = self._levels, hashlib.sha256, leaf_hash, index, 0
        levels[0].append(current)
        while n & 1:  # a left sibling at this level is completed by the new node
            current = sha256(NODE_PREFIX + levels[level][-2] + current).digest()
            level += 1
            if level == len(levels):
                levels.append([])
            levels[level].append(current)
            n >>= 1
        self._size = index + 1
        return index

    def root(self) -> bytes:
        """Root of the whole tree."""
        size = self._size
        if size == 0:
            return EMPTY_ROOT
        return _fold_right([self._levels[lv][i] for lv, i in CompactRange.indexes_for(size)])

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        """:class:`HashReader`: the stored hashes of ``indexes``, in order."""
        levels, out = self._levels, []
        for level, index in indexes:
            if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
                raise StorageError(f"no stored hash for node {(level, index)}")
            out.append(levels[level][index])
        return out


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 root of a list of leaf hashes, level by level (no storage).

    Pairing neighbours and carrying an odd last node up unchanged builds the
    same left-balanced tree as the RFC's recursive definition.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
