"""Real local receivers for the hub's notifications: a webhook endpoint (an HTTP server on a
free loopback port) and a mailbox (aiosmtpd's SMTP server). Both record what arrived, with the
wall-clock time it arrived, and both stop on leaving the ``with`` block.

    with WebhookReceiver() as hook, Mailbox() as box:
        hook.answers = [503, 200]      # the first request fails, the next is taken
        ... hook.requests[0].json, box.messages[0]["Subject"]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.net import free_port


@dataclass(frozen=True)
class Received:
    at: float  # time.time() on arrival
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """``answers``: the status of each next request (the last one repeats; default 200)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[int] = [200]
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(time.time(), self.path, dict(self.headers.items()), body)
                    )
                    status = receiver.answers.pop(0) if len(receiver.answers) > 1 else (
                        receiver.answers[0])  # fmt: skip
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: object) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/gridlink/notify"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Mail:
    at: float
    envelope_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.box.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(
            Mail(time.time(), str(envelope.mail_from), list(envelope.rcpt_tos), parsed)
        )
        return "250 Message accepted"


class Mailbox:
    """An SMTP server on a free loopback port (no TLS, no login: ``smtp_security="none"``).
    ``refuse``: addresses answered 550."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.refuse: set[str] = set()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def settings(self) -> dict[str, Any]:
        """The hub settings that send through this server."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": "none",
            "smtp_from": "gridlink@hub.example.org",
        }

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()


@contextmanager
def receivers() -> Iterator[tuple[WebhookReceiver, Mailbox]]:
    with WebhookReceiver() as hook, Mailbox() as box:
        yield hook, box
