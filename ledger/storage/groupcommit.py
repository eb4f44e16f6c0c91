"""Group commit: concurrent single appends to one estate share one transaction.

Each caller queues its payload. When no transaction of the estate is running, the
caller becomes the leader: it takes every payload queued so far (in arrival
order, up to ``max_group``) and appends them in one transaction, then wakes the
others; each caller is answered only after the transaction holding its payload
has committed, and callers keep queueing while it runs. A payload the ledger refuses is answered
with its own error and the rest of the group is appended without it (the refusal
names its index, so the group is retried minus that one). Errors that are not
about one payload (the database is down, the estate does not exist) go to every
caller of the group.

A caller that has announced itself (``before``: it is still verifying its
signatures) is waited for by the leader, at most ``delay`` seconds, so that it
joins the group about to run instead of waiting a whole transaction for the next
one: PostgreSQL's ``commit_delay``, taken only when there is someone to wait for.
A lone caller never waits.

Within one process. Several processes serving one database still serialise on the
estate's row lock; each groups its own callers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ledger.errors import LedgerError
from ledger.storage.appender import Appended, SignedPayload

Salt = tuple[str, bytes, str]
AppendFn = Callable[[str, Sequence[SignedPayload], Sequence[Salt]], list[Appended]]


@dataclass
class _Waiting:
    item: SignedPayload
    salts: tuple[Salt, ...]
    result: Appended | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Estate:
    changed: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[_Waiting] = field(default_factory=deque)
    busy: bool = False  # a leader's transaction is running
    arriving: int = 0  # callers announced, not queued yet


class GroupCommitter:
    def __init__(self, append: AppendFn, max_group: int = 500, delay: float = 0.001) -> None:
        self._append = append
        self.max_group = max_group
        self.delay = delay
        self._mutex = threading.Lock()
        self._estates: dict[str, _Estate] = {}
        self.groups = 0  # transactions committed (for tests and metrics)
        self.grouped = 0  # payloads they carried

    def _estate(self, estate: str) -> _Estate:
        with self._mutex:
            found = self._estates.get(estate)
            if found is None:
                found = self._estates[estate] = _Estate()
            return found

    def append(
        self,
        estate: str,
        item: SignedPayload,
        salts: Sequence[Salt] = (),
        before: Callable[[], object] | None = None,
    ) -> Appended:
        """Append ``item`` in a group; ``before()`` runs first (the caller's own work,
        e.g. verifying its signatures), announced so that a leader may wait for it."""
        state = self._estate(estate)
        me = _Waiting(item, tuple(salts))
        group: list[_Waiting] = []
        if before is not None:
            with state.changed:
                state.arriving += 1
            try:
                before()
            finally:
                with state.changed:
                    state.arriving -= 1
                    state.changed.notify_all()
        with state.changed:
            state.queue.append(me)
            while not me.done and state.busy:
                state.changed.wait()
            if not me.done:  # no transaction is running: lead the next one
                state.busy = True
                self._gather(state)
                take = min(self.max_group, len(state.queue))
                group = [state.queue.popleft() for _ in range(take)]
        if group:
            try:
                self._run(estate, group)
            finally:
                with state.changed:
                    state.busy = False
                    state.changed.notify_all()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _gather(self, state: _Estate) -> None:
        """Wait (holding ``state.changed``, at most :attr:`delay`) for the announced
        callers to queue, while the group has room for them."""
        deadline = time.monotonic() + self.delay
        while state.arriving and len(state.queue) < self.max_group:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            state.changed.wait(remaining)

    def _run(self, estate: str, group: list[_Waiting]) -> None:
        pending = list(group)
        try:
            while pending:
                try:
                    out = self._append(
                        estate, [w.item for w in pending], [s for w in pending for s in w.salts]
                    )
                except LedgerError as e:
                    index = e.data.get("index")
                    if not isinstance(index, int) or not 0 <= index < len(pending):
                        raise
                    e.data["index"] = 0  # as a single post would report it
                    pending.pop(index).error = e
                    continue
                for w, appended in zip(pending, out, strict=True):
                    w.result = appended
                self.groups += 1
                self.grouped += len(pending)
                pending = []
        except BaseException as e:  # handed to every caller still waiting
            for w in pending:
                w.error = e
        finally:
            for w in group:
                w.done = True
