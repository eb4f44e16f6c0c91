"""What runs first in the signature verifying processes of :mod:`api.preverify`.

Kept apart so that a worker imports little: this module, then
:func:`ledger.signing.verify_many` for its work.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

NICENESS = 10
"""How much a worker yields to the server's own threads: it verifies with the CPU time
they leave, so on a busy machine the server is not slowed down by its helpers (the
ledger's check verifies what they did not get to)."""


def start_worker(parent: int, every: float = 1.0) -> None:
    """Lower the worker's priority, and exit once the serving process ``parent`` is
    gone: a server stopped cleanly shuts its workers down; one that was killed cannot,
    and its workers would linger."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
