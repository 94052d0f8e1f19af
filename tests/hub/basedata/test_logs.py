"""The access log never holds an ID number or a phone from a base-data search's query."""

from __future__ import annotations

import logging

from hub.privacy.logs import RedactQuery, redact

MAN = "330102198503120014"


def test_sensitive_query_values_are_redacted() -> None:
    path = f"/api/basedata/residents?id_number={MAN}&purpose=x&phone=13800138000&q=张伟&limit=5"
    got = redact(path)
    assert MAN not in got and "13800138000" not in got and "张伟" not in got
    assert got == ("/api/basedata/residents?id_number=***&purpose=x&phone=***&q=***&limit=5")
    assert redact("/api/cases?status=filed") == "/api/cases?status=filed"


def test_the_access_log_filter_redacts_uvicorns_record() -> None:
    args = ("127.0.0.1:5", "GET", f"/api/basedata/residents?id_number={MAN}", "1.1", 200)
    fmt = '%s - "%s %s HTTP/%s" %d'
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, fmt, args, None)
    assert RedactQuery().filter(record)
    assert MAN not in record.getMessage()
    assert "id_number=***" in record.getMessage()
