"""shared.logging: what configure_logging leaves on and off."""

from __future__ import annotations

import logging

from shared.logging import configure_logging


def test_http_clients_per_request_lines_are_off() -> None:
    """twilio's clients dump every REST call at INFO and httpx2 (the OpenAI SDK's client) logs each request: at
    the production level (INFO) a worker would write a line per message for each."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)  # as in a service (pytest's handlers make basicConfig's level a no-op here)
    try:
        configure_logging("logging-test", "INFO")
        assert logging.getLogger("services.channels.outbound").isEnabledFor(logging.INFO)  # ours stay on
        for name in ("twilio.http_client", "twilio.async_http_client", "httpx2", "httpx", "uvicorn.access"):
            assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    finally:
        root.setLevel(before)
