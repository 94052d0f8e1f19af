"""Node-RED as the ingest peer a user would pick instead of Gridlink: installed from the npm
registry, one flow ``mqtt in -> function (Ed25519 verify with Node's crypto) -> sqlite``.

Install (``ensure_installed()``, automatic on first use, cached): ``npm install`` of the pinned
``node-red``, ``node-red-node-sqlite`` and its native ``sqlite3`` into
``~/.cache/gridlink/nodered/node-red-<version>/`` (``$GRIDLINK_NODERED_CACHE``), under a file lock,
in a temporary directory renamed into place once ``sqlite3`` loads. ``sqlite3``'s install script
first tries to download a prebuilt binary from GitHub, a host we cannot reach;
``npm_config_build_from_source=sqlite3`` skips that and builds it with node-gyp (g++, make, python3)
against the Node headers of the installed Node (``npm_config_nodedir=/usr`` when
``/usr/include/node`` has them, as with the nodesource package; else node-gyp would fetch them from
nodejs.org). ``allowScripts`` in the generated package.json approves that one install script (npm 12
blocks unapproved ones). npm 11 warns that ``build-from-source`` is not one of its own settings;
``prebuild-install`` reads the variable itself, and without it the download fails and the build runs
anyway (after the failed connection). A cold install (empty cache and npm cache) took 2-3 minutes
here.

The flow (``flow()``; credentials in ``flows_cred.json``, ``credentialSecret: false``):

- ``mqtt in`` on ``gl/v1/+/evt/+`` at QoS 1, payload as a Buffer, through an ``mqtt-broker``
  config node with the hub's account (MQTT v5, Node-RED's default clean session).
- ``function`` (``FUNC_JS``; the keys are loaded once, in the node's *On Start* code, from the
  JSON file the Python side wrote): size limit, canonical JSON (re-encoded with sorted keys and
  compared byte for byte with what arrived), the envelope's fields, the topic names the
  envelope's device and kind, then ``crypto.verify(null, msg, key, sig)`` over
  ``"gridlink/v1/evt\\n" + SHA-256(canonical JSON without "sig")``. A rejected message is one
  ``node.warn`` line in the log and goes no further. It does not check blob references' schema
  (the Python peers' ``envelope.parse`` does); the stream has no blobs.
- ``sqlite`` (``node-red-node-sqlite``, a prepared ``INSERT OR IGNORE``: a duplicate (device,
  seq) is ignored by the unique constraint) on one connection; every insert is its own
  autocommit transaction. The Python side creates the database file (WAL) and the table before
  Node-RED starts, as a user would once with the sqlite3 shell; ``sqlite3``'s bundled SQLite
  runs WAL with ``synchronous=FULL`` by default (PRAGMA synchronous answers 2), and WAL mode is
  stored in the file.

Durability is weaker than Gridlink's, and this cannot be fixed in the flow: Node-RED's ``mqtt
in`` node has no manual acknowledgement. MQTT.js sends the PUBACK as soon as the node emitted
the message, before the function and sqlite nodes ran, so a crash loses what was acknowledged
and not yet written (and the default clean session drops what the broker had queued).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from protocol import envelope, topics
from protocol.limits import MAX_ENVELOPE_BYTES, PROTOCOL_VERSION

NODE_RED = "4.1.15"
SQLITE_NODE = "1.1.1"  # node-red-node-sqlite
SQLITE3 = "5.1.7"  # its native dependency (^5.1.7), pinned so allowScripts names it exactly
REPO = Path(__file__).resolve().parents[2]
# Outside the checkout, so a fresh clone on the same machine (CI's) reuses the install;
# GRIDLINK_NODERED_CACHE overrides it.
CACHE = Path(
    os.environ.get("GRIDLINK_NODERED_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gridlink" / "nodered"
)
INSTALL_TIMEOUT_S = 1800

EVT_FILTER = topics.EVT_ALL
FIELDS = ",".join(envelope.FIELDS)
SIGNED_PREFIX = "gridlink/v1/" + envelope.DOMAIN.decode() + "\n"

INSERT = (
    "INSERT OR IGNORE INTO events (device_id, seq, kind, ts, body, raw) "
    "VALUES ($dev, $seq, $kind, $ts, $body, $raw)"
)

# On Start: the device keys, once (``__KEYS__`` is the JSON file's path).
INIT_JS = """\
const hexKeys = JSON.parse(fs.readFileSync(__KEYS__, "utf8"));
const keys = {};
for (const dev of Object.keys(hexKeys)) {
    const x = Buffer.from(hexKeys[dev], "hex").toString("base64url");
    keys[dev] = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
}
context.set("keys", keys);
node.log("loaded " + Object.keys(keys).length + " device keys");
"""

FUNC_JS = """\
const MAX_BYTES = __MAX_BYTES__, VERSION = __VERSION__, FIELDS = __FIELDS__;
const SIGNED_PREFIX = Buffer.from(__PREFIX__, "utf8");
const raw = msg.payload;
const reject = (why) => { node.warn("rejected " + msg.topic + ": " + why); return null; };

