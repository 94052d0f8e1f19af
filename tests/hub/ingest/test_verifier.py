"""Signature checks shared with a helper process (hub.ingest.verifier): the same verdicts as in
process, whatever happens to the helper."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
from collections.abc import Iterator

import pytest

from hub.ingest import verifier as verifier_module
from hub.ingest.verifier import REST_S, Check, Verifier, signers
from protocol import crypto
from tests.support.waiting import wait_until


def _key() -> tuple[bytes, bytes]:
    seed = crypto.new_seed()
    return seed, bytes(crypto.public_key(seed))


def _sign(seed: bytes, msg: bytes) -> bytes:
    return bytes(crypto.sign(seed, msg))


def test_signers_gives_the_index_of_the_key_that_verified() -> None:
    (s1, k1), (s2, k2), (s3, _k3) = _key(), _key(), _key()
    msg = b"gridlink envelope"
    by1, by2, by3 = _sign(s1, msg), _sign(s2, msg), _sign(s3, msg)
    checks: list[Check] = [
        (msg, by1, (k1, k2)),  # the current key
        (msg, by2, (k1, k2)),  # the previous key (within the overlap after a rotation)
        (msg, by3, (k1, k2)),  # neither
        (msg, by1, ()),  # an unknown device: no keys
        (b"other bytes", by1, (k1,)),  # the message was altered
        (msg, by1[:63], (k1,)),  # a short signature
        (msg, by1 + b"\x00", (k1,)),  # a long one
        (msg, by2, (k1[:31], k2)),  # a key of a bad length is skipped, not fatal
        (msg, by1, (k1 + b"\x00", k1)),
        (msg, by1, (b"\x00" * 32, k1)),  # 32 bytes that are no usable key
        (msg, by1, (k1, k1)),  # the first match wins
        (msg, bytes(64), (k1,)),
    ]
    assert signers(checks) == [0, 1, -1, -1, -1, -1, -1, 1, 1, 1, 0, -1]


def _mixed_batch(n: int, rng: random.Random) -> list[Check]:
    keys = [_key() for _ in range(6)]
    out: list[Check] = []
    for i in range(n):
        (s_cur, k_cur), (s_old, k_old), (s_x, _k) = rng.sample(keys, 3)
        msg = f"envelope {i}".encode()
        kind = rng.choice(["current", "previous", "forged", "tampered", "short", "nokey"])
        if kind == "current":
            out.append((msg, _sign(s_cur, msg), (k_cur, k_old)))
        elif kind == "previous":
            out.append((msg, _sign(s_old, msg), (k_cur, k_old)))
        elif kind == "forged":
            out.append((msg, _sign(s_x, msg), (k_cur, k_old)))
        elif kind == "tampered":
            out.append((msg + b"!", _sign(s_cur, msg), (k_cur,)))
        elif kind == "short":
            out.append((msg, _sign(s_cur, msg)[:40], (k_cur,)))
        else:
            out.append((msg, _sign(s_cur, msg), ()))
    return out


@pytest.fixture
def pooled() -> Iterator[Verifier]:
    v = Verifier(1)
    yield v
    v.close()


def _helper_pids(v: Verifier) -> list[int]:
    pool = v._pool
    assert pool is not None
    return list(pool._processes)  # type: ignore[attr-defined]  # the executor's own record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped) counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:  # gone between the two looks
        return False


def test_the_helper_gives_the_same_verdicts_as_in_process(pooled: Verifier) -> None:
    checks = _mixed_batch(200, random.Random(5))
    want = Verifier(0).signers(checks)
    assert set(want) == {-1, 0, 1}
    assert pooled.signers(checks) == want
    assert _helper_pids(pooled)  # it really went through the helper
    assert pooled.signers(checks[:7]) == want[:7]  # a small batch stays in process
    # an order the halves could confuse: the helper's half first, then this process's
    assert pooled.signers(checks[::-1]) == want[::-1]


def test_a_killed_helper_costs_speed_never_a_verdict(
    pooled: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    checks = _mixed_batch(120, random.Random(9))
    want = Verifier(0).signers(checks)
    assert pooled.signers(checks) == want
    (pid,) = _helper_pids(pooled)
    os.kill(pid, signal.SIGKILL)
    wait_until("the helper dead", lambda: not _alive(pid))
    caplog.set_level(logging.WARNING, logger="hub.ingest.verifier")
    assert pooled.signers(checks) == want
    warnings = [r for r in caplog.records if "signature helper process failed" in r.getMessage()]
    assert len(warnings) == 1
    assert pooled._pool is None  # resting: checked here, no new helper yet
    assert pooled.signers(checks) == want
    assert pooled._pool is None
    # the rest is over: a new helper starts and answers as before
    assert pooled._resting_until > verifier_module.time.monotonic() + REST_S - 5
    pooled._resting_until = 0.0
    assert pooled.signers(checks) == want
    (new_pid,) = _helper_pids(pooled)
    assert new_pid != pid and _alive(new_pid)


def test_a_helper_killed_while_it_works(
    pooled: Verifier, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper dies with its share of the batch in hand: that share is checked here."""
    checks = _mixed_batch(4000, random.Random(3))
    want = Verifier(0).signers(checks)
    pooled.warm()
    wait_until("the helper started", lambda: pooled._pool is not None and _helper_pids(pooled))
    (pid,) = _helper_pids(pooled)
    real = verifier_module.signers
    done: list[int] = []

    def kill_then_check(part: list[Check]) -> list[int]:
        if not done:  # this process's half: the helper is busy with its own by now
            done.append(1)
            os.kill(pid, signal.SIGKILL)
        return real(part)

    # pickled by name for the helper, which imports the real one; this process calls this one
    kill_then_check.__module__, kill_then_check.__qualname__ = real.__module__, real.__qualname__
    monkeypatch.setattr(verifier_module, "signers", kill_then_check)
    caplog.set_level(logging.WARNING, logger="hub.ingest.verifier")
    assert pooled.signers(checks) == want
    assert done and not _alive(pid)
    assert any("signature helper process failed" in r.getMessage() for r in caplog.records)


