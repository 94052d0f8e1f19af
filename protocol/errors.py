"""Protocol errors. Each has a short `reason` code used in counters and logs."""


class ProtocolError(ValueError):
    reason = "protocol"

    def __init__(self, message, cmd=None):
        super().__init__(message)
        self.message = message
        # For refused commands: the parsed command (or None) so the device can still ack it.
        self.cmd = cmd


class MalformedError(ProtocolError):
    reason = "malformed"


class NonCanonicalError(MalformedError):
    reason = "non_canonical"


class OversizeError(ProtocolError):
    reason = "oversize"


class DeviceIdError(MalformedError):
    reason = "bad_device_id"


class SignatureError(ProtocolError):
    reason = "bad_signature"


class ExpiredError(ProtocolError):
    reason = "expired"


class ReplayError(ProtocolError):
    reason = "replayed"


class WrongTargetError(ProtocolError):
    reason = "wrong_target"


class SkewError(ProtocolError):
    reason = "clock_skew"


class BlobError(ProtocolError):
    reason = "bad_blob"
