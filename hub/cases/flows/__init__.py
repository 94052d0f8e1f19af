"""Orchestration of the case workflow, one module per trigger: ``device_events`` (reports and
on-site verifications from devices), ``unit_feedback`` (a unit's result over HTTP) and
``supervision`` (the timer pass). Each calls the transitions in ``hub.cases.actions``; none
commits: the caller owns the transaction (the ingest worker its batch, the API its request)."""
