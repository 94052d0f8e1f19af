# The device configuration: one JSON file written by provisioning, merged over DEFAULTS (the
# only defaults: Device.opt falls back to them for a config that did not go through load()).
#   cfg = config.load("/config.json")   # ValueError naming the key when something is wrong
# Nested dicts (broker, hal, sim) are merged one level deep, so a config may set only
# {"broker": {"host": "10.0.0.5"}} and keep the other broker defaults.
# What only load() needs (merge, the checks of the whole file) is start-up-only code in
# config_load.py: main.py drops that module after loading, so its bytecode leaves the heap.
from protocol.limits import CHUNK_SIZE

# The firmware version, the one place it lives: the device reports it as "fw" in its birth
# message and heartbeat.
VERSION = "0.1.0"

DEFAULTS = {
    "broker": {
        "host": "127.0.0.1",
        "port": 1883,
        "user": None,
        "password": None,
        "tls": False,
        "ca": None,  # TLS: the CA certificate (DER) the broker's must chain to
        "cert": None,  # the device's client certificate and key (DER), when the broker
        "key": None,  # requires one (docs/tls.md)
        "server_name": None,  # the name the broker's certificate must carry (None: host)
        "keepalive": 30,
    },
    "app": "handheld",
    "flash": "/flash",
    "chunk_size": CHUNK_SIZE,
    "heartbeat_s": 300,
    "track_s": 30,
    # handheld sign-in (apps/handheld/roster.py): wrong PINs in a row that lock a worker id,
    # for how long; a signed-in worker idle this long is signed out (0: never)
    "pin_tries": 5,
    "pin_lock_s": 300,
    "idle_signout_s": 1800,
    "outbox_bytes": 8 * 1024 * 1024,
    "require_hub": True,  # flush the outbox only while the retained hub state says online
    "backoff_min_ms": 500,
    "backoff_max_ms": 30000,
    "log_level": "info",
    "trim_on": "receipt",  # keep a record until a verified hub receipt covers it (or "puback")
    "keep_media": False,  # keep uploaded media (up to 32 files) for chunks a receipt lists missing
    "cmd_queue": 8,  # commands queued before more are dropped (the hub retries them)
    "video_max_s": 30,  # the longest video clip a handheld report records (1..300)
    # gates (apps access / face / barrier; docs/access.md section 1)
    "face_threshold": 80,  # lowest face similarity granted
    "plate_threshold": 85,  # lowest plate confidence granted
    "tz_offset_s": 28800,  # schedules are local time
    "batch_events": 8,  # events per signed access envelope ...
    "batch_s": 5,  # ... or seconds after the first, whichever first
    "capture_bytes": 12000,  # face / plate capture photo size (sim camera)
    "stranger_repeat": 3,  # the same unknown face this often ...
    "stranger_window_s": 600,  # ... within this window raises stranger_repeated
    "storage_alarm_pct": 80,  # storage_low above this share of outbox_bytes
    "fail_open_after_s": 60,  # a fail-open door goes always-open this long without the link
    # firmware updates (lib/ota.py; docs/firmware.md, "OTA")
    "ops_key": None,  # the ops public key bundles must be signed by (64 hex); None: refused
    "hw": "generic",  # the hardware name bundles are matched against (births carry it)
    "ota_chunk": 4096,  # bytes per firmware download request
    "ota_trial_s": 180,  # a new firmware on probation rolls back unless confirmed by then
    # "live": download while the app runs (the gates keep deciding access); "reboot": the
    # update mode, a reboot into lib/updater.py (the handheld). None: by app (config_load)
    "ota_mode": None,
    "ota_mode_timeout_s": 600,  # the update mode gives up ("download: timeout") after this
}

def check_int(cfg, key, lo, hi):
    v = cfg[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        raise ValueError("config %s: want an integer in %d..%d" % (key, lo, hi))


# keys a signed "config" command may change, checked like load() checks them (0 = off)
REMOTE = {"heartbeat_s": (0, 86400), "track_s": (0, 86400), "track_batch": (1, 1024),
          "pin_tries": (1, 100), "pin_lock_s": (0, 86400), "idle_signout_s": (0, 86400),
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
    check_int({key: value}, key, lo, hi)


def load(path):
    """Read, merge over DEFAULTS and validate the device config at path."""
    import config_load

    return config_load.load(path)
