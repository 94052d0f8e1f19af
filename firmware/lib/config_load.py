# config.load(): merge a config file over config.DEFAULTS and check all of it. Start-up-only
# code: main.py drops this module after loading (see config.py).
import json

from config import DEFAULTS, check_int

REQUIRED = ("device_id", "hub_key", "grid")  # key: optional (lib/identity.py)
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_HEX = "0123456789abcdefABCDEF"
_LEVELS = ("debug", "info", "warning", "error")
APPS = ("handheld", "access", "face", "barrier")
# gate keys: (lo, hi) of the integer
_GATE_INTS = (("face_threshold", 0, 100), ("plate_threshold", 0, 100),
              ("tz_offset_s", -43200, 50400), ("batch_events", 1, 64), ("batch_s", 1, 3600),
              ("capture_bytes", 1024, 1 << 20), ("stranger_repeat", 1, 1000),
              ("stranger_window_s", 1, 86400), ("storage_alarm_pct", 1, 100),
              ("fail_open_after_s", 0, 86400))
_DOOR_KEYS = ("id", "dir", "fail", "open_ms", "held_open_s", "passback")


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


HANDHELD_OTA_CHUNK = 4096  # the largest ota_chunk a handheld takes (config_load.validate)


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
    if cfg.get("key") is not None:  # else <flash>/key, made on the device (identity.py)
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
    if not isinstance(b.get("tls"), bool):
        raise ValueError("config broker.tls: want true or false")
    if b["tls"]:
        _check_tls(b)
    check_int(cfg, "chunk_size", 1024, 65536)
    check_int(cfg, "heartbeat_s", 0, 86400)
    check_int(cfg, "track_s", 0, 86400)
    w = cfg.get("workers")
    if w is not None:  # PIN records (protocol/pin.py); the old sha256 strings fail loudly
        if type(w) is not dict or any(
            type(r) is not list or len(r) != 3 or type(r[1]) is not int for r in w.values()
        ):
            raise ValueError("config workers: want {worker_id: [salt_hex, iterations, "
                             "hash_hex]} PIN records (docs/workers.md)")
    check_int(cfg, "pin_tries", 1, 100)
    check_int(cfg, "pin_lock_s", 0, 86400)
    check_int(cfg, "idle_signout_s", 0, 86400)
    check_int(cfg, "outbox_bytes", 4096, 1 << 31)
    check_int(cfg, "video_max_s", 1, 300)  # hal/webm.py lists at most 300 1-s clusters
    if cfg.get("ops_key") is not None:
        _hex32(cfg, "ops_key")
    hw = cfg["hw"]
    if not isinstance(hw, str) or not 1 <= len(hw) <= 64 or any(c not in _ID_CHARS for c in hw):
        raise ValueError("config hw: 1-64 of A-Z a-z 0-9 _ . -")
    check_int(cfg, "ota_chunk", 512, 16384)
    if cfg["app"] == "handheld" and cfg["ota_chunk"] > HANDHELD_OTA_CHUNK:
        # each chunk reply is one contiguous block of this size in the 192K heap
        raise ValueError("config ota_chunk: at most %d on a handheld" % HANDHELD_OTA_CHUNK)
    check_int(cfg, "ota_trial_s", 10, 86400)
    if cfg["ota_mode"] is None:  # the handheld's 192K heap does not hold app and download
        cfg["ota_mode"] = "reboot" if cfg["app"] == "handheld" else "live"
    if cfg["ota_mode"] not in ("live", "reboot"):
        raise ValueError("config ota_mode: live or reboot")
    check_int(cfg, "ota_mode_timeout_s", 10, 86400)
    if cfg["log_level"] not in _LEVELS:
        raise ValueError("config log_level: one of debug, info, warning, error")
    if cfg["app"] not in APPS:
        raise ValueError("config app: one of %s" % ", ".join(APPS))
    if cfg["app"] != "handheld":
        validate_gate(cfg)
    return cfg


def _check_tls(b):
    # the files must be there now: a missing one would look like a broker that is down
    if not b.get("ca"):
        raise ValueError("config broker.ca: required with tls (the CA certificate, DER)")
    if bool(b.get("cert")) != bool(b.get("key")):
        raise ValueError("config broker.cert and broker.key: both or neither")
    for k in ("ca", "cert", "key"):
        v = b.get(k)
        if v is None:
            continue
        if not isinstance(v, str):
            raise ValueError("config broker.%s: want a file path" % k)
        try:
            with open(v, "rb") as f:
                head = f.read(1)
        except OSError:
            raise ValueError("config broker.%s: cannot read %s" % (k, v))
        if head != b"\x30":  # a DER SEQUENCE; PEM starts with "-----"
            raise ValueError("config broker.%s: %s is not DER (mbedTLS reads DER only)" % (k, v))
    n = b.get("server_name")
    if n is not None and (not isinstance(n, str) or not 0 < len(n) <= 253):
        raise ValueError("config broker.server_name: want the broker's certificate name")


def validate_gate(cfg):
    c = cfg.get("community")
    if not isinstance(c, str) or len(c) != 12 or any(ch not in "0123456789" for ch in c):
        raise ValueError("config community: want the 12-digit community code as a string")
    for key, lo, hi in _GATE_INTS:
        check_int(cfg, key, lo, hi)
    doors = cfg.get("doors")
    if not isinstance(doors, list) or not 1 <= len(doors) <= 8:
        raise ValueError("config doors: want a list of 1..8 doors")
    seen = []
    for i, d in enumerate(doors):
        _door(d, "config doors[%d]" % i)
        if d["id"] in seen:
            raise ValueError("config doors[%d].id: %s twice" % (i, d["id"]))
        seen.append(d["id"])


def _door(d, at):
    if not isinstance(d, dict):
        raise ValueError("%s: want an object" % at)
    for k in d:
        if k not in _DOOR_KEYS:
            raise ValueError("%s.%s: unknown key (known: %s)" % (at, k, ", ".join(_DOOR_KEYS)))
    i = d.get("id")
    if not isinstance(i, str) or not 0 < len(i) <= 16 or any(ch not in _ID_CHARS for ch in i):
        raise ValueError("%s.id: want 1-16 of A-Z a-z 0-9 _ . -" % at)
    if d.get("dir", "in") not in ("in", "out"):
        raise ValueError("%s.dir: in or out" % at)
    if d.get("fail", "secure") not in ("secure", "open"):
        raise ValueError("%s.fail: secure or open" % at)
    if not isinstance(d.get("passback", False), bool):
        raise ValueError("%s.passback: want true or false" % at)
    for k, lo, hi in (("open_ms", 100, 60000), ("held_open_s", 1, 3600)):
        if k in d:
            v = d[k]
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError("%s.%s: want an integer in %d..%d" % (at, k, lo, hi))


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
