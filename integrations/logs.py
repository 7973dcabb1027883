"""Structured logs: one JSON object per line, and the request id that ties a request to the tasks it queued.

``loyalty_site.middleware`` sets the request id (the caller's ``X-Request-ID`` or a new one) for the request's
duration; ``loyalty_site.celery`` copies it into the headers of every task the request queues and back into the
worker's context while the task runs. ``RequestIdFilter`` puts it on every log record, so a line logged anywhere
during a request or task carries it. Nothing personal goes into these lines: members appear as a keyed hash of
their number (``member_hash``), API keys as their public prefix, URLs as the resolver's route template.
"""

import contextvars
import hashlib
import hmac
import json
import logging
import re
import uuid
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

#: An incoming X-Request-ID is kept only if it looks like an id (no spaces, quotes or control characters).
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

#: LogRecord's own attributes; every other attribute a caller passed in ``extra=`` goes into the JSON line.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def request_id_new(incoming: str | None = None) -> str:
    """The caller's id when it is well formed, otherwise a new random one."""
    if incoming and _REQUEST_ID_RE.match(incoming):
        return incoming
    return uuid.uuid4().hex


def member_hash(number: str | None) -> str:
    """A stable, keyed, one-way token for a member number: lines of one member can be matched, not read back."""
    if not number:
        return ""
    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode(), str(number).encode(), hashlib.sha256).hexdigest()[:16]


class RequestIdFilter(logging.Filter):
    """Adds the current request id (or "") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))
