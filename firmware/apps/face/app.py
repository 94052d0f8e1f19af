"""Face recognition terminal at a pedestrian gate: the face module matches a capture against
the templates it holds (made and kept on the device: docs/access.md section 5), the camera
keeps the capture photo as the event's evidence; card, QR and PIN are the fallback (face is
never the only way in). The `enrol` command makes a template on the device, keeps it under
the template id the hub chose and reports that id in an `enrolled` event; list sync deletes
the templates of withdrawn consent."""

from gate import Gate

from apps.access.app import need


class Face(Gate):
    kind = "face"

    def __init__(self, device, hal, cfg, **kw):
        need(hal, "face", "face", "lock", "door")
        super().__init__(device, hal, cfg, hal.lock, hal.door, **kw)
        hal.face.on_read(self.on_face)
        device.on_command("enrol", self._cmd_enrol)

    async def _cmd_enrol(self, cmd):
        person = cmd["args"].get("person")
        t = cmd["args"].get("template")
        if not isinstance(person, str) or not 0 < len(person) <= 64:
            raise ValueError("enrol: person wants a person id")
        if not isinstance(t, str) or not 0 < len(t) <= 64:
            raise ValueError("enrol: template wants the hub's template id")
        t = self.hal.face.enrol(person, t)
        await self.device.emit(
            "enrolled", {"community": self.community, "person": person, "template": t}
        )
        return "template %s" % t
