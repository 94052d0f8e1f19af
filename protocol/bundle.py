"""Firmware bundles (OTA): a manifest signed by the ops key, the download requests and
replies on the firmware channel, the `ota` command's args and the `ota` event's body.

Manifest (canonical JSON, sealed in domain b"bundle" by the ops key, which the hub never
holds; docs/ota.md):

    {"v": 1, "name": "gridlink-fw", "version": "0.2.0", "kinds": ["handheld"],
     "hw": ["sim-unix"], "min_hub": 1,
     "files": [{"path": "lib/device.py", "sha256": "<hex>", "size": 14032}, ...], "sig": "<hex>"}

`hw` may hold "*" (any hardware). Files are sorted by path; paths are relative, made of
[A-Za-z0-9_.-] segments joined by "/", never "." or "..".

Download (the blob channel in reverse): the device publishes an unsigned request on
gl/v1/{dev}/fwreq (topics.fwreq),
{"cs": <chunk size>, "i": <index>, "sha": "<hex>"}, for the manifest (its
SHA-256 is in the signed `ota` command) or one of its files; the hub answers on
gl/v1/{dev}/fw with one chunk frame (protocol.chunking: b"GLB1" | sha | index | total |
payload) or, when it will not serve, an error object {"error": reason, "i": .., "sha": ..}.
Nothing needs the requests signed: the hub serves only the files of a bundle rolled out to
that device, and the device checks every byte against the signed manifest.
"""

import hashlib

from protocol import canonical, chunking, sealed
from protocol.errors import MalformedError, OversizeError, ProtocolError
from protocol.limits import CHUNK_SIZE, PROTOCOL_VERSION

DOMAIN = b"bundle"
FIELDS = ("files", "hw", "kinds", "min_hub", "name", "sig", "v", "version")
KINDS = ("handheld", "access", "face", "barrier")
ANY_HW = "*"
MAX_MANIFEST_BYTES = 32768
MAX_FILES = 256
MAX_FILE_BYTES = 512 * 1024
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
MAX_PATH_LEN = 128
MAX_NAME_LEN = 64
MIN_FETCH_CHUNK = 512
MAX_FETCH_CHUNK = CHUNK_SIZE
# per-device states of an update; the hub adds "queued" before the device is told
STATES = ("downloading", "verified", "updating", "updated", "failed", "rolled_back")
MAX_REASON_LEN = 120

_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
_NAME_CHARS = _PATH_CHARS


class BundleError(ProtocolError):
    """A bundle the device (or hub) must refuse. `reason` is one of: unsigned, bad_signature,
    malformed, incompatible_kind, incompatible_hw, not_newer, hub_too_old, too_large,
    bad_file."""

    reason = "bad_bundle"
    sha = None  # a hub refusal (parse_fetch_reply): the request it answers
    i = None

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def _check_int(value, lo, hi, name):
    if type(value) is not int or not lo <= value <= hi:
        raise MalformedError("%s must be an integer in %d..%d" % (name, lo, hi))


def _check_name(s, what, n=MAX_NAME_LEN):
    if type(s) is not str or not 1 <= len(s) <= n:
        raise MalformedError("%s must be a string of 1-%d characters" % (what, n))
    for ch in s:
        if ch not in _NAME_CHARS:
            raise MalformedError("%s has a forbidden character: %r" % (what, ch))
    return s


def parse_version(s):
    """(major, minor, patch) of "M.m.p" (each 0-99999); MalformedError otherwise."""
    if type(s) is not str or not 5 <= len(s) <= 20:
        raise MalformedError("version must look like 1.2.3")
    parts = s.split(".")
    if len(parts) != 3:
        raise MalformedError("version must look like 1.2.3: %r" % s)
    out = []
    for p in parts:
        if not p or len(p) > 5 or (len(p) > 1 and p[0] == "0"):
            raise MalformedError("version must look like 1.2.3: %r" % s)
        for ch in p:
            if ch not in "0123456789":
                raise MalformedError("version must look like 1.2.3: %r" % s)
        out.append(int(p))
    return tuple(out)


def validate_path(path):
    """A bundle file path: relative, [A-Za-z0-9_.-] segments, no "." / ".." / empty ones; not
    the device's own names in a stage (the top-level manifest.json, a download's .part)."""
    if type(path) is not str or not 1 <= len(path) <= MAX_PATH_LEN:
        raise MalformedError("file path must be a string of 1-%d characters" % MAX_PATH_LEN)
    if path == "manifest.json" or path.endswith(".part"):
        raise MalformedError("file path %r is reserved (manifest.json, *.part)" % path)
    for seg in path.split("/"):
        if seg in ("", ".", ".."):
            raise MalformedError("file path %r has an empty, '.' or '..' segment" % path)
        for ch in seg:
            if ch not in _PATH_CHARS:
                raise MalformedError("file path %r has a forbidden character %r" % (path, ch))
    return path


