"""Ed25519 checks of a batch, shared with a helper process so both cores verify.

The ingest worker's thread does everything else of a batch (MQTT, parsing, the database), and
Python runs one thread at a time, so on a machine with more than one core the signature checks
(the largest single cost of a message) go half to a helper process while the thread checks the
other half; both halves are waited for before the batch goes on, so the order of what is stored
and rejected is the same as with one process.

    verifier = Verifier(processes=1)          # 0: check everything in this process
    verifier.signers([(msg, sig, (key, ...)), ...])  -> [index of the key that verified, or -1]
    verifier.close()

The helper is a ``concurrent.futures`` process pool (spawned, so it shares nothing with the
worker's threads) whose task imports only this module and ``cryptography``. If it breaks (killed,
out of memory, cannot start) the batch is checked here and the helper started again 30 s later:
a broken helper costs speed, never a verdict. Measured in process (no MQTT, 10,000 events): one
helper takes the ingest path from ~2,750 to ~3,300 events/s on 2 cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

logger = logging.getLogger(__name__)

Check = tuple[bytes, bytes, tuple[bytes, ...]]  # signed message, signature, keys to try in order
REST_S = 30  # how long a failed helper is left alone before it is started again
RESULT_TIMEOUT_S = 10.0  # a helper that answers no share of a batch in this long is given up
MIN_SHARED = 16  # smaller batches are checked here: handing them over costs more than it saves
CHUNK = 32  # checks per task handed to the helper by ``submit``
IN_FLIGHT = 2  # tasks of one ``submit`` at the helper at once; the rest wait in ``Pending``

_keys: dict[bytes, Ed25519PublicKey] = {}


def _key(public: bytes) -> Ed25519PublicKey:
    key = _keys.get(public)
    if key is None:
        if len(_keys) > 65536:
            _keys.clear()
        key = _keys[public] = Ed25519PublicKey.from_public_bytes(public)
    return key


def die_with_parent() -> None:
    """A helper process's first step (this module's pool, hub.ingest.receipt_process): on
    Linux it is killed when the thread that started it ends or the worker's process dies (by
    SIGKILL or out of memory too), so no helper outlives its hub (``PR_SET_PDEATHSIG``)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError) as exc:  # not Linux: the worker's own shutdown ends it
        logger.debug("no PR_SET_PDEATHSIG for this helper: %s", exc)


def signers(checks: Sequence[Check]) -> list[int]:
    """For each check the index of the first key whose signature it carries, else -1."""
    out: list[int] = []
    for msg, sig, keys in checks:
        found = -1
        if len(sig) == 64:
            for i, public in enumerate(keys):
                if len(public) != 32:
                    continue
                try:
                    _key(public).verify(sig, msg)
                except (InvalidSignature, ValueError):
                    continue
                found = i
                break
        out.append(found)
    return out


class Verifier:
    def __init__(self, processes: int = 1) -> None:
        self.processes = max(0, processes)
        self._pool: ProcessPoolExecutor | None = None
        self._resting_until = 0.0  # after a failure the helper rests, checks are made here

    def _executor(self) -> ProcessPoolExecutor | None:
        if not self.processes or time.monotonic() < self._resting_until:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
            )
        return self._pool

    def warm(self) -> None:
        """Start the helper now (in the background), not with the first large batch."""
        pool = self._executor()
        if pool is not None:
            pool.submit(signers, [])

    def signers(self, checks: Sequence[Check]) -> list[int]:
        pool = self._executor() if len(checks) >= MIN_SHARED else None
        if pool is None:
            return signers(checks)
        share = len(checks) * self.processes // (self.processes + 1)
        futures: list[Future[list[int]]] = []
        try:
            step = -(-share // self.processes)
            for i in range(0, share, step):
                futures.append(pool.submit(signers, list(checks[i : min(i + step, share)])))
        except (BrokenProcessPool, RuntimeError) as exc:
            self._broken(exc)
            return signers(checks)
        mine = signers(checks[share:])
        theirs: list[int] = []
        try:
            for future in futures:
                theirs.extend(future.result(timeout=RESULT_TIMEOUT_S))
        except Exception as exc:  # noqa: BLE001 - broken, hung, or cancelled by a restart
            self._broken(exc)
            return signers(checks[:share]) + mine
        return theirs + mine

    def submit(self, checks: Sequence[Check]) -> Pending:
        """Start the checks at the helper and return at once; ``Pending.result()`` gives what
        ``signers`` would. The caller goes on with other work (the ingest worker stores the
        previous batch) while the helper checks; whatever the helper has not taken by then is
        checked by the caller, so a slow or broken helper costs speed, never a verdict."""
        pool = self._executor() if len(checks) >= MIN_SHARED else None
        return Pending(self, list(checks), pool)

    def _broken(self, exc: BaseException) -> None:
        logger.warning(
            "signature helper process failed (%s); checking here, restarting it in %d s",
            exc,
            REST_S,
        )
        self._resting_until = time.monotonic() + REST_S
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class Pending:
    """The checks of one ``Verifier.submit``: handed to the helper ``CHUNK`` at a time, at most
    ``IN_FLIGHT`` tasks there at once (the next one is sent as one finishes), so at
    ``result()`` the chunks not yet sent are few to take back and check here. Taking back never
    cancels a sent task (futures of a process pool cannot be withdrawn reliably): a chunk is
    either sent or kept, under one lock."""

    def __init__(
        self, verifier: Verifier, checks: list[Check], pool: ProcessPoolExecutor | None
    ) -> None:
        self._verifier = verifier
        self._checks = checks
        self._pool = pool
        self._lock = threading.Lock()
        self._unsent = list(range(0, len(checks), CHUNK)) if pool is not None else []
        self._unsent.reverse()  # popped from the end: the batch's first chunk goes first
        self._sent: dict[int, Future[list[int]]] = {}
        self._failed: BaseException | None = None
        for _ in range(IN_FLIGHT):
            self._send_next()

    def _send_next(self, _done: object = None) -> None:
        with self._lock:
            if not self._unsent or self._failed is not None or self._pool is None:
                return
            start = self._unsent.pop()
            try:
                future = self._pool.submit(signers, self._checks[start : start + CHUNK])
            except (BrokenProcessPool, RuntimeError) as exc:
                self._failed = exc
                self._unsent.append(start)
                return
            self._sent[start] = future
        future.add_done_callback(self._send_next)

    def result(self) -> list[int]:
        with self._lock:  # from now on nothing more is sent: the rest is checked here
            kept, self._unsent = self._unsent, []
            sent = dict(self._sent)
        out: dict[int, list[int]] = {s: signers(self._checks[s : s + CHUNK]) for s in kept}
        if self._pool is None:
            return signers(self._checks)
        failed = self._failed
        deadline = time.monotonic() + RESULT_TIMEOUT_S  # one wait for all of them
        for start, future in sent.items():
            try:
                if failed is not None and not future.done():
                    raise TimeoutError("not waited for: the helper failed already")
                out[start] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:  # noqa: BLE001 - broken, hung, or cancelled by a restart
                failed = failed or exc
                out[start] = signers(self._checks[start : start + CHUNK])
        if failed is not None and self._pool is self._verifier._pool:  # not restarted since
            self._verifier._broken(failed)
        return [index for start in sorted(out) for index in out[start]]
