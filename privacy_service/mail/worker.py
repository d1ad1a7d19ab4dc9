"""Starting an import right away: a background thread that runs queued imports.

The scheduler's ``mail.process_imports`` job picks up anything queued too (for instance when the
web process that queued it stopped); claims make sure one job runs in one place only.
"""

from __future__ import annotations

import threading

import structlog
from flask import Flask

from privacy_service import clock
from privacy_service.extensions import db

log = structlog.get_logger(__name__)
_threads: list[threading.Thread] = []
_lock = threading.Lock()


def _work(app: Flask) -> None:
    from privacy_service.mail.imports import process_queued_imports
    from privacy_service.mail.jobs import import_settings

    with app.app_context():
        try:
            settings = import_settings()
            process_queued_imports(
                clock.now,
                batch_size=int(settings["batch_size"]),
                throttle=settings["throttle"],
            )
        except Exception as exc:
            db.session.rollback()
            log.error("import_worker_failed", error_type=type(exc).__name__)
        finally:
            db.session.remove()


def kick(app: Flask) -> None:
    """Run queued imports in a thread of this process, unless disabled (IMPORT_WORKER_THREAD)."""
    if not app.config.get("IMPORT_WORKER_THREAD", True):
        return
    with _lock:
        _threads[:] = [thread for thread in _threads if thread.is_alive()]
        thread = threading.Thread(target=_work, args=(app,), name="import-worker", daemon=True)
        _threads.append(thread)
        thread.start()


def wait_idle(timeout: float = 30.0) -> bool:
    """Join the worker threads started here (tests and orderly shutdowns)."""
    with _lock:
        threads = list(_threads)
    for thread in threads:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in threads)