def file_entry(path, sha256, size):
    validate_path(path)
    if not sealed.is_hex(sha256, 64):
        raise MalformedError("file %s: sha256 must be 64 lower-case hex characters" % path)
    _check_int(size, 0, MAX_FILE_BYTES, "file size")
    return {"path": path, "sha256": sha256, "size": size}


def _check_manifest(m):
    if sorted(m) != list(FIELDS):
        raise MalformedError("manifest fields must be exactly %s" % ",".join(FIELDS))
    if m["v"] != 1 or type(m["v"]) is not int:
        raise MalformedError("unsupported manifest version")
    _check_name(m["name"], "bundle name")
    parse_version(m["version"])
    _check_int(m["min_hub"], 1, 1 << 16, "min_hub")
    kinds = m["kinds"]
    if type(kinds) is not list or not 1 <= len(kinds) <= len(KINDS):
        raise MalformedError("kinds must be a list of 1-%d device kinds" % len(KINDS))
    for k in kinds:
        if k not in KINDS:
            raise MalformedError("unknown device kind %r" % (k,))
    hw = m["hw"]
    if type(hw) is not list or not 1 <= len(hw) <= 32:
        raise MalformedError("hw must be a list of 1-32 hardware names")
    for h in hw:
        if h != ANY_HW:
            _check_name(h, "hardware name")
    files = m["files"]
    if type(files) is not list or not 1 <= len(files) <= MAX_FILES:
        raise MalformedError("files must be a list of 1-%d entries" % MAX_FILES)
    total = 0
    last = None
    for f in files:
        if type(f) is not dict or sorted(f) != ["path", "sha256", "size"]:
            raise MalformedError("each file must be exactly {path, sha256, size}")
        file_entry(f["path"], f["sha256"], f["size"])
        if last is not None and f["path"] <= last:
            raise MalformedError("files must be sorted by path, each once: %s" % f["path"])
        last = f["path"]
        total += f["size"]
    if total > MAX_BUNDLE_BYTES:
        raise OversizeError("bundle of %d bytes exceeds %d" % (total, MAX_BUNDLE_BYTES))
    return m


def build(name, version, kinds, hw, files, min_hub=PROTOCOL_VERSION):
    """An unsigned manifest, validated; `files` as file_entry() dicts (sorted here)."""
    files = sorted(files, key=lambda f: f["path"])
    m = {"v": 1, "name": name, "version": version, "kinds": list(kinds), "hw": list(hw),
         "min_hub": min_hub, "files": files, "sig": "0" * 128}
    _check_manifest(m)
    del m["sig"]
    return m


def seal(manifest, ops_seed):
    """The sealed manifest bytes (canonical JSON with the ops key's `sig`)."""
    data = sealed.seal(manifest, ops_seed, DOMAIN)
    if len(data) > MAX_MANIFEST_BYTES:
        raise OversizeError("manifest of %d bytes exceeds %d" % (len(data), MAX_MANIFEST_BYTES))
    return data


def parse(data):
    """The manifest in `data`, its shape checked; no signature check. BundleError("unsigned")
    for a manifest without `sig`, ("malformed") or ("too_large") for the rest."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError("too_large", "manifest of %d bytes exceeds %d"
                          % (len(data), MAX_MANIFEST_BYTES))
    try:
        obj = canonical.loads_canonical(data)
    except ProtocolError as e:
        raise BundleError("malformed", "manifest: " + e.message)
    if type(obj) is not dict:
        raise BundleError("malformed", "manifest is not a JSON object")
    if "sig" not in obj:
        raise BundleError("unsigned", "manifest carries no signature")
    if not sealed.is_hex(obj["sig"], 128):
        raise BundleError("malformed", "sig must be 128 lower-case hex characters")
    try:
        return _check_manifest(obj)
    except OversizeError as e:
        raise BundleError("too_large", e.message)
    except ProtocolError as e:
        raise BundleError("malformed", e.message)


def open(data, ops_public_key):
    """parse() and check the ops key's signature (BundleError("bad_signature"))."""
    m = parse(data)
    try:
        sealed.check(m, ops_public_key, DOMAIN)
    except ProtocolError:
        raise BundleError("bad_signature", "manifest is not signed by the ops key")
    return m


def accept(manifest, kind, hw, running, hub_protocol=None):
    """Raise BundleError unless this device (kind, hardware name, running version string)
    may install the manifest: its kind and hardware listed, a strictly newer version, and,
    when `hub_protocol` is given, a hub at least as new as `min_hub`."""
    if kind not in manifest["kinds"]:
        raise BundleError("incompatible_kind", "bundle is for %s, not %s"
                          % (",".join(manifest["kinds"]), kind))
    if ANY_HW not in manifest["hw"] and hw not in manifest["hw"]:
        raise BundleError("incompatible_hw", "bundle is for hardware %s, not %s"
                          % (",".join(manifest["hw"]), hw))
    if running is not None and parse_version(manifest["version"]) <= parse_version(running):
        raise BundleError("not_newer", "bundle %s is not newer than the running %s"
                          % (manifest["version"], running))
    if hub_protocol is not None and manifest["min_hub"] > hub_protocol:
        raise BundleError("hub_too_old", "bundle needs hub protocol %d, hub speaks %d"
                          % (manifest["min_hub"], hub_protocol))


