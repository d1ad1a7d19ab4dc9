"""Time as a dependency: business rules take ``now``; views and jobs ask the app's clock."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app

EXTENSION_NAME = "privacy_service.clock"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def now() -> datetime:
    """The current time as the running app sees it (tests replace the clock to move time)."""
    return current_app.extensions[EXTENSION_NAME].now()
