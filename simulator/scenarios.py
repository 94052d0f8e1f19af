"""Scenario scripts: lists of actions the simulated UI plays (JSON lines on the device).

An action is {"at": seconds after start, "do": <action>, ...}:
- {"do": "signin", "worker": "w-001", "pin": "1234"} / {"do": "signout"}
- {"do": "report", "category": "garbage", "text": "...", "photos": 1, "photo_bytes": 200000,
   "audio_s": 5, "video_s": 10, "one_key": false}   ("photo_bytes" may be a list, one size per
   photo; "video_s": a WebM clip cut from simulator/clips/source.webm)
- {"do": "one_key", ...}                 (a report with one_key true)
- {"do": "verify", "case_id": "...", "result": "confirm" | "reject", "text": "..."}
- {"do": "task", "task_id": "...", "step": "accept" | "progress" | "close", "text": "..."}
- {"do": "visit", "place": {"kind": "household" | "place", "ref": "<house code / place>"},
   "purpose": "follow_up", "outcome": "met", "text": "..."}   (入户走访; signed in only)
- {"do": "collect", "form": "resident" | "house" | "organisation", "record": {...}}
   (入户采集: the form's fields, docs/basedata.md; signed in only)
- {"do": "track"} (flush the patrol track now), {"do": "wait", "s": 2}, {"do": "end"}
- {"do": "burst", "n": 2000, "every_ms": 10}   (n small track events, one fix each, every_ms
   apart: emit() does not yield, the pause lets the upload keep pace)
Answers to prompts raised by hub commands (tasks, verification requests) come from the
device's "answers" config: {"task": ["accept", "close", "ignore", ...] | "close",
"verify": "confirm" | [...]}.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from protocol import pin as pin_mod

CATEGORIES = [
    "garbage",  # 垃圾堆放
    "road_damage",  # 道路破损
    "illegal_parking",  # 违章停车
    "facility_broken",  # 设施损坏
    "safety_hazard",  # 安全隐患
    "dispute",  # 矛盾纠纷
    "other",  # 其他
]

DEFAULT_WORKER = ("w-001", "1234")

# a short walk around a block in Hangzhou (micro-degrees)
DEFAULT_ROUTE = [
    [30274100, 120155100],
    [30274900, 120155100],
    [30274900, 120156300],
    [30274100, 120156300],
]


def pin_record(pin: str, iterations: int = pin_mod.ITERATIONS) -> list[str | int]:
    """A worker's PIN record as the hub makes it (protocol/pin.py: [salt_hex, iterations,
    PBKDF2-HMAC-SHA256 hex], a fresh random salt), for a handheld's config "workers"."""
    salt = os.urandom(pin_mod.SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return [salt.hex(), iterations, digest.hex()]


def patrol(
    reports: int = 2,
    every_s: float = 2.0,
    photo_bytes: int = 60_000,
    photos: int = 1,
    audio_s: float = 2,
    worker: tuple[str, str] = DEFAULT_WORKER,
    text: str = "路边垃圾堆放，请尽快清理 (garbage by the road)",
    end: bool = True,
) -> list[dict]:
    """Sign in, walk (the patrol track runs by itself), report every `every_s`, sign out."""
    acts: list[dict] = [{"at": 0, "do": "signin", "worker": worker[0], "pin": worker[1]}]
    for i in range(reports):
        acts.append(
            {
                "at": round(every_s * (i + 1), 3),
                "do": "report",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "text": f"{text} #{i + 1}",
                "photos": photos,
                "photo_bytes": photo_bytes,
                "audio_s": audio_s,
                "one_key": i == 0,
            }
        )
    t = round(every_s * (reports + 1), 3)
    acts.append({"at": t, "do": "track"})
    acts.append({"at": t, "do": "signout"})
    if end:
        acts.append({"at": t, "do": "end"})
    return acts


def big_report(photo_bytes: int = 2 * 1024 * 1024, audio_s: float = 20) -> list[dict]:
    """The issue's headline case: one report with a large photo, a long clip, Chinese text."""
    w, p = DEFAULT_WORKER
    return [
        {"at": 0, "do": "signin", "worker": w, "pin": p},
        {
            "at": 0,
            "do": "report",
            "category": "safety_hazard",
            "text": "井盖缺失，行人有坠落危险，已设置临时警示。Manhole cover missing.",
            "photos": 1,
            "photo_bytes": photo_bytes,
            "audio_s": audio_s,
        },
        {"at": 0, "do": "end"},
    ]


def video_report(video_s: int = 10, photo_bytes: int = 60_000) -> list[dict]:
    """One report with a photo and a ``video_s`` video clip (issue 16's short video)."""
    w, p = DEFAULT_WORKER
    return [
        {"at": 0, "do": "signin", "worker": w, "pin": p},
        {
            "at": 0,
            "do": "report",
            "category": "illegal_parking",
            "text": "消防通道被占用，已录像取证。Fire lane blocked, recorded on video.",
            "photos": 1,
            "photo_bytes": photo_bytes,
            "video_s": video_s,
        },
        {"at": 0, "do": "end"},
    ]


def idle(seconds: float = 3600) -> list[dict]:
    """Signed in and waiting for hub commands (tasks, verification requests)."""
    w, p = DEFAULT_WORKER
    return [{"at": 0, "do": "signin", "worker": w, "pin": p}, {"at": seconds, "do": "end"}]


def stream(events: int = 2000, every_ms: int = 10) -> list[dict]:
    """``events`` events as fast as the device signs them: the sign-in (seq 1), then small
    track events ``every_ms`` apart (the delivery tests' stream; with heartbeat and patrol
    track off the device emits exactly seq 1..events)."""
    w, p = DEFAULT_WORKER
    return [
        {"at": 0, "do": "signin", "worker": w, "pin": p},
        {"at": 0, "do": "burst", "n": events - 1, "every_ms": every_ms},
        {"at": 0, "do": "end"},
    ]


def door_to_door(
    house: dict,
    residents: list[dict],
    worker: tuple[str, str] = DEFAULT_WORKER,
    every_s: float = 0.5,
    outcome: str = "met",
) -> list[dict]:
    """Sign in, collect the house, visit it, collect each resident, sign out (入户采集)."""
    acts: list[dict] = [{"at": 0, "do": "signin", "worker": worker[0], "pin": worker[1]}]
    steps: list[dict] = [{"do": "collect", "form": "house", "record": house}]
    place = {"kind": "household", "ref": house["house_code"]}
    text = "入户采集 door-to-door"
    steps.append({"do": "visit", "place": place, "purpose": "collect", "outcome": outcome,
                  "text": text})  # fmt: skip
    steps += [{"do": "collect", "form": "resident", "record": r} for r in residents]
    for i, step in enumerate(steps):
        acts.append({"at": round(every_s * (i + 1), 3), **step})
    t = round(every_s * (len(steps) + 1), 3)
    acts += [{"at": t, "do": "signout"}, {"at": t, "do": "end"}]
    return acts


SCENARIOS = {"patrol": patrol, "big_report": big_report, "idle": idle, "stream": stream}  # handheld


def write_jsonl(actions: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in actions), encoding="utf-8"
    )
    return path


