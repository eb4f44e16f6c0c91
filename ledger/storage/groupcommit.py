"""Group commit: concurrent single appends to one estate share one transaction.

Each caller queues its payload and waits for the estate's turnstile. Whoever gets
through takes every payload queued so far (in arrival order, up to
``max_group``) and appends them in one transaction; each caller is answered only
after that transaction has committed. A payload the ledger refuses is answered
with its own error and the rest of the group is appended without it (the refusal
names its index, so the group is retried minus that one). Errors that are not
about one payload (the database is down, the estate does not exist) go to every
caller of the group.

Within one process. Several processes serving one database still serialise on the
estate's row lock; each groups its own callers.
"""

from __future__ import annotations

import threading
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
    turnstile: threading.Lock = field(default_factory=threading.Lock)
    queue: deque[_Waiting] = field(default_factory=deque)


class GroupCommitter:
    def __init__(self, append: AppendFn, max_group: int = 500) -> None:
        self._append = append
        self.max_group = max_group
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

    def append(self, estate: str, item: SignedPayload, salts: Sequence[Salt] = ()) -> Appended:
        state = self._estate(estate)
        me = _Waiting(item, tuple(salts))
        with self._mutex:
            state.queue.append(me)
        with state.turnstile:
            if not me.done:
                with self._mutex:
                    group = [
                        state.queue.popleft() for _ in range(min(self.max_group, len(state.queue)))
                    ]
                self._run(estate, group)
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

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
