"""Household visits (入户走访) and door-to-door collection (入户采集) on the handheld: imported
by app.py when a worker starts one, dropped after it is signed (device._forget), like tasks.py.

    await Field(handheld).visit(act, pos)     # {"do": "visit", "place": {...}, ...}
    await Field(handheld).collect(act, pos)   # {"do": "collect", "form": ..., "record": {...}}

A form is checked here before it is signed, as far as the worker can fix it on the spot (the
fields the form needs, the ID number's check digit); the hub checks everything again and
refuses, with the field named, what it cannot store (docs/basedata.md). The record rides in
the signed event and waits in the outbox like any other event until the hub's receipt.

Event bodies (docs/firmware.md):
- visit   {grid, worker, place: {kind: household|place, ref}, purpose, outcome, text, loc}
- collect {grid, worker, form: resident|house|organisation, record: {the form's fields}}
"""

_NEEDS = {
    "resident": ("id_number", "name", "gender"),
    "house": ("house_code", "address", "use"),
    "organisation": ("credit_code", "name", "kind", "address"),
}
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_ok(n):
    """GB 11643: 17 digits and a check character (0-9 or X)."""
    if len(n) != 18 or not n[:17].isdigit():
        return False
    s = 0
    for i in range(17):
        s += int(n[i]) * _W[i]
    return "10X98765432"[s % 11] == n[17].upper()


class Field:
    def __init__(self, hh):
        self.hh = hh

    async def visit(self, act, pos):
        hh = self.hh
        place = act.get("place") or {}
        kind, ref = place.get("kind"), place.get("ref")
        if kind not in ("household", "place") or not ref:
            hh.ui.show("visit: a household (house code) or a place (name / address)")
            return False
        body = {"grid": hh.grid, "worker": hh.worker, "place": {"kind": kind, "ref": ref},
                "purpose": act.get("purpose", "visit"), "outcome": act.get("outcome", "met"),
                "text": act.get("text", ""), "loc": hh.loc()}
        seq = await hh.device.emit("visit", body, extra={"ui_pos": pos})
        hh.ui.show("visit %s queued" % seq)
        return True

    async def collect(self, act, pos):
        hh = self.hh
        form, rec = act.get("form"), act.get("record")
        needs = _NEEDS.get(form)
        if needs is None or not isinstance(rec, dict):
            hh.ui.show("collect: unknown form %s" % form)
            return False
        for k in needs:
            if not rec.get(k):
                hh.ui.show("collect %s: %s missing" % (form, k))
                return False
        if form == "resident" and not id_ok(str(rec["id_number"])):
            hh.ui.show("collect resident: check the ID number")
            return False
        body = {"grid": hh.grid, "worker": hh.worker, "form": form, "record": rec}
        seq = await hh.device.emit("collect", body, extra={"ui_pos": pos})
        hh.ui.show("collect %s %s queued" % (form, seq))
        return True
