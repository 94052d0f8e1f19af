"""The access domain: people, vehicles and schedules of a community, the versioned lists the
gates decide from, face-data rules (consent, template ids, audited captures, retention), the
access log and its alarms (docs/access.md)."""
