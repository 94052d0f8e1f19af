"""Gates against the real hub: a compound's list put through the hub's access API (so the
gates get it by the hub's own list sync), face enrolment with recorded consent, and reading
the access log back.

    load_list(hub, community, entries)   # scenarios.community(...)["entries"] -> the hub
    wait_list(hub, community, dev_ids, version)  # each gate reports that version
    enrol(hub, community, face_id, people)       # consent, then `enrol` on the face terminal
    log = access_log(hub, community=...)         # stored access events, (device, seq, idx) order
    rows = gate_log(hub, community, dev_id)      # one gate's rows, in (seq, idx) order
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.support.hub import Hub
from tests.support.waiting import wait_until

ACCESS = "/api/v1/access"


def _ok(resp: Any, what: str) -> Any:
    assert resp.status_code in (200, 201), f"{what}: {resp.status_code} {resp.text}"
    return resp.json()


def put_person(hub: Hub, community: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A list entry of type person (docs/access.md section 2) through the API (its ``face``
    comes only from an enrolment, never from here)."""
    body = {
        "kind": entry.get("kind", "resident"),
        "valid_from": entry.get("from", 0),
        "valid_to": entry.get("to"),
        "doors": entry.get("doors", ["*"]),
        "schedule": entry.get("sched"),
        "black": entry.get("black", False),
        "cards": entry.get("cards", []),
        "qr": entry.get("qr", []),
        "pins": entry.get("pins", []),
        "duress": entry.get("duress", []),
    }
    resp = hub.api.put(f"{ACCESS}/communities/{community}/people/{entry['id']}", json=body)
    return _ok(resp, f"person {entry['id']}")


def put_vehicle(hub: Hub, community: str, entry: dict[str, Any]) -> dict[str, Any]:
    body = {
        "person": entry.get("person"),
        "valid_from": entry.get("from", 0),
        "valid_to": entry.get("to"),
        "doors": entry.get("doors", ["*"]),
        "black": entry.get("black", False),
    }
    resp = hub.api.put(
        f"{ACCESS}/communities/{community}/vehicles/{quote(entry['plate'])}", json=body
    )
    return _ok(resp, f"vehicle {entry['plate']}")


def load_list(hub: Hub, community: str, entries: list[dict[str, Any]]) -> int:
    """Put every person / vehicle entry; returns the community's list version after."""
    for entry in entries:
        if entry.get("t") == "person":
            put_person(hub, community, entry)
        elif entry.get("t") == "vehicle":
            put_vehicle(hub, community, entry)
        else:
            raise ValueError(f"entry type {entry.get('t')!r}")
    return list_version(hub, community)


def list_status(hub: Hub, community: str) -> dict[str, Any]:
    return hub.get(f"{ACCESS}/communities/{community}/lists")


def list_version(hub: Hub, community: str) -> int:
    return int(list_status(hub, community)["version"])


def consent(hub: Hub, community: str, person: str, purpose: str = "gate access") -> dict:
    resp = hub.api.post(
        f"{ACCESS}/communities/{community}/people/{person}/consents", json={"purpose": purpose}
    )
    return _ok(resp, f"consent of {person}")


def withdraw(hub: Hub, community: str, person: str) -> dict:
    resp = hub.api.post(f"{ACCESS}/communities/{community}/people/{person}/consents/withdraw")
    return _ok(resp, f"withdrawal of {person}")


def person(hub: Hub, community: str, person_id: str) -> dict[str, Any]:
    return hub.get(f"{ACCESS}/communities/{community}/people/{person_id}")


def access_log(hub: Hub, **filters: object) -> list[dict[str, Any]]:
    """Every access-log row matching ``filters`` (the search API's parameters), oldest first."""
    out: list[dict[str, Any]] = []
    while True:
        page = hub.get(f"{ACCESS}/log", limit=500, offset=len(out), **filters)
        items = page["items"]
        out += items
        if len(items) < 500:
            return sorted(out, key=lambda r: (r["device_id"], r["seq"], r["idx"]))


def gate_log(hub: Hub, community: str, device_id: str) -> list[dict[str, Any]]:
    """One gate's access-log rows in (seq, idx) order (the search API has no device filter)."""
    return [r for r in access_log(hub, community=community) if r["device_id"] == device_id]


def reported(hub: Hub, community: str) -> dict[str, int | None]:
    """device id -> the list version the gate last reported (None: never)."""
    return {d["device_id"]: d["version"] for d in list_status(hub, community)["devices"]}


def wait_list(
    hub: Hub, community: str, device_ids: list[str], version: int, timeout: float = 120
) -> None:
    """Until every gate of ``device_ids`` reports ``version`` (birth, heartbeat or the ack of
    a sync's last part): the hub's own list sync brought it there."""
    wait_until(
        f"gates {', '.join(device_ids)} at list version {version}",
        lambda: all(reported(hub, community).get(d) == version for d in device_ids),
        timeout,
        interval=0.25,
        detail=lambda: reported(hub, community),
    )


def enrol(
    hub: Hub, community: str, face_id: str, people: list[str], timeout: float = 240
) -> dict[str, str]:
    """Face enrolment as docs/access.md section 5 has it: record each person's consent, queue
    ``enrol {person}`` for the face terminal (the hub fills in the template id), wait until
    every command succeeded and the hub stored each template id from the terminal's
    ``enrolled`` event. Returns person -> template id."""
    want: dict[str, str] = {}
    cmds: list[str] = []
    for pid in people:
        c = consent(hub, community, pid)
        want[pid] = f"f-{c['id']}"
        cmd = hub.send(face_id, "enrol", {"person": pid})
        assert cmd["args"] == {"person": pid, "template": want[pid]}, cmd
        cmds.append(cmd["id"])

    def statuses() -> dict[str, str]:
        return {c: hub.command(c)["status"] for c in cmds}

    def timeline() -> list[tuple[str, str, object, object]]:
        return [(c["op"], c["status"], c["sent_at"], c["acked_at"]) for c in map(hub.command, cmds)]

    wait_until(
        f"{len(cmds)} enrolments on {face_id} answered",
        lambda: all(s not in ("queued", "sent", "delivered") for s in statuses().values()),
        timeout,
        interval=0.25,
        detail=timeline,
    )
    assert set(statuses().values()) == {"succeeded"}, statuses()
    wait_until(
        "every enrolled template id stored",
        lambda: all(person(hub, community, p)["face_template"] == t for p, t in want.items()),
        timeout,
        detail=lambda: {p: person(hub, community, p)["face_template"] for p in want},
    )
    return want
