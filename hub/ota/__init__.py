"""Firmware over the air (docs/ota.md): signed bundles, staged rollouts, the download server."""
