"""Hub-signed messages: commands (and the device-side guard), receipts, and state messages."""

from protocol import sealed, topics
from protocol.errors import (
    ExpiredError,
    MalformedError,
    ProtocolError,
    ReplayError,
    WrongTargetError,
)
from protocol.limits import MAX_COMMAND_BYTES, MAX_SEQ, MAX_TS, PROTOCOL_VERSION

CMD_DOMAIN = b"cmd"
RCPT_DOMAIN = b"rcpt"
STATE_DOMAIN = b"state"
CMD_FIELDS = ["args", "cseq", "dev", "exp", "iat", "id", "op", "sig", "v"]
ACK_STATUSES = ("succeeded", "failed", "refused")


def _check_int(value, lo, hi, name, cmd=None):
    if type(value) is not int or not lo <= value <= hi:
        raise MalformedError("%s must be an integer in %d..%d" % (name, lo, hi), cmd)


def seal_command(dev, cseq, cmd_id, op, args, iat, exp, hub_seed):
    """Sealed command bytes for one device, signed with the hub's command key."""
    topics.validate_device_id(dev)
    _check_int(cseq, 1, MAX_SEQ, "cseq")
    _check_int(iat, 0, MAX_TS, "iat")
    _check_int(exp, iat, MAX_TS, "exp")
    if type(cmd_id) is not str or not 1 <= len(cmd_id) <= 64:
        raise MalformedError("command id must be a string of 1-64 characters")
    topics.validate_kind(op)
    if type(args) is not dict:
        raise MalformedError("command args must be an object")
    cmd = {"v": PROTOCOL_VERSION, "dev": dev, "cseq": cseq, "id": cmd_id, "op": op,
           "args": args, "iat": iat, "exp": exp}
    return sealed.seal(cmd, hub_seed, CMD_DOMAIN)


def parse_command(data):
    """Parse and validate a command's shape; no signature, expiry or replay check."""
    cmd = sealed.parse(data, MAX_COMMAND_BYTES)
    if sorted(cmd) != CMD_FIELDS:
        raise MalformedError("command fields must be exactly %s" % ",".join(CMD_FIELDS))
    if cmd["v"] != PROTOCOL_VERSION or type(cmd["v"]) is not int:
        raise MalformedError("unsupported protocol version", cmd)
    try:
        topics.validate_device_id(cmd["dev"])
        topics.validate_kind(cmd["op"])
    except MalformedError as e:
        raise MalformedError(e.message, cmd)
    _check_int(cmd["cseq"], 1, MAX_SEQ, "cseq", cmd)
    _check_int(cmd["iat"], 0, MAX_TS, "iat", cmd)
    _check_int(cmd["exp"], 0, MAX_TS, "exp", cmd)
    if type(cmd["id"]) is not str or type(cmd["args"]) is not dict:
        raise MalformedError("command id must be a string and args an object", cmd)
    return cmd


class CommandGuard:
    """Device-side acceptance of commands: signed by the hub, for this device, not expired,
    newer than the last accepted one. The caller persists `last_cseq` after a success."""

    def __init__(self, hub_public_key, device_id, last_cseq=0):
        self.hub_public_key = bytes(hub_public_key)
        self.device_id = device_id
        self.last_cseq = last_cseq

    def check(self, data, now):
        cmd = parse_command(data)
        try:
            sealed.check(cmd, self.hub_public_key, CMD_DOMAIN)
        except ProtocolError as e:
            e.cmd = cmd
            raise
        if cmd["dev"] != self.device_id:
            raise WrongTargetError("command is for %s" % cmd["dev"], cmd)
        if now > cmd["exp"]:
            raise ExpiredError("command expired at %d (now %d)" % (cmd["exp"], now), cmd)
        if cmd["cseq"] <= self.last_cseq:
            raise ReplayError("cseq %d <= last accepted %d" % (cmd["cseq"], self.last_cseq), cmd)
        self.last_cseq = cmd["cseq"]
        return cmd


def ack_body(cmd, status, detail=""):
    """Body of the `ack` envelope answering `cmd` (None when it could not be parsed)."""
    if status not in ACK_STATUSES:
        raise ValueError("ack status must be one of %s" % (ACK_STATUSES,))
    return {
        "id": cmd.get("id") if cmd else None,
        "cseq": cmd.get("cseq") if cmd else None,
        "status": status,
        "detail": detail,
    }


def seal_receipt(dev, seq, blobs_missing, ts, hub_seed):
    """Hub receipt: events stored through `seq`; `blobs_missing` maps sha256 -> missing indices."""
    topics.validate_device_id(dev)
    _check_int(seq, 0, MAX_SEQ, "seq")
    rcpt = {"v": PROTOCOL_VERSION, "dev": dev, "seq": seq, "blobs": blobs_missing, "ts": ts}
    return sealed.seal(rcpt, hub_seed, RCPT_DOMAIN)


def open_receipt(data, hub_public_key):
    rcpt = sealed.parse(data, MAX_COMMAND_BYTES)
    if sorted(rcpt) != ["blobs", "dev", "seq", "sig", "ts", "v"] or type(rcpt["blobs"]) is not dict:
        raise MalformedError("receipt fields must be blobs, dev, seq, sig, ts, v")
    _check_int(rcpt["seq"], 0, MAX_SEQ, "seq")
    sealed.check(rcpt, hub_public_key, RCPT_DOMAIN)
    return rcpt


def seal_state(dev, online, session, ts, seed, fw=None, lists=None, seq=None, hw=None):
    """A device birth / last will (dev = device id) or the hub state (dev = None). A birth
    may carry `lists`, the device's access-list version (0 = no list), and `seq`, the highest
    envelope seq the device has assigned (0 = none yet; the hub's revocation watermark), and
    `hw`, the hardware name bundles are matched against (protocol/bundle.py)."""
    if dev is not None:
        topics.validate_device_id(dev)
    _check_int(session, 0, MAX_SEQ, "session")
    msg = {"v": PROTOCOL_VERSION, "dev": dev, "online": bool(online), "session": session, "ts": ts}
    if fw is not None:
        msg["fw"] = fw
    if hw is not None:
        if type(hw) is not str or not 1 <= len(hw) <= 64:
            raise MalformedError("hw must be a string of 1-64 characters")
        msg["hw"] = hw
    if lists is not None:
        _check_int(lists, 0, MAX_SEQ, "lists")
        msg["lists"] = lists
    if seq is not None:
        _check_int(seq, 0, MAX_SEQ, "seq")
        msg["seq"] = seq
    return sealed.seal(msg, seed, STATE_DOMAIN)


def open_state(data, public_key=None):
    """Parse a state message; check its signature when `public_key` is given."""
    msg = sealed.parse(data, MAX_COMMAND_BYTES)
    for k in ("dev", "online", "session", "ts", "v"):
        if k not in msg:
            raise MalformedError("state message lacks %s" % k)
    if type(msg["online"]) is not bool:
        raise MalformedError("online must be true or false")
    _check_int(msg["session"], 0, MAX_SEQ, "session")
    if "lists" in msg:
        _check_int(msg["lists"], 0, MAX_SEQ, "lists")
    if "seq" in msg:
        _check_int(msg["seq"], 0, MAX_SEQ, "seq")
    if public_key is not None:
        sealed.check(msg, public_key, STATE_DOMAIN)
    return msg
