"""A batch's signatures verified ahead of its append, by a small pool of processes.

While the request's thread reads the batch item by item and then appends it,
:data:`WORKERS` worker processes verify the signatures of the items read so far
against the estate's registered keys (:func:`ledger.signing.verify_many`), and
those that verify are remembered in :data:`ledger.signing.VERIFIED`. The ledger's
own check under the estate's lock then finds each (public key, message, signature)
triple verified and skips only the cryptography — which key may sign, revocation,
roles and the policy are all decided there, as always — or, where the workers are
behind, verifies it itself. It waits only for a chunk a worker has started (at most
:data:`WAIT` seconds): verifying it again beside the worker would spend the core the
worker needs, while a chunk still queued may wait long on a busy machine (no core to
spare), where the check does not wait for it. The batch import goes further: its
append takes the signatures still being verified as pending and settles them just
before its commit (``LedgerService.append(defer_verified_elsewhere=True)``), so that
its writes overlap the workers' last chunks.

Nothing here refuses anything. A signature that does not verify, a key registered
later in the same batch or revoked since, an estate that does not exist: each is
left to the append, which answers exactly as it would without this step.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from functools import partial

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.verifier_worker import start_worker
from ledger.errors import LedgerError
from ledger.signing import PAYLOAD_DOMAIN, VERIFIED, Claim, verify_many
from ledger.storage.appender import SignedPayload
from ledger.storage.models import KeyRow
from ledger.storage.service import LedgerService

log = logging.getLogger("trustledger.api")

WORKERS = 2
"""Verifying processes (the machines this runs on have 2 cores or more)."""
CHUNK = 128
"""Signatures handed to a worker at once."""
WAIT = 0.05
"""Seconds the append's check waits at most for a chunk a worker has started (128
signatures take a free core ≈ 25 ms)."""
MIN_ITEMS = 16
"""Smaller batches are not sent to the workers: the hand-over costs more than it saves,
and :meth:`ledger.storage.service.LedgerService.append` verifies a few items' signatures
ahead of the lock in the request's thread anyway."""


class VerifierPool:
    """Worker processes that verify signatures (:func:`ledger.signing.verify_many`).

    Processes, not threads: a thread needs the GIL back after every verification,
    and while the request's thread is busy reading and appending the batch it gets
    it only at the interpreter's switch interval (measured: a verifying thread beside
    a busy Python thread took 0.73 ms per signature instead of 0.2 ms; the pool's
    threads slowed the batch down). The workers are spawned (no fork of a threaded
    server) in the background; until they answer, :meth:`executor` is None and a
    batch is verified by the append alone, as it would be without this pool. Each
    worker exits when the server process is gone (:mod:`api.verifier_worker`).
    """

    def __init__(self, workers: int = WORKERS) -> None:
        self.workers = workers
        self._executor: Executor | None = None
        self._ready = False
        self._lock = threading.Lock()

    def configure(self, workers: int) -> None:
        """Use ``workers`` processes (0: none) from now on."""
        with self._lock:
            if workers == self.workers:
                return
            self.workers = workers
        self.stop()

    def start(self) -> None:
        """Start the workers if they are not running (returns at once)."""
        with self._lock:
            if self.workers <= 0:
                return
            if self._executor is not None and not getattr(self._executor, "_broken", False):
                return
            self._ready = False
            context = multiprocessing.get_context("spawn")
            executor = self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=start_worker,
                initargs=(os.getpid(),),
            )
            try:  # one job per worker: each is spawned now, none while a batch waits
                pings = [executor.submit(verify_many, []) for _ in range(self.workers)]
            except (RuntimeError, OSError) as e:  # shutting down, or cannot start processes
                log.warning("signature verifying processes unavailable: %r", e)
                return
        for ping in pings:
            ping.add_done_callback(lambda _: self._started(executor, pings))

    def _started(self, executor: Executor, pings: list[Future[list[bool]]]) -> None:
        if not all(p.done() for p in pings):
            return
        ok = all(not p.cancelled() and p.exception() is None for p in pings)
        with self._lock:
            if executor is self._executor:
                self._ready = ok
        if not ok:
            log.warning("signature verifying processes did not start")

    def wait_ready(self, timeout: float) -> bool:
        """Start the workers and wait until they answer (tests, warm-ups)."""
        deadline = time.monotonic() + timeout
        while self.executor() is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def executor(self) -> Executor | None:
        """The running workers, or None (then started in the background)."""
        self.start()
        with self._lock:
            return self._executor if self._ready else None

    def stop(self) -> None:
        with self._lock:
            executor, self._executor, self._ready = self._executor, None, False
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


