"""Personal data kept out of the hub's logs: the access log's request lines carry the query
string, and a base-data search puts an ID number or a phone there (``?id_number=...``)."""

from __future__ import annotations

import logging
import re

# query parameters whose values may be personal data: replaced by "***" in logged paths
SENSITIVE = ("id_number", "phone", "q", "name", "credit_code")
_PARAM = re.compile(r"([?&](?:%s)=)[^&#\s]*" % "|".join(SENSITIVE))


def redact(path: str) -> str:
    """``path`` with the values of its sensitive query parameters replaced by ``***``."""
    return _PARAM.sub(r"\1***", path)


class RedactQuery(logging.Filter):
    """For uvicorn's access log: its record's args are (client, method, path, version,
    status); the path's sensitive query values are redacted before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    """Redact the access log of this process (``gridlink hub run``)."""
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())
