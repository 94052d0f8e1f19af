"""Grid workers on the hub (issue 16, items 1-2): PINs, the worker list each grid's handheld
holds, sign-in sessions, and the check that an event's worker was signed in."""