def digest(data):
    """The manifest's id: SHA-256 hex of its sealed bytes (what the `ota` command names)."""
    return hashlib.sha256(data).digest().hex()


def check_file(stream, entry, buf):
    """Hash `stream` (read through `buf`) against a manifest file entry; BundleError
    ("bad_file") on a size or hash mismatch."""
    h = hashlib.sha256()
    n = 0
    mv = memoryview(buf)
    while True:
        got = stream.readinto(buf)
        if not got:
            break
        h.update(mv[:got])
        n += got
        if n > entry["size"]:
            break
    if n != entry["size"] or h.digest().hex() != entry["sha256"]:
        raise BundleError("bad_file", "file %s does not match the manifest" % entry["path"])


# --- the firmware download channel --------------------------------------------------------------


def fetch_request(sha256, index, chunk_size):
    """The request bytes for chunk `index` (of `chunk_size` bytes) of the file `sha256`."""
    if not sealed.is_hex(sha256, 64):
        raise MalformedError("sha must be 64 lower-case hex characters")
    _check_int(index, 0, MAX_BUNDLE_BYTES // MIN_FETCH_CHUNK, "i")
    _check_int(chunk_size, MIN_FETCH_CHUNK, MAX_FETCH_CHUNK, "cs")
    return canonical.dumps({"cs": chunk_size, "i": index, "sha": sha256})


def parse_fetch_request(data):
    """(sha256 hex, index, chunk size) of a request; MalformedError / OversizeError."""
    if len(data) > 256:
        raise OversizeError("firmware request of %d bytes" % len(data))
    req = canonical.loads_canonical(data)
    if type(req) is not dict or sorted(req) != ["cs", "i", "sha"]:
        raise MalformedError("firmware request fields must be exactly cs, i, sha")
    fetch_request(req["sha"], req["i"], req["cs"])
    return req["sha"], req["i"], req["cs"]


def fetch_error(sha256, index, reason):
    """The hub's refusal of a request (reason: a short code such as not_offered)."""
    return canonical.dumps({"error": reason, "i": index, "sha": sha256})


def parse_fetch_reply(data):
    """(sha256 hex, index, total, payload memoryview) of a chunk reply; BundleError with the
    hub's reason (prefixed "hub_") and the request's .sha and .i for a refusal;
    MalformedError for anything else."""
    if len(data) >= 1 and data[0] == 0x7B:  # "{"
        obj = canonical.loads_canonical(data)
        if type(obj) is not dict or type(obj.get("error")) is not str:
            raise MalformedError("firmware reply is neither a chunk nor an error")
        e = BundleError("hub_" + obj["error"][:32], "hub refused: %s" % obj["error"][:64])
        e.sha = obj.get("sha")  # a device ignores a refusal of another request
        e.i = obj.get("i")
        raise e
    return chunking.parse_frame(data)


# --- the `ota` command and event ----------------------------------------------------------------


def command_args(rollout, manifest_sha, size, version):
    """The args of the hub's signed `ota` command."""
    args = {"rollout": rollout, "manifest": manifest_sha, "size": size, "version": version}
    check_command_args(args)
    return args


def check_command_args(args):
    if type(args) is not dict or sorted(args) != ["manifest", "rollout", "size", "version"]:
        raise MalformedError("ota args must be exactly manifest, rollout, size, version")
    _check_name(args["rollout"], "rollout")
    if not sealed.is_hex(args["manifest"], 64):
        raise MalformedError("manifest must be 64 lower-case hex characters")
    _check_int(args["size"], 2, MAX_MANIFEST_BYTES, "size")
    parse_version(args["version"])
    return args


def event_body(rollout, manifest_sha, version, state, reason=None, done=0, total=0):
    """The body of an `ota` event (kind "ota"): one step of an update on the device."""
    body = {"rollout": rollout, "manifest": manifest_sha, "version": version, "state": state,
            "reason": reason, "done": done, "total": total}
    check_event_body(body)
    return body


def check_event_body(body):
    if type(body) is not dict or sorted(body) != ["done", "manifest", "reason", "rollout",
                                                  "state", "total", "version"]:
        raise MalformedError("ota body fields must be done, manifest, reason, rollout, "
                             "state, total, version")
    if body["rollout"] is not None:
        _check_name(body["rollout"], "rollout")
    if not sealed.is_hex(body["manifest"], 64):
        raise MalformedError("manifest must be 64 lower-case hex characters")
    parse_version(body["version"])
    if body["state"] not in STATES:
        raise MalformedError("unknown ota state %r" % (body["state"],))
    r = body["reason"]
    if r is not None and (type(r) is not str or not 1 <= len(r) <= MAX_REASON_LEN):
        raise MalformedError("reason must be null or a string of 1-%d characters"
                             % MAX_REASON_LEN)
    _check_int(body["done"], 0, MAX_BUNDLE_BYTES, "done")
    _check_int(body["total"], 0, MAX_BUNDLE_BYTES, "total")
    return body
