"""Every protocol limit as a named constant (docs/protocol.md section 9)."""

PROTOCOL_VERSION = 1

MAX_ENVELOPE_BYTES = 32768  # one sealed event envelope
MAX_COMMAND_BYTES = 16384  # one sealed command, receipt or state message
MAX_BLOBS = 16  # media items listed in one envelope
MAX_BLOB_BYTES = 64 * 1024 * 1024  # one photo / audio clip / short video
CHUNK_SIZE = 16384  # default media chunk payload
MAX_CHUNK_SIZE = 65536  # largest chunk payload a receiver accepts
MAX_CLOCK_SKEW_S = 300  # an event stamped further in the future is rejected
LIVE_WINDOW_S = 120  # an event older than this on arrival is historical
MAX_DEVICE_ID_LEN = 64
MAX_KIND_LEN = 32
MAX_MIME_LEN = 64
MAX_SEQ = (1 << 53) - 1  # JSON-safe integer range for seq / cseq
MAX_TS = (1 << 40) - 1

GENESIS = "0" * 64  # `prev` of a device's first envelope
