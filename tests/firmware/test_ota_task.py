"""The OTA task inside Device on MicroPython (a fake link, real flash files): an emit that
raises leaves no job behind and the task's death is seen (review #3), no `ota` command,
probation or swap while boot.json already names the other slot (review #4), a hub refusal
of another request ignored (review #5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.firmware.scripts import DEVICE, WAIT_UNTIL

OPS = "11" * 32
TRIAL = {"prev": "a", "prev_version": "0.1.0", "rollout": "r-1", "manifest": "ab" * 32,
         "boots": 1, "deadline_s": 180}  # fmt: skip

SCRIPT = (
    DEVICE
    + WAIT_UNTIL
    + """
from compat import exists
root = cfg["flash"]
fw = root + "/fw"
boot = json.load(open(fw + "/info.json"))  # what the loader passed to main.main
def ota_events(d):
    out = []
    for rec in d.outbox.iter():
        env = envelope.parse(rec[2])
        if env["kind"] == "ota":
            out.append(env["body"]["state"])
    return out
def ota_cmd(d, manifest):
    args = {"rollout": "r-2", "manifest": manifest, "version": "0.3.0", "size": 300}
    return {"args": args, "exp": h.clock.time() + 600}
async def failing_emit(kind, body, media=(), extra=None, hist=None):
    raise OSError(28)  # ENOSPC: the flash is full
async def ack(d, manifest):
    try:
        return await d._cmd_ota(ota_cmd(d, manifest))
    except Exception as e:
        return getattr(e, "detail", repr(e))
def boot_json():
    return json.load(open(fw + "/boot.json"))
async def main():
    what = sys.argv[2]
    if what == "trial_emit_raises":
        real = Device._emit
        def no_ota(self, kind, *a, **kw):
            if kind == "ota":
                raise OSError(28)  # ENOSPC: "updated" cannot be written
            return real(self, kind, *a, **kw)
        Device._emit = no_ota
        try:
            Device(cfg, h, root, link_factory=FakeLink, boot=boot)
            print("INIT ok")
        except OSError as e:
            print("INIT raised", e)  # main() ends: the loader rolls the trial back
        return
    d = Device(cfg, h, root, link_factory=FakeLink, boot=boot)
    if what == "trial":
        print("RESIDENT", [m for m in ("trial", "ota", "otacmd", "protocol.bundle")
                           if m in sys.modules])
        print("EVENTS", ota_events(d), "JOB", exists(fw + "/job.json"))
        seq, t0, ms = d._trial
        h.clock.offset_s += 10 ** 6  # a time_sync moves the wall clock 11 days on
        await asyncio.sleep(0.05)
        r = await d.supervise()
        print("JUMP", r, boot_json()["trial"] is not None, boot_json()["rolled_back"])
        if sys.argv[3] == "confirm":
            d.uploader.hub_seq = seq  # a verified receipt covers "updated"
        else:
            d._trial = (seq, t0, 10)  # the deadline: 10 ms after the start
        r = await d.supervise()
        b = boot_json()
        print("END", r, d._trial, b["slot"], b["trial"], b["rolled_back"],
              "trial" in sys.modules)
        print("NEXT", await ack(d, "cd" * 32))
    elif what == "emit_raises":
        d.emit = failing_emit
        d._ota_task = asyncio.create_task(d._run_ota())
        await wait_until(lambda: d.ota is None)
        print("JOB", exists(fw + "/job.json"), "STAGE", exists(fw + "/stage"))
        try:
            await d.supervise()
            print("SUPERVISE ok")
        except OSError as e:
            print("SUPERVISE raised", e)
        del d.emit
        print("NEXT", await ack(d, "cd" * 32))
    elif what == "other_slot":
        print("ACK", await ack(d, "cd" * 32))
        await wait_until(lambda: d._ota_task is None and d.ota is None)
        print("EVENTS", ota_events(d), "TRIAL", json.load(open(fw + "/boot.json"))["trial"])
    elif what == "late_refusal":
        from protocol import bundle
        from fetch import Fetch
        o = Fetch(d, None)  # the download (lib/fetch.py), live or in the update mode
        o._want = ("ab" * 32, 3)  # the request this job waits for
        for sha, i in (("cd" * 32, 3), ("ab" * 32, 2), ("ab" * 32, 3)):
            o.on_reply(bundle.fetch_error(sha, i, "not_offered"))
            print("REFUSAL", sha[:2], i, o._got.is_set(), o._reply and o._reply.reason)
    elif what == "reboot_pending":
        d._reboot = True
        a = await ack(d, "cd" * 32)
        await wait_until(lambda: d.ota is None)  # the module forgotten again
        print("ACK", a, "JOB", exists(fw + "/job.json"))
