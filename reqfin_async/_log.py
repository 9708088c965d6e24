"""The library's logger: the stdlib logger ``reqfin_async`` wrapped by structlog.

A library never configures logging: no handler, level or structlog global is
set here. Events are key-value (``log.debug("http_request", method="GET", ...)``)
and reach the stdlib logger as one readable logfmt-style message, with the
same pairs attached as ``extra`` fields for structured handlers. Every value
passes through redaction first, so a token cannot reach a handler.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, cast

import structlog

from ._redact import redact_value

LOGGER_NAME = "reqfin_async"
stdlib_logger = logging.getLogger(LOGGER_NAME)

# LogRecord attributes that an `extra` key may not overwrite.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if key != "event":
            event_dict[key] = redact_value(key, value)
    return event_dict


def _format_value(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def _to_stdlib(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    event = str(event_dict.pop("event", ""))
    pairs = " ".join(f"{k}={_format_value(v)}" for k, v in event_dict.items())
    extra = {(f"{k}_" if k in _RESERVED else k): v for k, v in event_dict.items()}
    extra["event_name"] = event
    return {"msg": f"{event} {pairs}" if pairs else event, "extra": extra}


def get_logger(**initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``reqfin_async`` (or a child named by ``name=``).

    ::

        log = get_logger(component="poller")
        log.info("watch_finished", request_id=rid, reason="paid")
    """
    name = initial_values.pop("name", None)
    target = stdlib_logger.getChild(name) if name else stdlib_logger
    return cast(
        structlog.stdlib.BoundLogger,
        structlog.wrap_logger(
            target,
            processors=[structlog.stdlib.filter_by_level, _redact, _to_stdlib],
            wrapper_class=structlog.stdlib.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=True,
            **initial_values,
        ),
    )


def debug_enabled() -> bool:
    """Cheap guard for hot paths: build a debug event only when someone listens."""
    return stdlib_logger.isEnabledFor(logging.DEBUG)