POOL = VerifierPool()


def estate_keys(svc: LedgerService, estate: str) -> dict[str, bytes]:
    """Key id -> public key of the estate's unrevoked author keys, as committed now
    (empty for an unknown estate, or when the database cannot be read: the append
    will say why)."""
    try:
        with svc.session() as s:
            rows = s.execute(
                select(KeyRow.key_id, KeyRow.public_key).where(
                    KeyRow.estate_id == estate, KeyRow.revoked_seq.is_(None)
                )
            )
            return {key_id: public_key for key_id, public_key in rows}
    except SQLAlchemyError:
        return {}


def _settle(chunk: list[Claim], job: Future[list[bool]]) -> None:
    """Remember what a chunk's job found valid, when it ends (however it ends)."""
    results = None
    if not job.cancelled():
        error = job.exception()
        if error is None:
            results = job.result()
        else:  # the append verifies these itself: slower, not wrong
            log.warning("signature pre-verification failed: %r", error)
    VERIFIED.settle_all(chunk, results)


def _wait_started(chunk: list[Claim], job: Future[list[bool]]) -> None:
    """Wait for ``job`` if a worker has started it (at most :data:`WAIT`), and remember
    its results at once (its done callback may run after this thread wakes). A job no
    worker has taken yet is withdrawn: the check verifies its claims itself, and no
    worker spends a core on them as well."""
    if job.cancel():  # its done callback has settled the chunk: nothing is pending now
        return
    if job.running():
        wait([job], timeout=WAIT)
    if job.done() and not job.cancelled() and job.exception() is None:
        VERIFIED.settle_all(chunk, job.result())  # a failure is logged by _settle


class Preverifier:
    """Hands each item's signatures to the workers (in chunks) as it is read;
    :meth:`close` when done with the batch, whatever happened."""

    def __init__(self, keys: Mapping[str, bytes], executor: Executor | None) -> None:
        self.keys = keys if executor is not None else {}
        self.executor = executor
        self._chunk: list[Claim] = []
        self._jobs: list[Future[list[bool]]] = []

    def add(self, item: SignedPayload) -> None:
        message: bytes | None = None
        for sig in item.signatures:
            public_key = self.keys.get(sig.key)
            if public_key is None:
                continue
            if message is None:
                try:  # encoded once: the ledger's check reads the same bytes back
                    canonical = item.payload.canonical()
                except LedgerError:  # the append refuses it, naming the item
                    return
                item.payload.with_canonical(canonical)
                message = PAYLOAD_DOMAIN + canonical
            claim = VERIFIED.claim(public_key, message, sig.sig)
            if not claim.known:
                self._chunk.append(claim)
        if len(self._chunk) >= CHUNK:
            self.submit()

    def submit(self) -> None:
        """Hand the signatures not yet handed over to the workers."""
        if not self._chunk:
            return
        chunk, self._chunk = self._chunk, []
        assert self.executor is not None  # no keys, no claims without one
        try:
            job = self.executor.submit(
                verify_many, [(c.public_key, c.message, c.sig) for c in chunk]
            )
        except (RuntimeError, OSError) as e:  # the pool broke or is shutting down
            log.warning("signature pre-verification unavailable: %r", e)
            return
        VERIFIED.being_verified(chunk, partial(_wait_started, chunk, job))
        job.add_done_callback(partial(_settle, chunk))
        self._jobs.append(job)

    def close(self) -> None:
        """Withdraw the work no worker has started on (the batch was refused, or the
        append is done and checked every signature itself or found it verified)."""
        self._chunk = []
        for job in self._jobs:
            job.cancel()
        self._jobs = []
