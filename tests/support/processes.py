"""``privacy-service`` commands run as real processes against the test database and SMTP server
(workers that tests kill, several workers at once)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import Flask


def service_process(app: Flask, *arguments: str, **settings: Any) -> subprocess.Popen:
    """``privacy-service ARGUMENTS`` with the test app's database, keys, relay and ``settings``
    (as ``PRIVACY_SERVICE_<NAME>`` variables)."""
    command = "from privacy_service.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", command, *arguments],
        env=service_environment(app, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def service_environment(app: Flask, **settings: Any) -> dict[str, str]:
    """The environment of a service process sharing the test app's database, keys and relay."""
    config = app.config
    env = {
        **os.environ,
        "PRIVACY_SERVICE_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "PRIVACY_SERVICE_ENCRYPTION_KEYS": config["ENCRYPTION_KEYS"],
        "PRIVACY_SERVICE_BLIND_INDEX_KEY": config["BLIND_INDEX_KEY"],
        "PRIVACY_SERVICE_SECRET_KEY": config["SECRET_KEY"],
        "PRIVACY_SERVICE_INSTANCE_PATH": app.instance_path,
        "PRIVACY_SERVICE_SCHEDULER_ENABLED": "false",
        "PRIVACY_SERVICE_LOG_LEVEL": "WARNING",
    }
    if config.get("SMTP_HOST"):
        env["PRIVACY_SERVICE_SMTP_HOST"] = str(config["SMTP_HOST"])
        env["PRIVACY_SERVICE_SMTP_PORT"] = str(config["SMTP_PORT"])
    env.update({f"PRIVACY_SERVICE_{name}": str(value) for name, value in settings.items()})
    return env


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or 'the process'}"
        time.sleep(0.05)
