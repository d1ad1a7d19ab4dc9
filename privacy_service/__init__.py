"""privacy_service: the GDPR compliance service of an email service provider."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from flask_babel import get_locale

from privacy_service import crypto, service_signature, templating
from privacy_service.clock import EXTENSION_NAME as CLOCK
from privacy_service.clock import SystemClock
from privacy_service.config import SETTINGS, build_flask_config, from_environment
from privacy_service.database import ping_idle_connections
from privacy_service.errors import register_error_handlers
from privacy_service.extensions import (
    babel,
    csrf,
    db,
    is_api_request,
    limiter,
    login_manager,
    migrate,
)
from privacy_service.i18n import LANGUAGE_NAMES, elide, select_locale
from privacy_service.logs import configure_logging
from privacy_service.operator import transfers
from privacy_service.web import (
    BoundedIntegerConverter,
    CookieSessionInterface,
    register_input_guard,
    register_security_headers,
)

PACKAGE_DIR = Path(__file__).parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"

# Every feature's models are imported so metadata (and Alembic) sees all tables.
MODEL_MODULES = (
    "privacy_service.audit.models",
    "privacy_service.accounts.models",
    "privacy_service.oauth.models",
    "privacy_service.mail.models",
    "privacy_service.mail.outbox_models",
    "privacy_service.consent.models",
    "privacy_service.requests.models",
    "privacy_service.webhooks.models",
    "privacy_service.plans.models",
    "privacy_service.retention.models",
    "privacy_service.operator.models",
    "privacy_service.mail.campaigns.models",
    "privacy_service.schedule.models",
)

# (module, blueprint attribute). A feature adds its blueprints here.
BLUEPRINTS = (
    ("privacy_service.core.views", "blueprint"),
    ("privacy_service.accounts.views", "blueprint"),
    ("privacy_service.oauth.views", "blueprint"),
    ("privacy_service.apidoc", "blueprint"),
    ("privacy_service.audit.views", "blueprint"),
    ("privacy_service.mail.api", "blueprint"),
    ("privacy_service.consent.views", "blueprint"),
    ("privacy_service.consent.api", "blueprint"),
    ("privacy_service.requests.views", "blueprint"),
    ("privacy_service.requests.dpo", "blueprint"),
    ("privacy_service.requests.api", "blueprint"),
    ("privacy_service.mail.views", "blueprint"),
    ("privacy_service.mail.public", "blueprint"),
    ("privacy_service.mail.support", "blueprint"),
    ("privacy_service.plans.views", "blueprint"),
    ("privacy_service.plans.staff", "blueprint"),
    ("privacy_service.webhooks.api", "blueprint"),
    ("privacy_service.webhooks.views", "blueprint"),
    ("privacy_service.mail.relay_webhook", "blueprint"),
    ("privacy_service.mail.senders_views", "blueprint"),
    ("privacy_service.retention.views", "blueprint"),
    ("privacy_service.operator.views", "blueprint"),
    ("privacy_service.operator.public", "blueprint"),
    ("privacy_service.mail.campaigns.views", "blueprint"),
    ("privacy_service.mail.campaigns.public", "blueprint"),
    ("privacy_service.schedule.views", "blueprint"),
)

# Modules whose import registers subject-data providers and scheduled jobs.
REGISTRATION_MODULES = (
    "privacy_service.audit.jobs",
    "privacy_service.accounts.subject_data",
    "privacy_service.accounts.jobs",
    "privacy_service.oauth.jobs",
    "privacy_service.consent.subject_data",
    "privacy_service.mail.subject_data",
    "privacy_service.mail.list_consent",
    "privacy_service.mail.jobs",
    "privacy_service.mail.campaigns.subject_data",
    "privacy_service.mail.campaigns.jobs",
    "privacy_service.requests.subject_data",
    "privacy_service.requests.jobs",
    "privacy_service.plans.jobs",
    "privacy_service.webhooks.jobs",
    # Retention categories, declared by each feature beside its models.
    "privacy_service.accounts.retention",
    "privacy_service.consent.retention",
    "privacy_service.mail.retention",
    "privacy_service.mail.campaigns.retention",
    "privacy_service.oauth.retention",
    "privacy_service.plans.retention",
    "privacy_service.requests.retention",
    "privacy_service.webhooks.retention",
    "privacy_service.operator.subject_data",
    "privacy_service.operator.retention",
    "privacy_service.retention.declarations",
    "privacy_service.retention.jobs",
    "privacy_service.operator.jobs",
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides environment settings (tests, CLI)."""
    config = dict(config or {})
    settings = from_environment()
    settings.update({key: value for key, value in config.items() if key in SETTINGS})

    instance_path = Path(settings.get("INSTANCE_PATH") or PACKAGE_DIR.parent / "instance")
    app = Flask(__name__, instance_path=str(instance_path.resolve()))
    app.session_interface = CookieSessionInterface()
    # Before any blueprint adds a route: every <int:...> is bounded (web.py).
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config.update(build_flask_config(settings, instance_path))
    app.config.update(config)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(_translation_directories())
    # API answers keep the order their schemas give (Flask 3 ignores JSON_SORT_KEYS).
    app.json.sort_keys = False

    configure_logging(app.config["LOG_LEVEL"])
    crypto.init_app(app)
    service_signature.init_app(app)
    app.extensions[CLOCK] = config.get("CLOCK") or SystemClock()

    for module in MODEL_MODULES:
        importlib.import_module(module)
    for module in REGISTRATION_MODULES:
        importlib.import_module(module)

    db.init_app(app)
    with app.app_context():
        idle_seconds = app.config["DATABASE_PING_IDLE_SECONDS"]
        if db.engine.dialect.name != "sqlite" and idle_seconds > 0:
            ping_idle_connections(db.engine, idle_seconds)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    _init_login(app)
    from privacy_service.oauth.service import init_app as init_oauth

    init_oauth(app)

    for module, attribute in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module), attribute))

    register_error_handlers(app)
    register_security_headers(app)
    register_input_guard(app)
    templating.init_app(app)
    transfers.check_smtp_relay(app.config)
    app.add_template_filter(elide, "elide")

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {
            "current_locale": str(get_locale()),
            "language_names": LANGUAGE_NAMES,
            "languages": app.config["LANGUAGES"],
        }

    return app


def _translation_directories() -> list[str]:
    """The shared catalogue plus one per feature folder that has its own."""
    directories = [PACKAGE_DIR / "translations"]
    directories += sorted(p for p in PACKAGE_DIR.glob("*/translations") if p.is_dir())
    return [str(path) for path in directories]


def _init_login(app: Flask) -> None:
    from privacy_service.accounts.models import User

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        try:
            user = db.session.get(User, int(user_id))
        except ValueError:
            return None
        return user if user is not None and user.is_active else None

    @login_manager.unauthorized_handler
    def _unauthorized() -> Any:
        from flask import redirect, request, url_for

        if is_api_request():
            body = {"error": {"code": "unauthorized", "message": "Log in first.", "fields": {}}}
            return jsonify(body), 401
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
