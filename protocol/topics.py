"""MQTT topics `gl/v1/{device_id}/...` and device-id / kind validation."""

from protocol.errors import DeviceIdError, MalformedError
from protocol.limits import MAX_DEVICE_ID_LEN, MAX_KIND_LEN

PREFIX = "gl/v1"
HUB_STATE = PREFIX + "/hub/state"
EVT_ALL = PREFIX + "/+/evt/+"
BLOB_ALL = PREFIX + "/+/blob"
ACK_ALL = PREFIX + "/+/ack"
STATE_ALL = PREFIX + "/+/state"
FWREQ_ALL = PREFIX + "/+/fwreq"  # firmware download requests (protocol/bundle.py)
CHANNELS = ("evt", "blob", "cmd", "ack", "state", "rcpt", "fw", "fwreq")

_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
_KIND_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def validate_device_id(dev):
    if type(dev) is not str or not 1 <= len(dev) <= MAX_DEVICE_ID_LEN:
        raise DeviceIdError("device id must be a string of 1-%d characters" % MAX_DEVICE_ID_LEN)
    for ch in dev:
        if ch not in _ID_CHARS:
            raise DeviceIdError("device id has a forbidden character: %r" % ch)
    if dev == "hub":
        raise DeviceIdError("device id 'hub' is reserved")
    return dev


def validate_kind(kind):
    if type(kind) is not str or not 1 <= len(kind) <= MAX_KIND_LEN:
        raise MalformedError("kind must be a string of 1-%d characters" % MAX_KIND_LEN)
    for ch in kind:
        if ch not in _KIND_CHARS:
            raise MalformedError("kind has a forbidden character: %r" % ch)
    return kind


def evt(dev, kind):
    return "%s/%s/evt/%s" % (PREFIX, validate_device_id(dev), validate_kind(kind))


def _topic(dev, channel):
    return "%s/%s/%s" % (PREFIX, validate_device_id(dev), channel)


def blob(dev):
    return _topic(dev, "blob")


def cmd(dev):
    return _topic(dev, "cmd")


def ack(dev):
    return _topic(dev, "ack")


def state(dev):
    return _topic(dev, "state")


def rcpt(dev):
    return _topic(dev, "rcpt")


def fw(dev):
    """hub -> device: firmware download replies (protocol/bundle.py)"""
    return _topic(dev, "fw")


def fwreq(dev):
    """device -> hub: firmware download requests (protocol/bundle.py)"""
    return _topic(dev, "fwreq")


def parse(topic):
    """Split a topic into (device_id, channel, kind or None); MalformedError if not ours."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] + "/" + parts[1] != PREFIX:
        raise MalformedError("not a gl/v1 topic: %r" % topic)
    dev, channel = parts[2], parts[3]
    validate_device_id(dev)
    if channel == "evt" and len(parts) == 5:
        return dev, channel, validate_kind(parts[4])
    if channel in CHANNELS and channel != "evt" and len(parts) == 4:
        return dev, channel, None
    raise MalformedError("unknown topic layout: %r" % topic)
