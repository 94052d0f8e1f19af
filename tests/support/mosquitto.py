"""A real Mosquitto broker on a free loopback port, for tests.

    with Mosquitto() as broker:      # or start() ... stop()
        client.username_pw_set(*broker.observer_account)
        client.connect(broker.host, broker.port)
        broker.restart()             # same port; the process is always killed at the end

Locked down by default (``secure=True``): the configuration production runs, written by
``provisioning.broker`` (dynamic-security plugin, no anonymous clients, deny by default), with
the hub's account (``broker.hub_settings_kwargs()`` for the hub's Settings) and one more,
``observer``, that may read and write all of ``gl/v1/#``. The observer is the test's
omniscient client, and where a test publishes forged or tampered messages on a device's
topics it plays an attacker who already holds that device's key *and* broker credentials (a
stolen device): the broker lets such an attacker publish on that device's topics, so the hub
must catch the forgery itself. It never stands for an honest device. A device gets its own
account from ``broker.device_account(device_id) -> (username, password)``, created through
the hub's own ``hub.broker_admin``. The observer has no ``$share`` rights: it cannot join the
hub's ingest group. ``Mosquitto(secure=False)`` is the anonymous broker, only for tests of the
MQTT client's own wire behaviour on arbitrary topics (each says why).

``tls=pki`` (a ``tests.support.tls.Pki``) adds two TLS listeners on the broker's certificate from
that PKI, written by the same production code (``provisioning.broker.Listener`` + ``TlsFiles``):
``broker.tls_port`` (no client certificate asked) and ``broker.mtls_port``
(``require_certificate true``). Both still want an account: TLS is the transport, the account
is the identity. ``broker.hub_settings_kwargs(tls="tls" | "mtls")`` gives the hub's settings
for one of them (for "mtls" the hub's client certificate is issued from the PKI unless
``client_cert=`` names another); ``broker.client_cert(name)`` issues (once) a client
certificate. The plain listener ``broker.port`` stays for the observer and the admin calls.

``persistence=True`` keeps sessions and queued messages across ``restart()`` (graceful stop, so
Mosquitto writes its database); ``restart(kill=True)`` simulates a crash (SIGKILL).
``log_path`` has the broker log (``log_type all``; benchmarks pass ``log_types=("error",
"warning", "notice")`` so the broker does not write a line per message), handy for asserting
on the wire (e.g. the ``d1`` DUP flag of a retransmitted PUBLISH). The MQTT client that
records what it receives is ``tests.support.wire.MqttObserver``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from provisioning import broker as config
from tests.support.net import free_port

if TYPE_CHECKING:
    from tests.support.tls import Pki

MOSQUITTO = (
    os.environ.get("GRIDLINK_MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies, even by
    os._exit (pytest-timeout) or SIGKILL, so no broker outlives its test run (Linux).

    Linux ties this to the starting *thread*: use it only from the main thread
    (``preexec_for_thread()``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def preexec_for_thread():
    return die_with_parent if threading.current_thread() is threading.main_thread() else None


class Mosquitto:
    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        persistence: bool = False,
        workdir: str | os.PathLike | None = None,
        extra_conf: str = "",
        max_packet_size: int | None = None,
        secure: bool = True,
        tls: Pki | None = None,
        log_types: tuple[str, ...] = ("all",),
        accounts: tuple[config.Account, ...] = (),
        roles: dict[str, list[Any]] | None = None,
    ) -> None:
        # accounts / roles: more dynsec clients and roles in the initial file (a bench's
        # pre-provisioned fleet, a bridge's account); secure brokers only
        self.accounts = accounts
        self.roles = roles or {}
        self.host = host
        self.log_types = log_types
        self.port = port or free_port(host)
        self.persistence = persistence
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.extra_conf = extra_conf
        self.max_packet_size = max_packet_size
        self.proc: subprocess.Popen | None = None
        self.secure = secure
        self.pki = tls
        self.tls_port = free_port(host) if tls else None
        self.mtls_port = free_port(host) if tls else None
        self._certs: dict[str, dict[str, Path]] = {}
        self.hub_account: tuple[str, str] | None = None
        self.observer_account: tuple[str, str] | None = None
        self._devices: dict[str, tuple[str, str]] = {}
        if secure:
            self.hub_account = (config.HUB_USERNAME, config.secrets.token_urlsafe(24))
            self.observer_account = ("observer", config.secrets.token_urlsafe(24))

    def _test_lines(self) -> list[str]:
        lines = [
            "log_dest stderr",  # unbuffered, appended to log_path by start()
            *(f"log_type {t}" for t in self.log_types),
            "connection_messages true",
        ]
        if os.geteuid() == 0:  # else it drops to user mosquitto and cannot read our temp dirs
            lines.append("user root")
        if self.max_packet_size:
            lines.append(f"max_packet_size {self.max_packet_size}")
        if self.extra_conf:
            lines.append(self.extra_conf)
        return lines

    def _write_conf(self) -> None:
        if self.secure:
            self._write_secure_conf()
            return
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "max_queued_messages 10000",
            *self._test_lines(),
        ]
        if self.pki:  # after the test lines: they must not land inside a TLS listener block
            assert self.tls_port and self.mtls_port
            lines += [self.pki.listener(self.tls_port, host=self.host)]
            lines += [self.pki.listener(self.mtls_port, True, host=self.host)]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def _write_secure_conf(self) -> None:
        # the production writer; the dynsec file is written once (the broker keeps it up to
        # date as accounts change, so a restart keeps the devices' accounts)
        assert self.hub_account and self.observer_account
        gl_all = "gl/v1/#"
        observer_acls = [
            {"acltype": t, "topic": gl_all, "priority": 0, "allow": True}
            for t in ("publishClientSend", "publishClientReceive", "subscribePattern")
        ]
        config.write(
            self.workdir,
            self._listeners(),
            persistence=self.persistence,
            extra_accounts=[
                config.Account(*self.observer_account, roles=("observer",)),
                *self.accounts,
            ],
            extra_roles={"observer": observer_acls, **self.roles},
            extra_conf=self._test_lines(),
            hub_password=self.hub_account[1],
        )

    def _listeners(self) -> list[config.Listener]:
        listeners = [config.Listener(self.host, self.port)]
        if self.pki:
            assert self.tls_port and self.mtls_port
            pki = self.pki
            for port, required in ((self.tls_port, False), (self.mtls_port, True)):
                files = config.TlsFiles(pki.ca_pem, pki.server_cert, pki.server_key, required)
                listeners.append(config.Listener(self.host, port, files))
        return listeners

    # --- TLS ---------------------------------------------------------------------------------

    def client_cert(self, name: str) -> dict[str, Path]:
        """A client certificate (CN ``name``) from the broker's PKI, issued once: keys
        cert_pem, key_pem, cert_der, key_der."""
        if not self.pki:
            raise ValueError("client_cert needs Mosquitto(tls=pki)")
        if name not in self._certs:
            self._certs[name] = self.pki.client(name)
        return self._certs[name]

    def tls_listener_port(self, tls: Literal["tls", "mtls"]) -> int:
        port = {"tls": self.tls_port, "mtls": self.mtls_port}.get(tls)
        if port is None:
            raise ValueError(f"no {tls!r} listener (want Mosquitto(tls=pki), 'tls' or 'mtls')")
        return port

    # --- accounts (secure brokers) ---------------------------------------------------------

    def hub_settings_kwargs(
        self,
        tls: Literal["tls", "mtls"] | None = None,
        client_cert: dict[str, Path] | None = None,
    ) -> dict[str, Any]:
        """The hub's Settings fields for this broker: its account (dynsec accounts) and, with
        ``tls``, that TLS listener (the CA; for "mtls" the hub's client certificate, or
        ``client_cert``, which a "tls" hub presents too when given)."""
        from pydantic import SecretStr

        out: dict[str, Any] = {"mqtt_host": self.host, "mqtt_port": self.port}
        if self.hub_account:
            user, password = self.hub_account
            out.update(
                mqtt_username=user, mqtt_password=SecretStr(password), broker_accounts="dynsec"
            )
        else:
            out.update(broker_accounts="none")
        if tls is not None:
            assert self.pki
            out.update(mqtt_port=self.tls_listener_port(tls), mqtt_tls=True)
            out.update(mqtt_tls_ca=self.pki.ca_pem)
            if client_cert is None and tls == "mtls":
                client_cert = self.client_cert(config.HUB_USERNAME)
            if client_cert is not None:
                out.update(mqtt_tls_cert=client_cert["cert_pem"])
                out.update(mqtt_tls_key=client_cert["key_pem"])
        return out

    def admin(self, tls: Literal["tls", "mtls"] | None = None):
        """The hub's own broker_admin on this broker (on that TLS listener with ``tls``)."""
        from hub import broker_admin
        from hub.settings import Settings

        settings = Settings(env="development", **self.hub_settings_kwargs(tls=tls))
        return broker_admin.for_settings(settings)

    def device_account(self, device_id: str) -> tuple[str, str]:
        """(username, password) of ``device_id``'s broker account, created on first use (or
        given a new password if the hub made it already, e.g. at registration)."""
        if device_id not in self._devices:
            from hub.broker_admin import BrokerAdminError

            admin = self.admin()
            try:
                account = admin.create_device(device_id)
            except BrokerAdminError as exc:
                if "already exists" not in str(exc):
                    raise
                account = admin.reset_password(device_id)
            assert account is not None, "device_account needs a secure broker"
            self._devices[device_id] = (account.username, account.password)
        return self._devices[device_id]

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self._write_conf()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf_path)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                preexec_fn=preexec_for_thread(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port}")

    def stop(self, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop the broker: SIGTERM (graceful, saves persistence) or SIGKILL (a crash)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, kill: bool = False, down_s: float = 0.0) -> Mosquitto:
        self.stop(kill=kill)
        if down_s:
            time.sleep(down_s)
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: the broker keeps its sockets but answers nothing (a hung link)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cleanup(self) -> None:
        self.stop(kill=True)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __del__(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


# The one MQTT test client lives in tests/support/wire.py; this name stays for older imports.
