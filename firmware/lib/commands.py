"""CommandRunner: hub commands on gl/v1/{dev}/cmd, verified through protocol.command's
CommandGuard, the last cseq persisted before the command runs, executed by the handler
registered for its op, ALWAYS answered with a signed `ack` (succeeded / failed / refused).

    runner = CommandRunner(guard, state, clock, emit)   # emit: Device.emit, for the ack
    runner.on("task", handler)                   # async handler(cmd) -> detail str or None
                                                 # (an exception with a str .detail acks
                                                 # failed with that detail)
    runner.push(payload)                         # from the MQTT reader task; never blocks
    asyncio.create_task(runner.run())
"""

import asyncio
import gc

import log as log_mod
from compat import const

from protocol import command
from protocol.errors import ProtocolError

_log = log_mod.getLogger("cmd")
# a command's check is one pure-Python Ed25519 verify (~10 KB of transient heap; an ota
# command is several KB more), which a 192K handheld lacks now and then in a burst
_CHECK_TRIES = const(10)


class CommandRunner:
    def __init__(self, guard, state, clock, emit, queue_len=8):
        self.guard = guard
        self.state = state
        self.clock = clock
        self.emit = emit
        self.queue_len = queue_len
        self.handlers = {}
        self.queue = []
        self.dropped = 0
        self.unchecked = 0  # commands whose check never found heap: the hub's retry answers
        self._ev = asyncio.Event()

    def on(self, op, handler):
        """Run `await handler(cmd)` for commands with this op; its return value is the ack's
        detail, an exception fails the command. ValueError if op already has a handler."""
        if op in self.handlers:
            raise ValueError("command %s: handler already registered" % op)
        self.handlers[op] = handler

    def push(self, data):
        # called on the MQTT reader task: queue, never block
        if len(self.queue) >= self.queue_len:
            self.dropped += 1  # the hub retries unanswered commands
            return
        self.queue.append(bytes(data))
        self._ev.set()

    def idle(self):
        return not self.queue

    async def run(self):
        while True:
            if not self.queue:
                self._ev.clear()
                await self._ev.wait()
                continue
            await self.handle(self.queue.pop(0))

    async def _check(self, data):
        # CommandGuard.check changes nothing before the signature holds, so a check that
        # found no heap is simply made again after a collection
        for _ in range(_CHECK_TRIES - 1):
            try:
                return self.guard.check(data, self.clock.time())
            except MemoryError:
                gc.collect()
                await asyncio.sleep_ms(200)
        return self.guard.check(data, self.clock.time())

    async def handle(self, data):
        try:
            cmd = await self._check(data)
        except MemoryError:  # never the end of the runner: unanswered, the hub sends it again
            self.unchecked += 1
            _log.error("command not checked: no heap (%d)", self.unchecked)
            return
        except ProtocolError as e:
            cmd = getattr(e, "cmd", None)
            _log.warning("command refused: %s (%s)", e.reason, cmd and cmd.get("id"))
            await self.ack(cmd, "refused", e.reason)
            return
        data = None  # the raw payload (an ota command's is several KB) is not kept
        # persist before running: a redelivered copy is refused as replayed, never re-run
        self.state.set("cseq", self.guard.last_cseq)
        self.state.save()
        handler = self.handlers.get(cmd["op"])
        if handler is None:
            await self.ack(cmd, "failed", "unsupported_op")
            return
        # what the ack needs: the command itself (an ota command's parsed manifest is tens of
        # KB on a 192K handheld) is dropped before the ack is signed
        head = {"id": cmd.get("id"), "cseq": cmd.get("cseq")}
        try:
            detail = await handler(cmd)
        except Exception as e:  # a failing handler is answered, not fatal
            # an error that carries the ack detail the protocol names (acl.SyncError's
            # "base_mismatch 41") is acked with just that; others with their type and text
            detail = getattr(e, "detail", None)
            if not isinstance(detail, str):
                detail = "%s: %s" % (type(e).__name__, e)
            # dropped before the ack is signed: an exception class of a module the handler
            # loaded and forgot (lib/otacmd.py) keeps that module's globals alive through it
            e = cmd = None
            await self.ack(head, "failed", detail)
            return
        cmd = None
        await self.ack(head, "succeeded", detail or "")

    async def ack(self, cmd, status, detail):
        if cmd is not None and type(cmd) is not dict:
            cmd = None
        body = command.ack_body(cmd, status, detail)
        cmd = None
        try:
            await self.emit("ack", body)  # Device.emit: a signature without heap tried again
        except MemoryError:  # still none: the hub's retry is answered "replayed"
            _log.error("ack %s %s not signed: no heap", status, body.get("id"))
