"""Signed commands to devices: queue, dispatch, retries, expiry, acks."""