// canonical JSON (protocol/canonical.py): sorted keys, no whitespace, integers only, depth <= 16
function canon(v, depth) {
    if (depth > 16) throw new Error("nesting deeper than 16");
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "number") {
        if (!Number.isSafeInteger(v)) throw new Error("not an integer");
        return String(v);
    }
    if (typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map((x) => canon(x, depth + 1)).join(",") + "]";
    if (typeof v === "object") {
        return "{" + Object.keys(v).sort()
            .map((k) => JSON.stringify(k) + ":" + canon(v[k], depth + 1)).join(",") + "}";
    }
    throw new Error("cannot encode " + typeof v);
}

if (!Buffer.isBuffer(raw)) return reject("payload is not bytes");
if (raw.length > MAX_BYTES) return reject("oversize");
let env, again;
try {
    env = JSON.parse(raw.toString("utf8"));
    again = canon(env, 0);
} catch (e) {
    return reject("malformed: " + e.message);
}
if (!Buffer.from(again, "utf8").equals(raw)) return reject("not canonical JSON");
if (env === null || typeof env !== "object" || Array.isArray(env)) return reject("not an object");
if (Object.keys(env).filter((k) => k !== "hist").sort().join(",") !== FIELDS) {
    return reject("wrong envelope fields");
}
if ("hist" in env && env.hist !== true) return reject("hist must be true");
if (env.v !== VERSION) return reject("unsupported version");
if (typeof env.sig !== "string" || !/^[0-9a-f]{128}$/.test(env.sig)) return reject("bad sig field");
if (typeof env.dev !== "string" || typeof env.kind !== "string") return reject("bad dev/kind");
if (!Number.isSafeInteger(env.seq) || env.seq < 1) return reject("bad seq");
if (!Number.isSafeInteger(env.ts) || env.ts < 0) return reject("bad ts");
if (typeof env.body !== "object" || env.body === null || Array.isArray(env.body)) {
    return reject("body must be an object");
}
const parts = msg.topic.split("/");
if (parts.length !== 5 || parts[2] !== env.dev || parts[4] !== env.kind) {
    return reject("the topic does not name the envelope's device and kind");
}
const key = context.get("keys")[env.dev];
if (!key) return reject("unknown device " + env.dev);
const unsigned = Object.assign({}, env);
delete unsigned.sig;
const hash = crypto.createHash("sha256").update(canon(unsigned, 0), "utf8").digest();
if (!crypto.verify(null, Buffer.concat([SIGNED_PREFIX, hash]), key, Buffer.from(env.sig, "hex"))) {
    return reject("bad signature");
}
msg.params = {
    $dev: env.dev, $seq: env.seq, $kind: env.kind, $ts: env.ts,
    $body: canon(env.body, 0), $raw: raw,
};
return msg;
"""


def install_dir() -> Path:
    return CACHE / f"node-red-{NODE_RED}"


def _package_json() -> dict[str, Any]:
    return {
        "name": "gridlink-bench-nodered",
        "private": True,
        "description": "Node-RED for bench/ingest_peers (written by bench/ingest_peers/nodered.py)",
        "dependencies": {
            "node-red": NODE_RED,
            "node-red-node-sqlite": SQLITE_NODE,
            "sqlite3": SQLITE3,
        },
        "allowScripts": {f"sqlite3@{SQLITE3}": True},
    }


def _installed(target: Path) -> bool:
    stamp = target / ".installed"
    return stamp.exists() and json.loads(stamp.read_text()).get("package") == _package_json()


def ensure_installed(say: Any = print) -> Path:
    """The Node-RED install directory, installing it first if needed (minutes: sqlite3 is
    compiled). Safe to call from several processes at once (a file lock)."""
    target = install_dir()
    if _installed(target):
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed(target):
            return target
        for tool in ("node", "npm"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not on PATH (Node.js 18.5+ is needed for Node-RED)")
        tmp = CACHE / f".install-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / "package.json").write_text(json.dumps(_package_json(), indent=1) + "\n")
        env = {
            **os.environ,
            "npm_config_build_from_source": "sqlite3",  # no prebuilt download from GitHub
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        }
        if Path("/usr/include/node/common.gypi").exists():
            env["npm_config_nodedir"] = "/usr"  # node-gyp: the local headers, not nodejs.org
        say(f"installing Node-RED {NODE_RED} + node-red-node-sqlite {SQLITE_NODE} into {target}")
        t0 = time.monotonic()
        with open(tmp / "npm-install.log", "wb") as log:
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--foreground-scripts"],
                cwd=tmp,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
        tail = (tmp / "npm-install.log").read_text(errors="replace")[-3000:]
        if done.returncode != 0:
            raise RuntimeError(f"npm install failed ({done.returncode}); {tmp}:\n{tail}")
        probe = subprocess.run(
            ["node", "-e", "require('sqlite3'); require('node-red/package.json')"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            raise RuntimeError(f"installed, but sqlite3 does not load: {probe.stderr}\n{tail}")
        elapsed = time.monotonic() - t0
        stamp = {"package": _package_json(), "install_s": round(elapsed, 1), "node": _node()}
        (tmp / ".installed").write_text(json.dumps(stamp, indent=1) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        say(f"Node-RED installed in {elapsed:.0f} s")
        return target


def _node() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


def _js(template: str, **values: object) -> str:
    """``template`` with each ``__NAME__`` replaced by ``values[NAME]`` as a JSON literal; every
    placeholder of the template must be given (checked on the template: a value, such as a
    temporary path, may itself hold "__")."""
    wanted = set(re.findall(r"__([A-Z][A-Z0-9_]*)__", template))
    assert wanted == set(values), f"placeholders {sorted(wanted)}, values {sorted(values)}"
    out = template
    for name, value in values.items():
        out = out.replace(f"__{name}__", json.dumps(value))
    return out


def flow(*, host: str, port: int, client_id: str, db_path: Path, keys_path: Path) -> list[dict]:
    """The flow file's nodes (credentials go to ``flows_cred.json``, ``credentials()``)."""
    tab = "gl-tab"
    return [
        {"id": tab, "type": "tab", "label": "Gridlink ingest", "disabled": False, "info": ""},
        {
            "id": "gl-broker",
            "type": "mqtt-broker",
            "name": "gridlink broker",
            "broker": host,
            "port": str(port),
            "clientid": client_id,
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "5",
            "keepalive": "60",
            "cleansession": True,
            "autoUnsubscribe": True,
            "birthTopic": "",
            "closeTopic": "",
            "willTopic": "",
            "sessionExpiry": "",
        },
        {
            "id": "gl-in",
            "type": "mqtt in",
            "z": tab,
            "name": "device events",
            "topic": EVT_FILTER,
            "qos": "1",
            "datatype": "buffer",
            "broker": "gl-broker",
            "nl": False,
            "rap": True,
            "rh": 0,
            "inputs": 0,
            "x": 120,
            "y": 80,
            "wires": [["gl-verify"]],
        },
        {
            "id": "gl-verify",
            "type": "function",
            "z": tab,
            "name": "verify Ed25519",
            "func": _js(
                FUNC_JS,
                MAX_BYTES=MAX_ENVELOPE_BYTES,
                VERSION=PROTOCOL_VERSION,
                FIELDS=FIELDS,
                PREFIX=SIGNED_PREFIX,
            ),
            "outputs": 1,
            "timeout": 0,
            "noerr": 0,
            "initialize": _js(INIT_JS, KEYS=str(keys_path)),
            "finalize": "",
            "libs": [{"var": "crypto", "module": "crypto"}, {"var": "fs", "module": "fs"}],
            "x": 330,
            "y": 80,
            "wires": [["gl-store"]],
        },
        {"id": "gl-db", "type": "sqlitedb", "db": str(db_path), "mode": "RW"},
        {
            "id": "gl-store",
            "type": "sqlite",
            "z": tab,
            "mydb": "gl-db",
            "sqlquery": "prepared",
            "sql": INSERT,
            "name": "store event",
            "x": 530,
            "y": 80,
            "wires": [[]],
        },
    ]


