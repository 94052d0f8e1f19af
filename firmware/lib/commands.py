"""Command handling for Device (a mixin; see device.py): verify through CommandGuard,
persist the last cseq before running, execute via the handler table, always ack."""

import asyncio

import config as config_mod
import log as log_mod

from protocol import command
from protocol.errors import ProtocolError

_log = log_mod.getLogger("cmd")

# keys a signed "config" command may change (everything else needs re-provisioning)
REMOTE_CONFIG = tuple(config_mod.REMOTE)


class Commands:
    async def _commands(self):
        while not self._stop:
            if not self.cmdq:
                await asyncio.sleep_ms(50)
                continue
            data = self.cmdq.pop(0)
            await self.handle_command(data)

    async def handle_command(self, data):
        try:
            cmd = self.guard.check(data, self.clock.time())
        except ProtocolError as e:
            cmd = getattr(e, "cmd", None)
            _log.warning("command refused: %s (%s)", e.reason, cmd and cmd.get("id"))
            await self.ack(cmd, "refused", e.reason)
            return
        # persist before running: a redelivered copy is refused as replayed, never re-run
        self.state.set("cseq", self.guard.last_cseq)
        self.state.save()
        handler = self.handlers.get(cmd["op"])
        if handler is None:
            await self.ack(cmd, "failed", "unsupported_op")
            return
        try:
            detail = await handler(cmd)
        except Exception as e:  # a failing handler is answered, not fatal
            await self.ack(cmd, "failed", "%s: %s" % (type(e).__name__, e))
            return
        await self.ack(cmd, "succeeded", detail or "")

    async def ack(self, cmd, status, detail):
        if cmd is not None and type(cmd) is not dict:
            cmd = None
        await self.emit("ack", command.ack_body(cmd, status, detail))

    async def _cmd_ping(self, cmd):
        return "pong"

    async def _cmd_config(self, cmd):
        args = cmd["args"]
        if type(args) is not dict:
            raise ValueError("config: want args as an object")
        # all or nothing, checked like config.load(): a bad value persisted here would be
        # read by the runtime tasks on every boot (acked "failed" naming the key)
        for k in args:
            config_mod.check_remote(k, args[k])
        over = dict(self.state.get("cfg", None) or {})
        over.update(args)
        self.state.set("cfg", over)
        self.state.save()
        return "applied"

    async def _cmd_reboot(self, cmd):
        self._reboot = True
        self._wake.set()
        return "rebooting"

