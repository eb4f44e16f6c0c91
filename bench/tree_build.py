"""tree_build: building the stored-hash Merkle tree, against a plain root and pymerkle.

1. ``tree_build`` — 1,000,000 leaf hashes (quick: 20,000). Ours: what the appender
   does for a batch import, :meth:`ledger.merkle.CompactRange.extend` over batches of
   1,000 leaf hashes (the batch limit of ``POST …/entries:batch``), keeping every node
   it returns (runs of consecutive nodes per level, ``(level, first index, hashes)``),
   from which the appender writes ``tree_hashes``. The note adds one
   :meth:`~ledger.merkle.CompactRange.append` per leaf (single posts). Baseline: the
   RFC 6962 root of the same leaf hashes with plain ``hashlib``
   (:func:`ledger.merkle.root_from_leaf_hashes`, level by level), which computes the
   same interior hashes and stores nothing.
   Both must give the same root. Target: ours ≤ 1.5 × the baseline's time.

2. ``tree_append_vs_pymerkle`` — 100,000 appends of leaf data (quick: 20,000). Ours:
   :meth:`ledger.merkle.MemoryHashStore.append` (leaf hash, compact range, every node
   kept in a dict). Baseline: ``pymerkle.InmemoryTree.append_entry`` (pymerkle 7;
   it hashes the leaf and re-hashes the right spine, keeping a node object per
   node). Both give the same RFC 6962 root. Figures are appends per second.
   Target: ours ≥ 5 × pymerkle's rate (5 × faster per append).

The cyclic garbage collector is off in the timed sections (as ``timeit`` does), so
that the figure is the algorithm's cost and not the collector's heuristics over the
whole process heap; one extra round with the collector on is reported in the note.
Peak memory per leaf (``tracemalloc``, 20,000 leaves) is in the note too.
"""

from __future__ import annotations

import gc
import hashlib
import time
import tracemalloc
from collections.abc import Callable, Sequence

import pymerkle

from bench.common import Result, median, no_gc, spread
from ledger.merkle import (
    CompactRange,
    MemoryHashStore,
    NodeIndex,
    NodeRun,
    root_from_leaf_hashes,
    run_nodes,
)

NAME = "tree_build"


def leaf_hashes(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest() for i in range(n)]


def leaf_data(n: int) -> list[bytes]:
    return [b"trustledger bench leaf %d" % i for i in range(n)]


BATCH = 1_000


def build_stored(hashes: Sequence[bytes]) -> tuple[bytes, list[NodeRun]]:
    edge = CompactRange.empty()
    runs: list[NodeRun] = []
    for i in range(0, len(hashes), BATCH):
        runs.extend(edge.extend(hashes[i : i + BATCH]))
    return edge.root(), runs


def build_stored_per_leaf(
    hashes: Sequence[bytes],
) -> tuple[bytes, list[tuple[NodeIndex, bytes]]]:
    edge = CompactRange.empty()
    nodes: list[tuple[NodeIndex, bytes]] = []
    keep, append = nodes.extend, edge.append
    for h in hashes:
        keep(append(h))
    return edge.root(), nodes


def append_ours(data: Sequence[bytes]) -> bytes:
    store = MemoryHashStore()
    for d in data:
        store.append(d)
    return store.root()


def append_pymerkle(data: Sequence[bytes]) -> bytes:
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    for d in data:
        tree.append_entry(d)
    root: bytes = tree.get_root()
    return root


def _timed(fn: Callable[[], object], collector: bool = False) -> tuple[float, object]:
    if collector:
        gc.collect()
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out
    with no_gc():
        t = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t
    return seconds, out


