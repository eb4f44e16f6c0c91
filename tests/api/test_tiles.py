"""C2SP tlog-tiles: the tiles give the same tree, leaves and proofs as the JSON API.

A reader that knows nothing but the checkpoint and the tiles rebuilds every node it
needs (tiles hold levels 0, 8, 16, …; the levels between are hashed from them) and
must produce exactly the proofs ``/proofs/*`` serves.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from api.routes_tiles import encode_index, parse_tile_path, tile_path
from ledger.merkle import NodeIndex, hash_children, hash_leaf, prove_consistency, prove_inclusion
from tests.factories import EstateFactory

WIDTH = 256


class TileReader:
    """A :class:`~ledger.merkle.HashReader` over the tiles of a tree of ``size`` leaves."""

    def __init__(self, client: TestClient, estate: str, size: int) -> None:
        self.client, self.estate, self.size = client, estate, size
        self.fetched: dict[str, bytes] = {}

    def _tile(self, level: int, n: int) -> list[bytes]:
        width = min(WIDTH, (self.size >> (8 * level)) - n * WIDTH)
        path = tile_path(level, n, width)
        if path not in self.fetched:
            r = self.client.get(f"/v1/estates/{self.estate}/tile/{path}")
            assert r.status_code == 200, (path, r.text)
            assert "immutable" in r.headers["cache-control"]
            assert len(r.content) == 32 * width
            self.fetched[path] = r.content
        data = self.fetched[path]
        return [data[i : i + 32] for i in range(0, len(data), 32)]

    def node(self, level: int, index: int) -> bytes:
        base, k = level // 8, level % 8
        first = index << k  # the node's first hash at level 8·base
        hashes = self._tile(base, first // WIDTH)[first % WIDTH : first % WIDTH + (1 << k)]
        while len(hashes) > 1:
            hashes = [hash_children(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def read_hashes(self, indexes: Sequence[NodeIndex]) -> list[bytes]:
        return [self.node(level, index) for level, index in indexes]


@pytest.fixture
def grown(estate_client: tuple[TestClient, EstateFactory]) -> tuple[TestClient, EstateFactory]:
    client, f = estate_client
    f.append(*[f.income(100 + i) for i in range(300)])  # one full tile and a partial one
    return client, f


def ledger_root(client: TestClient, estate: str, size: int) -> bytes:
    """The root of the first ``size`` leaves, from the leaves themselves."""
    from ledger.merkle import root_from_leaf_hashes

    page = client.get(f"/v1/estates/{estate}/entries?start=0&limit={size}").json()["entries"]
    return root_from_leaf_hashes([hash_leaf(base64.b64decode(e["leaf"])) for e in page])


def b64(items: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


def test_index_spelling_follows_the_spec():
    assert encode_index(0) == "000" and encode_index(67) == "067"
    assert encode_index(1234067) == "x001/x234/067"
    assert tile_path(0, 1234067, 8) == "0/x001/x234/067.p/8"
    assert tile_path("entries", 1) == "entries/001"
    assert parse_tile_path("0/x001/x234/067.p/8") == ("0", 1234067, 8)
    assert parse_tile_path("entries/001") == ("entries", 1, 256)


def test_proofs_from_tiles_equal_the_api(grown):
    client, f = grown
    size = int(client.get(f"/v1/estates/{f.id}/checkpoint").text.split("\n")[1])
    reader = TileReader(client, f.id, size)
    for seq in (0, 1, 255, 256, size - 1):
        api = client.get(f"/v1/estates/{f.id}/proofs/inclusion?seq={seq}&tree_size={size}")
        assert b64(prove_inclusion(seq, size, reader)) == api.json()["hashes"]
    for old in (1, 7, 256, 257, size - 1):
        api = client.get(f"/v1/estates/{f.id}/proofs/consistency?from={old}&to={size}")
        assert b64(prove_consistency(old, size, reader)) == api.json()["hashes"]


def test_entry_bundles_hold_the_leaves(grown):
    client, f = grown
    size = int(client.get(f"/v1/estates/{f.id}/checkpoint").text.split("\n")[1])
    full = client.get(f"/v1/estates/{f.id}/tile/entries/000").content
    leaves, i = [], 0
    while i < len(full):
        n = int.from_bytes(full[i : i + 2], "big")
        leaves.append(full[i + 2 : i + 2 + n])
        i += 2 + n
    assert len(leaves) == 256
    page = client.get(f"/v1/estates/{f.id}/entries?start=0&limit=256").json()["entries"]
    assert [base64.b64encode(x).decode() for x in leaves] == [e["leaf"] for e in page]
    tile0 = client.get(f"/v1/estates/{f.id}/tile/0/000").content
    assert [tile0[i : i + 32] for i in range(0, 32 * 256, 32)] == [hash_leaf(x) for x in leaves]
    partial = client.get(f"/v1/estates/{f.id}/tile/entries/001.p/{size - 256}")
    assert partial.status_code == 200
    upper = client.get(f"/v1/estates/{f.id}/tile/1/000.p/1").content  # node (8, 0)
    reader = TileReader(client, f.id, 256)
    assert upper == reader.node(8, 0) == ledger_root(client, f.id, 256)


@pytest.mark.parametrize(
    "path",
    [
        "0/002",  # beyond the log
        "0/001",  # not full yet
        "0/001.p/255",  # wider than the log
        "1/000.p/2",  # level 8: one node per 256 leaves, and there is one
        "entries/001",
        "0/x000/001",  # an extra zero group
        "0/1",
        "0/000.p/0",
        "0/000.p/256",
        "00/000",
        "abc/000",
        "0",
    ],
)
def test_tiles_that_do_not_exist_are_404_problems(grown, path):
    client, f = grown
    r = client.get(f"/v1/estates/{f.id}/tile/{path}")
    assert r.status_code == 404, path
    assert r.headers["content-type"] == "application/problem+json"