asyncio.run(main())
"""
)


def _flash(tmp: Path, rec: dict, info: dict, job: dict | None = None) -> None:
    fw = tmp / "flash" / "fw"
    fw.mkdir(parents=True)
    (fw / "boot.json").write_text(json.dumps(rec))
    (fw / "info.json").write_text(json.dumps(dict(info, root=str(tmp / "flash"))))
    if job is not None:
        (fw / "job.json").write_text(json.dumps(job))
        (fw / "stage").mkdir()


A = {"slot": "a", "version": "0.1.0", "trial": None, "rolled_back": None}


def test_an_emit_that_raises_leaves_no_job_and_the_next_command_is_taken(
    run_mpy, dev_cfg, tmp_path
) -> None:
    # the job expired: Failed; the "failed" event cannot be written (flash full)
    job = {"rollout": "r-1", "manifest": "ab" * 32, "version": "0.2.0", "size": 300,
           "cs": 4096, "exp": 1}  # fmt: skip
    _flash(tmp_path, A, A, job)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS), "emit_raises", heapsize="4M")
    assert "JOB False STAGE False" in out, out
    assert "SUPERVISE ok" in out, out  # not on trial: logged, the device keeps running
    assert "NEXT accepted" in out, out  # not answered "busy" for ever


B = {"slot": "b", "version": "0.2.0", "trial": TRIAL, "rolled_back": None}
JOB = {"rollout": "r-1", "manifest": "ab" * 32, "version": "0.2.0", "size": 300, "cs": 4096,
       "exp": 1}  # fmt: skip


def test_a_trial_whose_updated_event_cannot_be_written_stops_the_start(
    run_mpy, dev_cfg, tmp_path
) -> None:
    _flash(tmp_path, B, B)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS), "trial_emit_raises", heapsize="4M")
    assert "INIT raised 28" in out, out  # main() ends: the loader rolls the trial back


@pytest.mark.parametrize("mode", ["reboot", "live"])
def test_a_trial_commits_on_the_receipt_and_a_clock_jump_never_ends_it(
    run_mpy, dev_cfg, tmp_path, mode: str
) -> None:
    # review #6: the deadline is on the tick counter; lib/trial.py is not resident, nor
    # lib/ota.py; the job.json the swap committed is dropped; no `ota` while on trial
    _flash(tmp_path, B, B, JOB)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS, ota_mode=mode), "trial", "confirm",
                  heapsize="4M")  # fmt: skip
    assert "RESIDENT []" in out, out
    assert "EVENTS ['updated'] JOB False" in out, out
    assert "JUMP False True None" in out, out  # not rolled back by the wall clock's jump
    assert "END False None b None None False" in out, out  # committed, b stays
    assert "NEXT accepted" in out, out  # 0.3.0 is taken once 0.2.0 is confirmed


def test_a_trial_not_confirmed_in_time_rolls_back(run_mpy, dev_cfg, tmp_path) -> None:
    _flash(tmp_path, B, B)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS, ota_mode="reboot"), "trial", "deadline",
                  heapsize="4M")  # fmt: skip
    assert "JUMP False True None" in out, out
    assert "END True None a None {" in out, out  # boot.json names slot a again
    assert "'reason': 'no_report'" in out and "'version': '0.2.0'" in out, out
    assert "NEXT busy" in out, out  # the reset back to slot a is pending


def test_no_probation_in_the_firmware_a_swap_replaced(run_mpy, dev_cfg, tmp_path) -> None:
    # after a swap boot.json boots b on trial; this firmware (booted from a) waits for its
    # reset: a command in that window is refused and "updated" is never reported from here
    rec = {"slot": "b", "version": "0.2.0", "trial": TRIAL, "rolled_back": None}
    _flash(tmp_path, rec, A)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS), "other_slot", heapsize="4M")
    assert "ACK busy" in out, out
    assert "EVENTS [] TRIAL" in out and "'boots': 1" in out, out


def test_no_ota_command_while_a_reboot_is_pending(run_mpy, dev_cfg, tmp_path) -> None:
    _flash(tmp_path, A, A)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS), "reboot_pending", heapsize="4M")
    assert "ACK busy JOB False" in out, out


def test_a_refusal_of_another_request_is_ignored(run_mpy, dev_cfg, tmp_path) -> None:
    # review #5: an earlier job's late refusal must not fail the current one
    _flash(tmp_path, A, A)
    out = run_mpy(SCRIPT, dev_cfg(ops_key=OPS), "late_refusal", heapsize="4M")
    assert "REFUSAL cd 3 False None" in out and "REFUSAL ab 2 False None" in out, out
    assert "REFUSAL ab 3 True hub_not_offered" in out, out
