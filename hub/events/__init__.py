"""Verified device events, rejection counters and hash-chain gaps."""
