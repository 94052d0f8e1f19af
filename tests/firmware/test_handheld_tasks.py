"""A task on the handheld's screen (apps/handheld/tasks.py, ``Tasks.on_task``): its title, text,
location in degrees and deadline in local time with what is left of it, on MicroPython at the
handheld's 192K heap and on CPython. The handheld around the module is a stand-in (the module's
own unit test); the whole path runs in tests/hil/test_field_tasks.py."""

from __future__ import annotations

import json

SCRIPT = """
import asyncio, json, sys
from apps.handheld.tasks import Tasks

class State:
    def __init__(self):
        self.d = {}
    def get(self, k, default=None):
        return self.d.get(k, default)
    def set(self, k, v):
        self.d[k] = v
    def save(self):
        pass

class Clock:
    def __init__(self, now):
        self.now = now
    def time(self):
        return self.now

class Device:
    def __init__(self, now, tz):
        self.state, self.clock, self.tz = State(), Clock(now), tz
    def opt(self, key):
        return self.tz if key == "tz_offset_s" else None

class UI:
    def __init__(self):
        self.lines = []
    def show(self, text):
        self.lines.append(text)

class Handheld:
    def __init__(self, now, tz):
        self.device, self.ui, self.prompts = Device(now, tz), UI(), []
    def prompt(self, kind, item):
        self.prompts.append(kind)

async def main(now, tz, tasks):
    for args in tasks:
        hh = Handheld(now, tz)
        got = await Tasks(hh).on_task({"id": "c-1", "op": "task", "args": args})
        print(json.dumps({"detail": got, "screen": hh.ui.lines, "prompts": hh.prompts}))

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), json.loads(TASKS)))
"""

NOW = 1_767_574_800  # Monday 5 January 2026, 01:00 UTC (09:00 at UTC+8)
BASE = {"task_id": "ft-1", "case_id": 7, "title": "东门核查", "text": "请拍照核实"}


def _screens(run_fw, tasks: list[dict]) -> list[dict]:  # type: ignore[no-untyped-def]
    # in the script's text: the unix port fails on a command-line argument of a few hundred bytes
    script = SCRIPT.replace("json.loads(TASKS)", f"json.loads({json.dumps(tasks)!r})")
    out = run_fw(script, NOW, 8 * 3600)
    return [json.loads(line) for line in out.strip().splitlines()]


def test_the_worker_sees_the_tasks_place_and_deadline(run_fw) -> None:  # type: ignore[no-untyped-def]
    tasks = [
        {
            **BASE,
            "loc": {"lat_e6": 30_251_000, "lon_e6": 120_171_000},
            "deadline": NOW + 8 * 3600 + 30 * 60,
        },
        {
            **BASE,
            "loc": {"lat_e6": -33_868_820, "lon_e6": 151_209_296},
            "deadline": NOW + 2 * 86400 + 3 * 3600,
        },
        {**BASE, "loc": None, "deadline": NOW - 60},
        {**BASE, "loc": {"lat_e6": "30.25"}, "deadline": "tomorrow"},  # not ints: not shown
    ]
    first, second, past, odd = _screens(run_fw, tasks)
    assert first == {
        "detail": "delivered",
        "prompts": ["task"],
        "screen": [
            "new task ft-1: 东门核查",
            "请拍照核实",
            "at 30.251000, 120.171000",
            "due 01-05 17:30, in 8h30m",
        ],
    }
    assert second["screen"][2:] == ["at -33.868820, 151.209296", "due 01-07 12:00, in 2d03h"]
    assert past["screen"][2:] == ["due 01-05 08:59, overdue"]
    assert odd["screen"][2:] == []
