"""The public test vectors (RFC 6962 trees and proofs, a C2SP signed note).

They are published beside the project, in ``../shared/vectors``; that copy is read
when it is there. A checkout on its own (a fresh clone anywhere) reads the copy
kept here, which ``test_copy_is_current`` compares with the published one whenever
both exist.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE.parents[2] / "shared" / "vectors"
VECTORS = PUBLISHED if PUBLISHED.is_dir() else HERE
