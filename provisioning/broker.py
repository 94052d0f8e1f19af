"""The locked-down Mosquitto configuration: production (``gridlink provision broker init``) and
the test suite's broker (tests/support/mosquitto.py) are written by this one module.

    cfg = write(Path("/etc/gridlink/broker"), listeners=[Listener("0.0.0.0", 1883)])
    cfg.hub_password    # shown once: the hub's GRIDLINK_MQTT_PASSWORD

What it writes (docs/broker-security.md):
- ``mosquitto.conf``: the dynamic-security plugin, ``per_listener_settings false``,
  ``allow_anonymous false``, persistence on, ``max_queued_messages`` raised for offline
  devices, ``max_packet_size`` above the largest chunk frame; a TLS listener when given certs.
- ``dynamic-security.json``: deny by default, the ``hub`` role and account, no devices (the hub
  creates them through ``$CONTROL/dynamic-security/v1`` when they are registered). Password
  hashes are Mosquitto's own: PBKDF2-HMAC-SHA512, 64-byte hash, base64 salt and hash.
The broker rewrites ``dynamic-security.json`` as accounts change, so ``write`` never
overwrites one that exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.broker_admin import HUB_ROLE, Acl, hub_acls
from protocol import chunking, limits

# Where Debian / Ubuntu install the plugin (package mosquitto); the first that exists wins, and
# GRIDLINK_MOSQUITTO_DYNSEC names another (other distributions, arm64 boards).
_DYNSEC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/arm-linux-gnueabihf/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/lib64/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
DYNSEC_PLUGIN = os.environ.get("GRIDLINK_MOSQUITTO_DYNSEC") or next(
    (p for p in _DYNSEC_CANDIDATES if os.path.exists(p)), _DYNSEC_CANDIDATES[0]
)
# Mosquitto's own defaults for the hashes it makes (mosquitto_ctrl, setClientPassword).
HASH_ITERATIONS = 101
SALT_BYTES = 12
HUB_USERNAME = "hub"
# One MQTT PUBLISH of the largest chunk frame: header + MAX_CHUNK_SIZE + topic + properties,
# with room to spare; an envelope (MAX_ENVELOPE_BYTES) is smaller.
MAX_PACKET_SIZE = 2 * (chunking.HEADER_SIZE + limits.MAX_CHUNK_SIZE)
MAX_QUEUED_MESSAGES = 100_000  # per offline client (a device's commands, the hub's share)
# QoS 1 messages sent to one client and not yet acknowledged. The hub acknowledges a message
# only once its row is committed, so this window bounds what one ingest worker can take into
# one transaction: Mosquitto's default of 20 would cap every batch at 20 messages.
MAX_INFLIGHT_MESSAGES = 1000
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


def password_hash(
    password: str, salt: bytes | None = None, iterations: int = HASH_ITERATIONS
) -> dict[str, Any]:
    """The ``password`` / ``salt`` / ``iterations`` fields of a dynsec client."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
    }


def check_password(client: dict[str, Any], password: str) -> bool:
    salt = base64.b64decode(client["salt"])
    return secrets.compare_digest(
        password_hash(password, salt, client["iterations"])["password"], client["password"]
    )


@dataclass(frozen=True)
class Account:
    """A dynsec client for the initial file: the hub's, or (tests) an extra one."""

    username: str
    password: str
    roles: tuple[str, ...]
    clientid: str | None = None
    textname: str = ""

    def dynsec(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "username": self.username,
            "textname": self.textname,
            "roles": [{"rolename": r, "priority": 0} for r in self.roles],
            **password_hash(self.password),
        }
        if self.clientid is not None:
            out["clientid"] = self.clientid
        return out


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False  # client certificates (devices and hub present one)


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    tls: TlsFiles | None = None

    def conf(self) -> list[str]:
        lines = [f"listener {self.port} {self.host}"]
        if self.tls:
            t = self.tls
            lines += [
                f"cafile {t.cafile}",
                f"certfile {t.certfile}",
                f"keyfile {t.keyfile}",
                "tls_version tlsv1.2",
                f"require_certificate {'true' if t.require_certificate else 'false'}",
            ]
        return lines


