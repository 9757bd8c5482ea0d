"""Secrets never reach a log line: every record of the process is scrubbed as it is created.

SDK loggers (openai, httpx, httpcore, litellm) at DEBUG print request and response headers; a
server that echoes the key in a header (or a proxy that logs it) would put it on the screen or
into a log file. ``install()`` wraps the log record factory, so every record, whoever emits it
and whichever handler prints it, has its message, arguments and traceback text scrubbed of
registered secrets, of ``Bearer`` tokens and of passwords in URLs. Secrets are registered by
``Secret`` (``backends/api.py``) and, at ``install()``, taken from environment variables whose
names say they hold one (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD``).
"""

from __future__ import annotations

import logging
import os
import re
import threading

MASK = "***"
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_INSTALLED = False
_ENV_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
_PATTERNS = (
    (re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (re.compile(r"(://[^/\s:@]*:)[^/\s@]+@"), r"\1" + MASK + "@"),
    (re.compile(r"([?&](?:api[_-]?key|key|token|access_token|sig|password|secret)=)[^&\s'\"]+", re.IGNORECASE),
     r"\1" + MASK),
)


def register(value: str | None, *, min_length: int = 8) -> None:
    """Treat ``value`` as a secret from now on (too short a value would mask ordinary text)."""
    if value and len(value) >= min_length:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret, Bearer token and URL password replaced by ``***``."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub one record in place: the formatted message, and the traceback text if any."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record: leave it to the handler's error path
        return record
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install() -> None:
    """Scrub every log record of this process from now on; register secrets found in the environment."""
    global _INSTALLED
    for name, value in os.environ.items():
        if _ENV_NAME.search(name):
            register(value, min_length=8)
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
    make = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return scrub(make(*args, **kwargs))

    logging.setLogRecordFactory(factory)
