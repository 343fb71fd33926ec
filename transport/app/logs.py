"""Logging set-up: plain text for people, JSON lines for log pipelines (LOG_FORMAT).

Modules log through the standard ``logging``; structlog's ``ProcessorFormatter`` renders every
record, one line per event (in JSON a traceback is a field of that line). Each line carries the
job ids bound where it was logged (``actors.log_context``: ``job_id``, ``blueprint``, ``state``,
``task_id``, ``worker_id``, ``trace_id``), the fields a module passed in ``extra``, the level, the
logger's name and a timestamp in ``TZ`` (ISO 8601 with its offset).
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from actors import log_context


def configure_logging(level: str, fmt: str, timezone: str = "UTC") -> None:
    """Replace the root logger's handlers by one on stderr rendering ``fmt`` (text or json)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    tail: list[Processor] = [structlog.processors.format_exc_info] if fmt == "json" else []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
            foreign_pre_chain=[
                _Timestamper(ZoneInfo(timezone)),
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                add_job_fields,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for chatty in ("aiormq", "aio_pika"):  # every AMQP frame at DEBUG: LOG_LEVEL=DEBUG is about jobs
        logging.getLogger(chatty).setLevel(max(root.level, logging.INFO))


def add_job_fields(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """The ids bound in the context the record was logged in (explicit fields win)."""
    bound = log_context.bound()
    if bound:
        for key, value in bound.items():
            event.setdefault(key, value)
    return event


class _Timestamper:
    """``timestamp``: when the record was made, in ``zone``."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
        record: Any = event.get("_record")
        created = record.created if record is not None else datetime.now().timestamp()
        event["timestamp"] = datetime.fromtimestamp(created, self._zone).isoformat(timespec="milliseconds")
        return event