def credentials(username: str, password: str) -> dict[str, dict[str, str]]:
    return {"gl-broker": {"user": username, "password": password}}


def settings_js(*, user_dir: Path, flow_file: Path, ui_port: int) -> str:
    """A settings.js: loopback editor/admin port, plain credentials file, nothing fetched from
    the network at run time (no palette or module installs, no telemetry or update check)."""
    settings = {
        "uiHost": "127.0.0.1",
        "uiPort": ui_port,
        "userDir": str(user_dir),
        "flowFile": str(flow_file),
        "credentialSecret": False,
        "flowFilePretty": True,
        "disableEditor": True,
        "functionExternalModules": True,  # lets the function node name Node's crypto and fs
        "functionTimeout": 0,
        "externalModules": {
            "autoInstall": False,
            "palette": {"allowInstall": False, "allowUpdate": False, "allowUpload": False},
            "modules": {"allowInstall": False},
        },
        "diagnostics": {"enabled": False, "ui": False},
        "runtimeState": {"enabled": False, "ui": False},
        "telemetry": {"enabled": False, "updateNotification": False},
        "logging": {"console": {"level": "info", "metrics": False, "audit": False}},
        "editorTheme": {"projects": {"enabled": False}, "tours": False},
    }
    return "module.exports = " + json.dumps(settings, indent=1) + ";\n"