def _peak_bytes(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _tree_build(quick: bool) -> Result:
    n = 20_000 if quick else 1_000_000
    rounds = 3 if quick else 5
    hashes = leaf_hashes(n)
    ours: list[float] = []
    base: list[float] = []
    for r in range(rounds):
        sides = [
            ("ours", lambda: build_stored(hashes)),
            ("base", lambda: root_from_leaf_hashes(hashes)),
        ]
        if r % 2:
            sides.reverse()
        roots = {}
        for side, fn in sides:
            seconds, out = _timed(fn)
            (ours if side == "ours" else base).append(seconds)
            roots[side] = out[0] if isinstance(out, tuple) else out
            del out
        if roots["ours"] != roots["base"]:
            raise RuntimeError("CompactRange and root_from_leaf_hashes disagree on the root")
    per_leaf = median([_timed(lambda: build_stored_per_leaf(hashes))[0] for _ in range(3)])
    with_gc = _timed(lambda: build_stored(hashes), collector=True)[0]
    with_gc_base = _timed(lambda: root_from_leaf_hashes(hashes), collector=True)[0]
    figure, baseline = median(ours), median(base)
    stored = 2 * n - n.bit_count()
    _, runs = build_stored(hashes)  # the runs hold exactly the nodes one append per leaf gives
    head = min(n, 20_000)
    if len(run_nodes(runs)) != stored or sorted(
        run_nodes(build_stored(hashes[:head])[1])
    ) != sorted(build_stored_per_leaf(hashes[:head])[1]):
        raise RuntimeError("extend and append disagree on the stored nodes")
    del runs
    note = (
        f"{n:,} leaves, {stored:,} stored nodes, {rounds} rounds; ours {spread(ours, '{:.3f}')} s, "
        f"base {spread(base, '{:.3f}')} s; "
        f"{figure / n * 1e6:.2f} vs {baseline / n * 1e6:.2f} µs/leaf; "
        f"one append per leaf {per_leaf:.3f} s ({per_leaf / baseline:.2f} ×); "
        f"with the collector on: {with_gc:.2f} vs {with_gc_base:.2f} s "
        f"(ratio {with_gc / with_gc_base:.2f})"
    )
    return Result("tree_build", figure, baseline, figure / baseline, "<= 1.5", "s", note)


def _pymerkle(quick: bool) -> Result:
    n = 20_000 if quick else 100_000
    rounds = 3 if quick else 5
    data = leaf_data(n)
    ours: list[float] = []
    base: list[float] = []
    for r in range(rounds):
        sides = [("ours", lambda: append_ours(data)), ("base", lambda: append_pymerkle(data))]
        if r % 2:
            sides.reverse()
        roots = {}
        for side, fn in sides:
            seconds, roots[side] = _timed(fn)
            (ours if side == "ours" else base).append(n / seconds)
        if roots["ours"] != roots["base"]:
            raise RuntimeError("MemoryHashStore and pymerkle disagree on the root")
    gc_ours = n / _timed(lambda: append_ours(data), collector=True)[0]
    gc_base = n / _timed(lambda: append_pymerkle(data), collector=True)[0]
    small = leaf_data(20_000)
    mem_ours = _peak_bytes(lambda: append_ours(small)) / len(small)
    mem_base = _peak_bytes(lambda: append_pymerkle(small)) / len(small)
    figure, baseline = median(ours), median(base)
    note = (
        f"{n:,} appends, {rounds} rounds; {1e6 / figure:.2f} vs {1e6 / baseline:.2f} µs/append; "
        f"ours {spread(ours)}/s, pymerkle {spread(base)}/s; with the collector on: "
        f"{1e6 / gc_ours:.2f} vs {1e6 / gc_base:.2f} µs/append ({gc_ours / gc_base:.1f}×); "
        f"peak memory {mem_ours:.0f} vs {mem_base:.0f} B/leaf (tracemalloc, 20,000 leaves)"
    )
    return Result(
        "tree_append_vs_pymerkle", figure, baseline, figure / baseline, ">= 5", "appends/s", note
    )


def run(quick: bool) -> list[Result]:
    return [_tree_build(quick), _pymerkle(quick)]