# --- gates (docs/access.md): a compound's lists and a morning rush ---------------------------

COMMUNITY = "330102001001"
RUSH_NOW = 1764547200  # 2025-12-01T00:00Z: list windows are set around the run's real time


def pin_digest(pin: str) -> str:
    """What a gate list's `pins` / `duress` hold: sha256("pin:<pin>") hex (firmware gate.py)."""
    return hashlib.sha256(f"pin:{pin}".encode()).hexdigest()


def community(
    seed: int = 1, residents: int = 200, vehicles: int = 40, now: int | None = None
) -> dict:
    """A compound's list and faces, deterministic from `seed`: residents (card, PIN, face
    template), expired visitors, blacklisted people and vehicles. Returns {"entries": full
    list_sync puts, "templates": {template: person} (enrolled on the face terminal),
    "people": {person: similarity}, "groups": {"ok" | "expired" | "black": [person ids]},
    "plates": {"ok" | "black": [plates]}}."""
    import random
    import time

    rnd = random.Random(seed)
    now = int(time.time()) if now is None else now
    entries: list[dict] = []
    templates: dict[str, str] = {}
    people: dict[str, int] = {}
    groups: dict[str, list[str]] = {"ok": [], "expired": [], "black": []}
    for i in range(residents):
        pid = f"p-{i + 1:04d}"
        kind = "expired" if i % 17 == 5 else "black" if i % 29 == 7 else "ok"
        t = f"t-{i + 1:04d}"
        templates[t] = pid
        people[pid] = rnd.randint(86, 99)
        groups[kind].append(pid)
        entries.append({
            "op": "put", "t": "person", "id": pid,
            "kind": "visitor" if kind == "expired" else "resident",
            "from": 0, "to": now - 86400 if kind == "expired" else None,
            "doors": ["*"], "sched": None, "black": kind == "black",
            "cards": [f"04{i + 1:06X}"], "qr": [], "pins": [pin_digest(f"{1000 + i}")],
            "duress": [], "face": t,
        })  # fmt: skip
    plates: dict[str, list[str]] = {"ok": [], "black": []}
    owners = groups["ok"]
    for i in range(vehicles):
        plate = f"浙A{10000 + i * 7:05d}"
        black = i % 13 == 4
        plates["black" if black else "ok"].append(plate)
        entries.append({"op": "put", "t": "vehicle", "plate": plate,
                        "person": owners[i % len(owners)], "from": 0, "to": None,
                        "doors": ["*"], "black": black})  # fmt: skip
    return {"entries": entries, "templates": templates, "people": people, "groups": groups,
            "plates": plates}  # fmt: skip


