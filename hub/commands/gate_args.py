"""What the arguments of each gate command must look like (docs/access.md section 4), checked
when the command is queued, so an operator's mistake is one clear error instead of a command
the gate acks ``failed``."""

from __future__ import annotations

import re
from typing import Any

from hub.errors import InvalidInputError

DOOR_MODES = ("normal", "always_open", "always_locked")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
OPEN_MS = (100, 60_000)


def _door(args: dict[str, Any], op: str) -> None:
    door = args.get("door")
    if not isinstance(door, str) or not _ID.match(door):
        raise InvalidInputError(
            f"{op}: args.door must be a door id (1-32 letters, digits, _ . : -)", code="bad_args"
        )


def _only(args: dict[str, Any], op: str, allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise InvalidInputError(f"{op}: unknown args {', '.join(extra)}", code="bad_args")


def check(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """The checked args of a gate command (``InvalidInputError`` naming the problem)."""
    if op == "open":
        _only(args, op, {"door", "ms"})
        _door(args, op)
        ms = args.get("ms", 3000)
        lo, hi = OPEN_MS
        if not isinstance(ms, int) or isinstance(ms, bool) or not lo <= ms <= hi:
            raise InvalidInputError(f"open: args.ms must be an integer {lo}..{hi}", code="bad_args")
        return {"door": args["door"], "ms": ms}
    if op == "door_mode":
        _only(args, op, {"door", "mode"})
        _door(args, op)
        if args.get("mode") not in DOOR_MODES:
            raise InvalidInputError(
                f"door_mode: args.mode must be one of {', '.join(DOOR_MODES)}", code="bad_args"
            )
        return dict(args)
    if op == "time_sync":
        _only(args, op, set())
        return {}  # the hub's time is put in when the command is signed
    if op == "enrol":  # the template id is the hub's (hub.access.faces.prepare_enrolment)
        _only(args, op, {"person"})
        person = args.get("person")
        if not isinstance(person, str) or not _ID.match(person):
            raise InvalidInputError("enrol: args.person must be a person id", code="bad_args")
        return dict(args)
    return args
