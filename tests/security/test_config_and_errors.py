"""Item 5 of issue 13, the parts that need no server: keys that are no keys, error bodies."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracker_service.api.errors import install_error_handlers
from tracker_service.api.logs import redact_secrets
from tracker_service.config import ConfigError, load_config


@pytest.mark.parametrize(
    "key",
    [" " * 20, "\t" * 16, "valid-part-1234\x00", "spaces in the key 123", "a" * 20, "short-key"],
)
def test_keys_that_are_no_keys_are_refused_at_start_up(key: str) -> None:
    with pytest.raises(ConfigError, match="api_key"):
        load_config(environ={"TRACKER_API_KEY": key})


def test_a_real_key_is_taken() -> None:
    key = "k3y-0f-the-service-0123"
    assert load_config(environ={"TRACKER_API_KEY": key}).service.api_key == key


def test_an_unexpected_error_answers_without_its_details() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER at /srv/data")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    assert "SQLite" not in answer.text and "/srv" not in answer.text
    assert "Overflow" not in answer.text


def test_secrets_in_logged_urls_are_redacted() -> None:
    line = '127.0.0.1 - "WebSocket /v1/streams/a/events?api_key=abc123&x=1" [accepted]'
    assert redact_secrets(line) == (
        '127.0.0.1 - "WebSocket /v1/streams/a/events?api_key=***&x=1" [accepted]'
    )
    assert "tok" not in redact_secrets("GET /x?token=tok HTTP/1.1").split("=")[1]