def _pid_card(pid: str) -> str:
    return f"04{int(pid[2:]):06X}"


def morning_rush(
    comm: dict,
    kind: str = "face",
    events: int = 300,
    duration_s: float = 180,
    seed: int = 1,
    door: str = "d1",
) -> tuple[list[dict], list[tuple[str, str | None, str | None]]]:
    """A rush at one gate: `events` reads spread over `duration_s` (face and card at a face
    terminal, card and PIN at an access controller, plates at a barrier), each followed by
    the passage of whoever was let in. Returns (actions ending with "end", expected) where
    expected[i] is (ev, reason, person) for the i-th decision against `comm`'s list."""  # fmt: skip
    import random

    rnd = random.Random(seed * 7919 + len(kind))
    acts: list[dict] = []
    want: list[tuple[str, str | None, str | None]] = []
    g = comm["groups"]
    step = duration_s / max(1, events)
    for i in range(events):
        at = round(i * step, 3)
        r = rnd.random()
        if kind == "barrier":
            if r < 0.8:
                plate, res = rnd.choice(comm["plates"]["ok"]), ("granted", None)
            elif r < 0.9:
                plate, res = rnd.choice(comm["plates"]["black"]), ("denied", "blacklist")
            else:
                plate, res = f"浙Z{rnd.randint(10000, 99999)}", ("denied", "unknown")
            acts.append(
                {"at": at, "do": "plate", "plate": plate, "conf": rnd.randint(90, 99), "door": door}
            )
            want.append((res[0], res[1], None))
        else:
            pid = rnd.choice(g["ok"])
            if r < 0.75:
                res = ("granted", None, pid)
            elif r < 0.85:
                pid = rnd.choice(g["expired"])
                res = ("denied", "expired", pid)
            elif r < 0.9:
                pid = rnd.choice(g["black"])
                res = ("denied", "blacklist", pid)
            else:
                pid = None
                res = ("denied", "unknown", None)
            if kind == "face" and r >= 0.3:
                who = pid or f"stranger-{rnd.randint(1, 40)}"
                acts.append({"at": at, "do": "face", "who": who, "door": door})
            elif pid is None:
                acts.append(
                    {
                        "at": at,
                        "do": "card",
                        "card": f"FF{rnd.randint(0, 1 << 24):06X}",
                        "door": door,
                    }
                )
            elif kind == "access" and r < 0.2:
                acts.append(
                    {"at": at, "do": "pin", "pin": f"{1000 + int(pid[2:]) - 1}", "door": door}
                )
            else:
                acts.append({"at": at, "do": "card", "card": _pid_card(pid), "door": door})
            want.append(res)
        if want[-1][0] == "granted":
            acts.append({"at": at, "do": "pass", "door": door, "n": 1, "s": 0.05})
    acts.append({"at": round(duration_s, 3), "do": "end"})
    return acts, want


_REASON = {"expired": "expired", "black": "blacklist"}


