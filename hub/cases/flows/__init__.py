"""Orchestration of the case workflow, one module per trigger: ``device_events`` (reports and
on-site verifications from devices), ``unit_feedback`` (a unit's result over HTTP),
``supervision`` (the timer pass) and ``blob_arrival`` (a blob completed: the on-site
verifications waiting for it). Each calls the transitions in ``hub.cases.actions``; none
commits: the caller owns the transaction (the ingest worker its batch, the API its request)."""