@dataclass(frozen=True)
class BrokerConfig:
    dir: Path
    conf_path: Path
    dynsec_path: Path
    hub_username: str
    hub_password: str | None  # None: the dynsec file existed already, its hub password is kept
    listeners: tuple[Listener, ...] = field(default=())

    def env_lines(self) -> list[str]:
        """The hub's settings for this broker, as GRIDLINK_MQTT_* lines."""
        first = self.listeners[0] if self.listeners else None
        lines = ["GRIDLINK_BROKER_ACCOUNTS=dynsec", f"GRIDLINK_MQTT_USERNAME={self.hub_username}"]
        if self.hub_password is not None:
            lines.append(f"GRIDLINK_MQTT_PASSWORD={self.hub_password}")
        if first is not None:
            lines.append(f"GRIDLINK_MQTT_PORT={first.port}")
            if first.tls:
                lines += ["GRIDLINK_MQTT_TLS=true", f"GRIDLINK_MQTT_TLS_CA={first.tls.cafile}"]
                if first.tls.require_certificate:  # the hub shows a certificate too
                    lines += [
                        "GRIDLINK_MQTT_TLS_CERT=<hub.pem from: gridlink provision ca client "
                        "--name hub>",
                        "GRIDLINK_MQTT_TLS_KEY=<hub.key from the same>",
                    ]
        # GRIDLINK_MQTT_HOST: the name the hub dials; over TLS it must be one the broker's
        # certificate carries (gridlink provision ca server --host)
        return lines


def dynsec_document(accounts: Iterable[Account], roles: dict[str, list[Acl]]) -> dict[str, Any]:
    return {
        "defaultACLAccess": DEFAULT_ACL_ACCESS,
        "clients": [a.dynsec() for a in accounts],
        "groups": [],
        "roles": [{"rolename": name, "acls": acls} for name, acls in roles.items()],
    }


def mosquitto_conf(
    dir: Path,
    listeners: Iterable[Listener],
    persistence: bool = True,
    plugin: str = DYNSEC_PLUGIN,
    extra: Iterable[str] = (),
) -> str:
    lines = [
        "# Gridlink's locked-down broker (gridlink provision broker init); see",
        "# docs/broker-security.md. Accounts live in dynamic-security.json (the hub edits them).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {plugin}",
        f"plugin_opt_config_file {dir / 'dynamic-security.json'}",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {dir / 'data'}/",
        "autosave_interval 60",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        f"max_packet_size {MAX_PACKET_SIZE}",
        "connection_messages true",
    ]
    for listener in listeners:
        lines += listener.conf()
    lines += list(extra)
    return "\n".join(lines) + "\n"


def write(
    dir: Path,
    listeners: Iterable[Listener],
    *,
    persistence: bool = True,
    extra_accounts: Iterable[Account] = (),
    extra_roles: dict[str, list[Acl]] | None = None,
    extra_conf: Iterable[str] = (),
    hub_password: str | None = None,
) -> BrokerConfig:
    """Write ``mosquitto.conf`` (always) and ``dynamic-security.json`` (only if missing)."""
    dir = Path(dir).resolve()
    listeners = tuple(listeners)
    if not listeners:
        raise ValueError("the broker needs at least one listener")
    (dir / "data").mkdir(parents=True, exist_ok=True)
    conf_path = dir / "mosquitto.conf"
    dynsec_path = dir / "dynamic-security.json"
    conf_path.write_text(mosquitto_conf(dir, listeners, persistence, extra=extra_conf))
    if dynsec_path.exists():
        return BrokerConfig(dir, conf_path, dynsec_path, HUB_USERNAME, None, listeners)
    password = hub_password or secrets.token_urlsafe(24)
    hub = Account(HUB_USERNAME, password, (HUB_ROLE,), textname="gridlink hub")
    roles = {HUB_ROLE: hub_acls(), **(extra_roles or {})}
    doc = dynsec_document([hub, *extra_accounts], roles)
    fd = os.open(dynsec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    return BrokerConfig(dir, conf_path, dynsec_path, HUB_USERNAME, password, listeners)
