"""C2SP tlog-tiles: the log as immutable static files any HTTP cache or CDN can serve.

With the prefix ``/v1/estates/{estate}`` (where ``/checkpoint`` already is):

- ``/tile/<L>/<N>[.p/<W>]`` — hashes of tree level ``8·L``, nodes ``256·N … 256·N+W-1``
  (32 bytes each, concatenated); full tiles have 256, partial ones ``W`` < 256.
- ``/tile/entries/<N>[.p/<W>]`` — leaves ``256·N …``, each as a big-endian uint16
  length followed by the leaf bytes.

``<N>`` is written in groups of three digits, all but the last prefixed by ``x``
(``1234067`` → ``x001/x234/067``). A tile exists once the latest checkpoint covers
it; its bytes then never change, so it is served ``immutable`` for a year.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Response
from sqlalchemy import select

from api.problems import Problem
from api.routes_public import Svc
from ledger.storage.models import EntryRow, TreeHashRow

router = APIRouter(prefix="/v1/estates", tags=["verification"])

HEIGHT = 8
WIDTH = 1 << HEIGHT
MAX_LEVEL = 63 // HEIGHT
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067`` (C2SP tlog-tiles)."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def tile_path(level: int | str, n: int, width: int = WIDTH) -> str:
    """The path of a tile below ``…/tile/`` (``level`` ``"entries"`` for entry bundles)."""
    path = f"{level}/{encode_index(n)}"
    return path if width == WIDTH else f"{path}.p/{width}"


def parse_tile_path(path: str) -> tuple[str, int, int]:
    """``(level or "entries", N, W)`` from ``<L>/<N>[.p/<W>]``; :class:`Problem` if malformed."""
    if len(path) > 64:  # longer than any tile path; int() would refuse > 4300 digits (500)
        raise Problem("not-found", "a tile path is <L>/<N>[.p/<W>]")
    parts = path.split("/")
    width = WIDTH
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        if _WIDTH.fullmatch(parts[-1]) is None or int(parts[-1]) >= WIDTH:
            raise Problem("not-found", "a partial tile's width is 1 to 255")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 2:
        raise Problem("not-found", "a tile path is <L>/<N>[.p/<W>]")
    level, groups = parts[0], parts[1:]
    if level != "entries" and (not level.isdigit() or str(int(level)) != level):
        raise Problem("not-found", f"tile level {level!r} is not a number")
    if not all(_GROUP.fullmatch(g) for g in groups[:-1]) or not _LAST.fullmatch(groups[-1]):
        raise Problem("not-found", "a tile index is written x000/…/000")
    digits = "".join(g.removeprefix("x") for g in groups)
    n = int(digits)
    if encode_index(n) != "/".join(groups):  # one spelling per index (no extra zero groups)
        raise Problem("not-found", "a tile index has exactly one spelling")
    return level, n, width


@router.get(
    "/{estate}/tile/{path:path}",
    response_class=Response,
    summary="C2SP tlog-tiles: hash tiles and entry bundles (immutable)",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def tile(estate: str, path: str, svc: Svc) -> Response:
    level, n, width = parse_tile_path(path)
    first = n * WIDTH
    with svc.reader(estate) as r:
        size = r.size  # covered by the latest checkpoint (appends commit both together)
        if level == "entries":
            if first + width > size:
                raise Problem("not-found", f"the log has {size} entries; that bundle is not final")
            leaves = r.session.scalars(
                select(EntryRow.leaf)
                .where(
                    EntryRow.estate_id == estate,
                    EntryRow.seq >= first,
                    EntryRow.seq < first + width,
                )
                .order_by(EntryRow.seq)
            ).all()
            if len(leaves) != width or any(len(leaf) > 0xFFFF for leaf in leaves):
                raise Problem("internal-error", "the entry bundle cannot be built")
            body = b"".join(len(leaf).to_bytes(2, "big") + leaf for leaf in leaves)
        else:
            tree_level = HEIGHT * int(level)
            if int(level) > MAX_LEVEL or first + width > size >> tree_level:
                raise Problem("not-found", f"the tree of size {size} has no such tile yet")
            hashes = r.session.scalars(
                select(TreeHashRow.hash)
                .where(
                    TreeHashRow.estate_id == estate,
                    TreeHashRow.level == tree_level,
                    TreeHashRow.idx >= first,
                    TreeHashRow.idx < first + width,
                )
                .order_by(TreeHashRow.idx)
            ).all()
            if len(hashes) != width:
                raise Problem("internal-error", "stored tree hashes are missing for that tile")
            body = b"".join(hashes)
    return Response(body, media_type="application/octet-stream", headers=IMMUTABLE)
