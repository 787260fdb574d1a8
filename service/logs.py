"""One structured (JSON) log line per request, and a request id that ties the lines together.

What is logged is chosen field by field: never a body, a header other than
the request id, a password, a token or an upload's content.
"""

import contextlib
import logging
import math
import random
import re
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from flask import Response, g, has_app_context, request
from flask.logging import default_handler
from sqlalchemy.exc import DBAPIError

from .serialization import dumps

REQUEST_LOG = logging.getLogger("service.requests")
_NO_LOCK = contextlib.nullcontext()
# An incoming X-Request-ID is kept only if it looks like an id, so a client cannot write into the log.
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class JSONFormatter(logging.Formatter):
    """Each record as one JSON object; a record's ``fields`` are merged in."""

    # The formatted second of the last record: a busy worker logs many lines within one second.
    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return dumps(line).decode()

    def _time(self, created: float) -> str:
        """``created`` as ISO 8601 in UTC with milliseconds (``2026-12-02T05:40:12.345+00:00``)."""
        fraction, whole = math.modf(created)  # rounded as datetime.fromtimestamp rounds
        second, microsecond = int(whole), round(fraction * 1_000_000)
        if microsecond >= 1_000_000:
            second, microsecond = second + 1, microsecond - 1_000_000
        if self._second[0] != second:
            self._second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{self._second[1]}.{microsecond // 1000:03d}+00:00"

    def formatException(self, ei) -> str:
        """The traceback; a database error keeps its statement but not the values it was about.

        The engine hides bound parameters, but PostgreSQL's own message adds a
        DETAIL with the offending row or key (a password hash, an email), and the
        driver's error is chained in again: both are left out.
        """
        error = ei[1]
        if not isinstance(error, DBAPIError):
            return super().formatException(ei)
        primary = getattr(getattr(error.orig, "diag", None), "message_primary", None)
        summary = primary or str(error.orig).split("\n", 1)[0]
        frames = "".join(traceback.format_tb(ei[2]))
        return (
            f"Traceback (most recent call last):\n{frames}"
            f"{type(error).__module__}.{type(error).__qualname__}: "
            f"({type(error.orig).__name__}) {summary}\n[SQL: {error.statement}]"
        )


class RequestIdFilter(logging.Filter):
    """Stamp every record logged while a request is handled with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if fields is None:
            fields = record.fields = {}
        if "request_id" not in fields and has_app_context():
            fields["request_id"] = g.get("request_id")
        return True


def configure_logging() -> None:
    """JSON lines on stdout for the service's loggers (unless the app runs under pytest's capture)."""
    service_log = logging.getLogger("service")  # also app.logger
    service_log.removeHandler(default_handler)
    if not any(getattr(handler, "_service_json", False) for handler in service_log.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JSONFormatter())
        handler.addFilter(RequestIdFilter())
        handler._service_json = True  # type: ignore[attr-defined]
        service_log.addHandler(handler)
    service_log.setLevel(logging.INFO)


def start_request() -> None:
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
    # Request ids need to be unique, not secret: the per-process generator (reseeded in every
    # forked worker) spares each request a system call for random bytes.
    g.request_id = (
        incoming if incoming and REQUEST_ID_SHAPE.fullmatch(incoming) else f"{random.getrandbits(128):032x}"
    )
    g.request_started = time.perf_counter()


def log_request(response: Response) -> Response:
    """Return the request id to the client and write the request's line."""
    state = g._get_current_object().__dict__  # type: ignore[attr-defined]
    incoming = request._get_current_object()  # type: ignore[attr-defined]
    request_id = state.get("request_id", "")
    response.headers["X-Request-ID"] = request_id
    if not REQUEST_LOG.isEnabledFor(logging.INFO):
        return response
    identity = state.get("identity")
    user = identity.user if identity is not None else None
    operation = state.get("graphql_operation") or {}
    started = state.get("request_started")
    method, path, status = incoming.method, incoming.path, response.status_code
    message = f"{method} {path} {status}"
    fields = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "operation_name": operation.get("name"),
        "operation_type": operation.get("type"),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started is not None else 0.0,
        "user_id": user.id if user is not None else None,
        "client_ip": incoming.remote_addr,
    }
    handler = _sole_json_handler()
    if handler is None or not _write_line(handler, message, fields):
        # Made directly: logging would otherwise walk the stack for a caller nobody reads.
        record = REQUEST_LOG.makeRecord(
            REQUEST_LOG.name, logging.INFO, __file__, 0, message, None, None, extra={"fields": fields}
        )
        REQUEST_LOG.handle(record)
    return response


def _sole_json_handler() -> logging.StreamHandler | None:
    """The service's JSON handler, when it is the one place a request line would go (as set up by
    ``configure_logging``); ``None`` when anything else would see the record (another handler, a
    filter, a handler on the root logger such as pytest's), which then goes through logging."""
    service_log = REQUEST_LOG.parent
    if REQUEST_LOG.handlers or REQUEST_LOG.filters or not REQUEST_LOG.propagate or service_log is None:
        return None
    handlers = service_log.handlers
    if len(handlers) != 1 or service_log.filters or not getattr(handlers[0], "_service_json", False):
        return None
    if service_log.propagate and logging.getLogger().handlers:
        return None
    handler = handlers[0]
    return handler if handler.level <= logging.INFO and isinstance(handler, logging.StreamHandler) else None


def _write_line(handler: logging.StreamHandler, message: str, fields: dict[str, Any]) -> bool:
    """Write the request's line as ``handler`` would format it, without a log record: the line of
    every request, so the record, the filters and the handler chain it would pass are spared.
    False if it could not be written (logging then tries, and reports the failure its way)."""
    formatter = handler.formatter
    if not isinstance(formatter, JSONFormatter):
        return False
    line = {
        "time": formatter._time(time.time()),
        "level": "info",
        "logger": REQUEST_LOG.name,
        "message": message,
        **fields,
    }
    text = dumps(line).decode() + handler.terminator
    with handler.lock or _NO_LOCK:  # as StreamHandler.emit and flush hold it
        try:
            stream = handler.stream
            stream.write(text)
            stream.flush()
        except Exception:
            return False
    return True
