"""Every log record of the process is scrubbed of secrets, whoever emits it."""

from __future__ import annotations

import logging

from promptlift import redaction


def test_registered_secrets_bearer_tokens_and_url_passwords_are_masked():
    redaction.register("sk-registered-0123456789")
    text = ("key sk-registered-0123456789 header Bearer abc.def-123 url http://user:hunter2@host/v1 "
            "query http://h/v1?api_key=zzz&x=1 short")
    assert redaction.redact(text) == ("key *** header Bearer *** url http://user:***@host/v1 "
                                      "query http://h/v1?api_key=***&x=1 short")
    redaction.register("tiny")  # too short to be a key: masking it would mangle ordinary words
    assert redaction.redact("tiny") == "tiny"


def test_records_of_any_logger_are_scrubbed_with_their_arguments_and_traceback(caplog, monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "env-secret-abcdef123")
    redaction.install()
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError("boom env-secret-abcdef123")
    except ValueError:
        logging.getLogger("httpcore.http11").debug("headers %s", [(b"x-echo", b"env-secret-abcdef123")], exc_info=True)
    text = caplog.text + "".join(r.getMessage() + str(r.exc_text) for r in caplog.records)
    assert "env-secret-abcdef123" not in text and "***" in text
