"""The e-mail channel: one plain-text message (Chinese first, English beside it) per delivery
through the hub's SMTP server (``smtp_*`` settings), with STARTTLS, implicit TLS or, for a relay
on loopback, neither. A recipient the server refuses with a 5xx is given up; anything else
(the server down, a 4xx, a login refused) is tried again."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from hub.notify.channels import DeliveryFailed, Message
from hub.settings import Settings


class EmailChannel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _compose(self, message: Message) -> EmailMessage:
        sender = self._settings.smtp_from
        mail = EmailMessage()
        mail["From"] = sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
        mail["Message-ID"] = make_msgid(message.message_id, domain=sender.rpartition("@")[2])
        mail["X-Gridlink-Notification"] = message.kind
        mail.set_content(message.body)
        return mail

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        if s.smtp_security == "tls":
            return smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.notify_timeout_s,
                context=ssl.create_default_context(),
            )  # fmt: skip
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout_s)
        if s.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: Message) -> str:
        s = self._settings
        if not s.smtp_host:
            raise DeliveryFailed("GRIDLINK_SMTP_HOST is not set")
        mail = self._compose(message)
        try:
            with self._connect() as smtp:
                if s.smtp_username and s.smtp_password:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryFailed(
                f"SMTP refused {message.address}: {exc.recipients}",
                permanent=all(code >= 500 for code in codes),
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        return f"SMTP accepted by {s.smtp_host}:{s.smtp_port}"
