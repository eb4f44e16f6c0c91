"""The copy of the public test vectors kept in the repository is the published one."""

from __future__ import annotations

import pytest

from tests.vectors import HERE, PUBLISHED


@pytest.mark.parametrize("name", ["rfc6962.json", "signed-note.json"])
def test_copy_is_current(name: str) -> None:
    if not PUBLISHED.is_dir():
        pytest.skip("the published vectors are not beside this checkout")
    assert (HERE / name).read_bytes() == (PUBLISHED / name).read_bytes()
