"""Gates against the real hub: a compound's list put through the hub's access API (so the
gates get it by the hub's own list sync), face enrolment with recorded consent, and reading
the access log back.

    load_list(hub, community, entries)   # scenarios.community(...)["entries"] -> the hub
    wait_list(hub, dev_id, version)      # the gate reports that version (birth / heartbeat / ack)
    log = access_log(hub, device_id=...) # every stored access event, in (seq, idx) order
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.support.hub import Hub

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
