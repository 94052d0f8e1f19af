"""Scenario scripts: lists of actions the simulated UI plays (JSON lines on the device).

An action is {"at": seconds after start, "do": <action>, ...}:
- {"do": "signin", "worker": "w-001", "pin": "1234"} / {"do": "signout"}
- {"do": "report", "category": "garbage", "text": "...", "photos": 1, "photo_bytes": 200000,
   "audio_s": 5, "one_key": false}       ("photo_bytes" may be a list, one size per photo)
- {"do": "one_key", ...}                 (a report with one_key true)
- {"do": "verify", "case_id": "...", "result": "confirm" | "reject", "text": "..."}
- {"do": "task", "task_id": "...", "step": "accept" | "progress" | "close", "text": "..."}
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
from pathlib import Path

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


def pin_hash(worker: str, pin: str) -> str:
    """The same hash as apps.handheld.pin_hash: sha256("<worker>:<pin>") hex."""
    return hashlib.sha256(f"{worker}:{pin}".encode()).hexdigest()


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


SCENARIOS = {"patrol": patrol, "big_report": big_report, "idle": idle, "stream": stream}


def write_jsonl(actions: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in actions), encoding="utf-8"
    )
    return path
