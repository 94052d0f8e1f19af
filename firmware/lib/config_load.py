# config.load(): merge a config file over config.DEFAULTS and check all of it. Start-up-only
# code: main.py drops this module after loading (see config.py).
import json

from config import DEFAULTS, check_int

REQUIRED = ("device_id", "key", "hub_key", "grid")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_HEX = "0123456789abcdefABCDEF"
_LEVELS = ("debug", "info", "warning", "error")


def _hex32(cfg, key):
    v = cfg[key]
    if not isinstance(v, str) or len(v) != 64 or any(c not in _HEX for c in v):
        raise ValueError("config %s: want 64 hex digits (32 bytes)" % key)


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
    check_int(cfg, "chunk_size", 1024, 65536)
    check_int(cfg, "heartbeat_s", 0, 86400)
    check_int(cfg, "track_s", 0, 86400)
    check_int(cfg, "outbox_bytes", 4096, 1 << 31)
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