def compound_rush(
    comm: dict,
    kind: str,
    enrolled: list[str] | tuple[str, ...] = (),
    events: int = 150,
    duration_s: float = 75,
    seed: int = 1,
    door: str = "d1",
    start_s: float = 0,
    alarms: tuple[tuple[str, float], ...] = (),
    strangers: int = 8,
) -> tuple[list[dict], list[tuple[str, str | None, str | None]]]:
    """A rush at one gate of a compound whose face templates come from enrolment: face reads
    only of `enrolled` people (those whose list entry names a template) or of strangers, card
    and PIN (access, face) or plate and card (barrier) for everyone else. `alarms`: (action,
    fraction of the rush) pairs, action "force" (the door opened while locked), "help" or
    "tamper", each in a quiet window of 4 s either side (the relay is locked, the door shut).

    Returns (actions ending with "end", expected) where expected lists every event the gate
    records, in order, as (ev, reason, person): each decision against `comm`'s list, followed
    by the alarms it raises (blacklist_hit after a blacklist denial, stranger_repeated after
    every 3rd capture of one unknown face: the gate's default stranger_repeat, the rush far
    inside stranger_window_s), and the scripted alarms. People pass only after a grant."""
    import random

    rnd = random.Random(seed * 104729 + len(kind))
    g = comm["groups"]
    owner = {e["plate"]: e["person"] for e in comm["entries"] if e["t"] == "vehicle"}
    state = {pid: k for k, pids in g.items() for pid in pids}
    faces = [p for p in enrolled if p in state]
    seen: dict[str, int] = {}
    quiet = sorted((round(start_s + f * duration_s, 3), a) for a, f in alarms)
    acts: list[dict] = []
    want: list[tuple[str, str | None, str | None]] = []
    step = duration_s / max(1, events)

    def person(pid: str | None) -> tuple[str, str | None, str | None]:
        if pid is None:
            return ("denied", "unknown", None)
        k = state[pid]
        return ("granted", None, pid) if k == "ok" else ("denied", _REASON[k], pid)

    t = start_s
    for _ in range(events):
        while quiet and t >= quiet[0][0] - 4:
            at, what = quiet.pop(0)
            acts.append({"at": at, "do": what, "door": door, "s": 1} if what == "force"
                        else {"at": at, "do": what, "door": door})  # fmt: skip
            want.append(({"force": "door_forced"}.get(what, what), None, None))
            t = max(t, at + 4)
        at = round(t, 3)
        t += step
        r = rnd.random()
        pid: str | None
        pick = "ok" if r < 0.72 else "expired" if r < 0.82 else "black" if r < 0.9 else None
        if kind == "barrier" and rnd.random() < 0.85:
            if pick is None:
                plate = f"浙Z{rnd.randint(10000, 99999)}"
            else:
                plate = rnd.choice(comm["plates"]["black" if pick == "black" else "ok"])
            pid = owner.get(plate)
            acts.append({"at": at, "do": "plate", "plate": plate, "conf": rnd.randint(90, 99),
                         "door": door})  # fmt: skip
            ok = plate in owner
            res = ("denied", "unknown", None) if not ok else (
                ("denied", "blacklist", pid) if plate in comm["plates"]["black"]
                else ("granted", None, pid))  # fmt: skip
        elif kind == "face" and rnd.random() < 0.6:
            mine = [p for p in faces if pick is not None and state[p] == pick]
            if mine and rnd.random() < 0.8:
                pid = rnd.choice(mine)
                res = person(pid)
                acts.append({"at": at, "do": "face", "who": pid, "door": door})
            else:
                who = f"stranger-{rnd.randint(1, strangers)}"
                acts.append({"at": at, "do": "face", "who": who, "door": door})
                res = ("denied", "unknown", None)
                seen[who] = seen.get(who, 0) + 1
                if seen[who] >= 3:
                    del seen[who]
                    want.append(res)
                    res = ("stranger_repeated", None, None)
        else:
            pid = None if pick is None else rnd.choice(g[pick])
            if pid is None:
                acts.append({"at": at, "do": "card", "card": f"FF{rnd.randint(0, 1 << 24):06X}",
                             "door": door})  # fmt: skip
            elif kind != "barrier" and rnd.random() < 0.25:
                acts.append({"at": at, "do": "pin", "pin": f"{1000 + int(pid[2:]) - 1}",
                             "door": door})  # fmt: skip
            else:
                acts.append({"at": at, "do": "card", "card": _pid_card(pid), "door": door})
            res = person(pid)
        want.append(res)
        if res[0] == "granted":
            acts.append({"at": at, "do": "pass", "door": door, "n": 1, "s": 0.05})
        elif res[1] == "blacklist":
            want.append(("blacklist_hit", None, res[2]))
    for at, what in quiet:
        at = max(at, round(t, 3))
        acts.append({"at": at, "do": what, "door": door, "s": 1} if what == "force"
                    else {"at": at, "do": what, "door": door})  # fmt: skip
        want.append(({"force": "door_forced"}.get(what, what), None, None))
        t = at + 4
    acts.append({"at": round(max(t, start_s + duration_s), 3), "do": "end"})
    return acts, want
