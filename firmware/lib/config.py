# The device configuration: one JSON file written by provisioning, merged over DEFAULTS (the
# only defaults: Device.opt falls back to them for a config that did not go through load()).
#   cfg = config.load("/config.json")   # ValueError naming the key when something is wrong
# Nested dicts (broker, hal, sim) are merged one level deep, so a config may set only
# {"broker": {"host": "10.0.0.5"}} and keep the other broker defaults.
import json

from protocol.limits import CHUNK_SIZE

DEFAULTS = {
    "broker": {
        "host": "127.0.0.1",
        "port": 1883,
        "user": None,
        "password": None,
        "tls": False,
        "ca": None,
        "keepalive": 30,
    },
    "app": "handheld",
    "flash": "/flash",
    "chunk_size": CHUNK_SIZE,
    "heartbeat_s": 300,
    "track_s": 30,
    "outbox_bytes": 8 * 1024 * 1024,
    "require_hub": False,
    "backoff_min_ms": 500,
    "backoff_max_ms": 30000,
    "log_level": "info",
    "trim_on": "puback",  # or "receipt": keep a record until a verified hub receipt covers it
    "keep_media": False,  # keep uploaded media (up to 32 files) for chunks a receipt lists missing
    "cmd_queue": 8,  # commands queued before more are dropped (the hub retries them)
}

REQUIRED = ("device_id", "key", "hub_key", "grid")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_HEX = "0123456789abcdefABCDEF"
_LEVELS = ("debug", "info", "warning", "error")


def _hex32(cfg, key):
    v = cfg[key]
    if not isinstance(v, str) or len(v) != 64 or any(c not in _HEX for c in v):
        raise ValueError("config %s: want 64 hex digits (32 bytes)" % key)


def _int(cfg, key, lo, hi):
    v = cfg[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        raise ValueError("config %s: want an integer in %d..%d" % (key, lo, hi))


# keys a signed "config" command may change, checked like load() checks them (0 = off)
REMOTE = {"heartbeat_s": (0, 86400), "track_s": (0, 86400), "track_batch": (1, 1024),
          "categories": None}


def check_remote(key, value):
    """ValueError("config <key>: ...") unless a remote config command may set key to value."""
    if key not in REMOTE:
        raise ValueError("config %s: not remotely configurable" % key)
    if key == "categories":
        if not isinstance(value, list) or len(value) > 64 or any(
            not isinstance(c, str) or not 0 < len(c) <= 64 for c in value
        ):
            raise ValueError("config categories: want a list of up to 64 codes (strings)")
        return
    lo, hi = REMOTE[key]
    _int({key: value}, key, lo, hi)


def merge(base, over):
    """DEFAULTS-style merge: dict values one level deep, everything else replaced."""
    out = {}
    for k, v in base.items():
        out[k] = dict(v) if isinstance(v, dict) else v
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k].update(v)
        else:
            out[k] = v
    return out


def validate(cfg):
    for key in REQUIRED:
        if cfg.get(key) in (None, ""):
            raise ValueError("config %s: required" % key)
    dev = cfg["device_id"]
    if (
        not isinstance(dev, str)
        or not 1 <= len(dev) <= 64
        or dev == "hub"
        or any(c not in _ID_CHARS for c in dev)
    ):
        raise ValueError("config device_id: 1-64 of A-Z a-z 0-9 _ . -, not 'hub'")
    _hex32(cfg, "key")
    _hex32(cfg, "hub_key")
    grid = cfg["grid"]
    if not isinstance(grid, str) or len(grid) != 14 or any(c not in "0123456789" for c in grid):
        raise ValueError("config grid: want the 14-digit unit-grid code as a string")
    b = cfg["broker"]
    if not isinstance(b, dict) or not isinstance(b.get("host"), str) or not b["host"]:
        raise ValueError("config broker.host: required")
    if not isinstance(b.get("port"), int) or not 0 < b["port"] < 65536:
        raise ValueError("config broker.port: want 1..65535")
    if not isinstance(b.get("keepalive"), int) or not 0 <= b["keepalive"] <= 65535:
        raise ValueError("config broker.keepalive: want 0..65535")
    _int(cfg, "chunk_size", 1024, 65536)
    _int(cfg, "heartbeat_s", 0, 86400)
    _int(cfg, "track_s", 0, 86400)
    _int(cfg, "outbox_bytes", 4096, 1 << 31)
    if cfg["log_level"] not in _LEVELS:
        raise ValueError("config log_level: one of debug, info, warning, error")
    return cfg


def loads(text):
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("config: not valid JSON")
    if not isinstance(data, dict):
        raise ValueError("config: want a JSON object")
    return validate(merge(DEFAULTS, data))


def load(path):
    """Read, merge over DEFAULTS and validate the device config at path."""
    with open(path) as f:
        return loads(f.read())