def test_close_leaves_no_child_process() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    v = Verifier(2)
    checks = _mixed_batch(64, random.Random(1))
    assert v.signers(checks) == Verifier(0).signers(checks)
    pids = _helper_pids(v)
    assert len(pids) == 2
    v.close()
    assert v._pool is None
    assert not any(_alive(pid) for pid in pids)
    assert {p.pid for p in multiprocessing.active_children()} <= before
    v.close()  # twice is fine


def test_after_a_helper_dies_no_other_is_left_behind() -> None:
    v = Verifier(2)
    try:
        checks = _mixed_batch(64, random.Random(2))
        want = Verifier(0).signers(checks)
        assert v.signers(checks) == want
        first, second = _helper_pids(v)
        os.kill(first, signal.SIGKILL)
        assert v.signers(checks) == want
        wait_until("the broken pool's other helper ended", lambda: not _alive(second))
    finally:
        v.close()


# -- submit: the checks under way while the caller does other work (the pipelined worker) ----


def test_submitted_checks_give_the_same_verdicts_in_order(pooled: Verifier) -> None:
    checks = _mixed_batch(300, random.Random(11))  # ten chunks: most fed by done-callbacks
    want = Verifier(0).signers(checks)
    pending = pooled.submit(checks)
    wait_until("every chunk sent", lambda: not pending._unsent, timeout=30)
    assert pending.result() == want
    assert _helper_pids(pooled)
    assert pooled.submit(checks[:5]).result() == want[:5]  # small: checked here, no task
    assert Verifier(0).submit(checks).result() == want  # no helper at all
    assert pooled.submit([]).result() == []


def test_result_at_once_checks_the_unsent_chunks_here(pooled: Verifier) -> None:
    checks = _mixed_batch(600, random.Random(12))
    want = Verifier(0).signers(checks)
    pending = pooled.submit(checks)
    assert pending.result() == want  # taken back at once: most chunks never left
    assert pending._sent and len(pending._sent) < len(checks) // verifier_module.CHUNK


def test_a_helper_killed_under_submitted_checks_costs_no_verdict(
    pooled: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    checks = _mixed_batch(400, random.Random(13))
    want = Verifier(0).signers(checks)
    assert pooled.submit(checks).result() == want
    (pid,) = _helper_pids(pooled)
    os.kill(pid, signal.SIGKILL)
    wait_until("the helper dead", lambda: not _alive(pid))
    caplog.set_level(logging.WARNING, logger="hub.ingest.verifier")
    assert pooled.submit(checks).result() == want
    assert any("signature helper process failed" in r.getMessage() for r in caplog.records)
    assert pooled._pool is None  # resting
    assert pooled.submit(checks).result() == want


def test_checks_cancelled_by_a_restart_of_the_helper_are_made_here(pooled: Verifier) -> None:
    """The worker holds two batches' checks at once: when the helper is given up for one of
    them, the other's queued tasks are cancelled with the pool; they are checked here."""
    checks = _mixed_batch(320, random.Random(14))
    want = Verifier(0).signers(checks)
    pooled.warm()
    wait_until("the helper started", lambda: pooled._pool is not None and _helper_pids(pooled))
    first, second = pooled.submit(checks), pooled.submit(checks[::-1])
    pooled._broken(RuntimeError("given up for another batch"))  # cancels what is queued
    assert first.result() == want
    assert second.result() == want[::-1]
    assert pooled._pool is None
