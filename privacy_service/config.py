"""Configuration read from environment variables prefixed ``PRIVACY_SERVICE_``.

Every setting has a typed default for the embedded set-up (SQLite in ``instance/``, outbox files,
memory rate-limit storage). With ``PRIVACY_SERVICE_ENV=production`` the service refuses to start
without an explicit secret key, database URL and encryption keys instead of falling back.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "PRIVACY_SERVICE_"


class ConfigurationError(RuntimeError):
    """The service cannot start with the configuration it was given."""


def _as_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _as_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


# name -> (coercion, default). The environment variable is ENV_PREFIX + name.
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "ENV": (str, "development"),
    "SECRET_KEY": (str, None),
    "DATABASE_URL": (str, None),
    "INSTANCE_PATH": (str, None),
    # The operator's template folder: a template there replaces the built-in one of the same
    # path (default: templates/ at the repository root, when it exists; templates/README.md).
    "TEMPLATE_OVERRIDES": (str, None),
    # Encryption keys: "id:base64key,id:base64key" (the first encrypts, all decrypt) ...
    "ENCRYPTION_KEYS": (str, None),
    "BLIND_INDEX_KEY": (str, None),
    # ... or a JSON key file written by `privacy-service keys generate`.
    "KEY_FILE": (str, None),
    "DATA_KEY_FILE": (str, None),
    # The service's Ed25519 signing key (base64url seed), else the key file's signing_key.
    "SIGNING_KEY": (str, None),
    "BASE_URL": (str, "http://127.0.0.1:5000"),
    "MAIL_FROM": (str, "Privacy Service <no-reply@privacy-service.example>"),
    "DPO_MAIL": (str, "dpo@privacy-service.example"),
    # The operator's postal address, shown as the controller's in consent receipts (ISO 27560).
    "OPERATOR_POSTAL_ADDRESS": (str, None),
    "SMTP_HOST": (str, None),
    "SMTP_PORT": (int, 25),
    "SMTP_SECURITY": (str, "none"),  # none | starttls | tls
    "SMTP_USERNAME": (str, None),
    "SMTP_PASSWORD": (str, None),
    "SMTP_TIMEOUT": (float, 10.0),
    # Where the relay is (ISO 3166 code) and, outside the EU/EEA and adequate countries, the
    # safeguard the DPO signed ("scc:2025-01-31"): without one the service refuses to start
    # (privacy policy, section 4; operator/transfers.py).
    "SMTP_COUNTRY": (str, "FR"),
    "SMTP_TRANSFER_SAFEGUARD": (str, None),
    # Sending (docs/sending.md). The envelope sender that bounces come back to (default: the
    # address of MAIL_FROM), tagged per message ("bounces+<tag>@...") so a DSN finds its row.
    "MAIL_RETURN_PATH": (str, None),
    # After a commit that queued messages, this process sends them at once: "thread" (in the
    # background; the request never waits on the relay), "inline" (before the commit call
    # returns: tests, scripts) or "off" (leave everything to `privacy-service worker`).
    "OUTBOX_SEND_ON_COMMIT": (str, "thread"),
    "OUTBOX_BATCH_SIZE": (int, 100),
    "OUTBOX_POLL_SECONDS": (float, 2.0),
    # A claimed batch not finished within this time is taken back (its worker died).
    "OUTBOX_CLAIM_SECONDS": (float, 300.0),
    # Messages accepted by the relay whose "sent" marks are written together, and how long the
    # first may wait: the bound on duplicates after a worker is killed (docs/sending.md).
    "OUTBOX_MARK_GROUP": (int, 20),
    "OUTBOX_MARK_SECONDS": (float, 1.0),
    # Temporary failures: exponential back-off with jitter, then "failed" after the last attempt.
    "OUTBOX_MAX_ATTEMPTS": (int, 12),
    "OUTBOX_RETRY_BASE_SECONDS": (float, 60.0),
    "OUTBOX_RETRY_MAX_SECONDS": (float, 3600.0),
    # Soft bounces of one address within the window after which it is suppressed.
    "BOUNCE_SOFT_LIMIT": (int, 3),
    "BOUNCE_SOFT_WINDOW_DAYS": (int, 30),
    # Relays allowed to post bounce and complaint events: "name:secret,name:secret".
    "RELAY_WEBHOOK_SECRETS": (str, None),
    "DKIM_KEY_BITS": (int, 2048),
    "RATELIMIT_STORAGE_URI": (str, "memory://"),
    "RATELIMIT_ENABLED": (_as_bool, True),
    "LOGIN_RATE_LIMIT": (str, "10 per minute;50 per hour"),
    "SIGNUP_RATE_LIMIT": (str, "5 per minute;30 per hour"),
    "FORM_RATE_LIMIT": (str, "5 per minute;30 per hour"),
    "CONFIRMATION_MAX_AGE_HOURS": (int, 48),
    "PASSWORD_RESET_MAX_AGE_HOURS": (int, 2),
    "SESSION_COOKIE_SECURE": (_as_bool, False),
    # Signed audit checkpoints are also appended here (a JSON line each): keep it off the
    # database host, append-only (docs/hardening.md).
    "AUDIT_CHECKPOINT_FILE": (str, None),
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed (0: none).
    "TRUSTED_PROXIES": (int, 0),
    # Production answers over HTTPS carry Strict-Transport-Security for this long.
    "HSTS_MAX_AGE": (int, 31_536_000),
    "LANGUAGES": (_as_list, ["en", "fr"]),
    "SCHEDULER_ENABLED": (_as_bool, True),
    "OAUTH_TOKEN_EXPIRES_IN": (int, 900),
    # Consent and cookies (privacy policy "Cookies"; CNIL: a choice is asked again after 13 months).
    "PRIVACY_POLICY_VERSION": (str, "1"),
    "COOKIE_POLICY_VERSION": (str, "1"),
    "COOKIE_CHOICE_MONTHS": (int, 13),
    "CONSENT_COOKIE_DOMAIN": (str, None),
    "CONSENT_ALLOWED_ORIGINS": (_as_list, []),
    "CONSENT_LINK_MAX_AGE_DAYS": (int, 365),
    # Data-subject requests: unconfirmed requests expire (a reminder goes out once before),
    # proof-of-identity uploads are size-limited, export files live in a private directory
    # (shared storage when several hosts serve downloads).
    "REQUEST_CONFIRMATION_MAX_AGE_HOURS": (int, 168),
    "REQUEST_CONFIRMATION_REMINDER_HOURS": (int, 72),
    "REQUEST_DOCUMENT_MAX_BYTES": (int, 5 * 1024 * 1024),
    "REQUEST_EXPORT_DIR": (str, None),
    # Contact imports: rows per atomic batch, pause between batches, the in-process worker thread
    # (off when a separate `privacy-service imports run` process does the work), and when a
    # running import with no progress is declared interrupted.
    "IMPORT_BATCH_SIZE": (int, 1000),
    "IMPORT_THROTTLE_SECONDS": (float, 0.0),
    "IMPORT_WORKER_THREAD": (_as_bool, True),
    "IMPORT_STALE_AFTER_SECONDS": (float, 120.0),
    # Plans and billing: the seller printed on invoices, the card/PayPal payment provider (only
    # the local "fake" exists: see plans/payments.py), how early a prepaid shortfall is reported.
    "INVOICE_SELLER_NAME": (str, "Privacy Service SAS"),
    "INVOICE_SELLER_ADDRESS": (str, "1 rue de l’Exemple, 75001 Paris, France"),
    "INVOICE_SELLER_VAT_NUMBER": (str, "FR40303265045"),
    "INVOICE_SELLER_REGISTRATION": (str, "RCS Paris 303 265 045"),
    "PAYMENT_PROVIDER": (str, "fake"),
    "PREPAID_SHORTFALL_NOTICE_DAYS": (int, 7),
    # API writes sent with an Idempotency-Key: how long the first answer is kept for retries.
    "IDEMPOTENCY_KEY_HOURS": (int, 24),
    # Webhooks: attempts before a delivery is dead-lettered, exponential back-off (base and cap,
    # with jitter), the HTTP timeout, how long delivered and dead rows are kept, and whether
    # http:// to a loopback address is accepted (tests, local development; never in production).
    "WEBHOOK_MAX_ATTEMPTS": (int, 12),
    "WEBHOOK_RETRY_BASE_SECONDS": (float, 30.0),
    "WEBHOOK_RETRY_MAX_SECONDS": (float, 6 * 3600.0),
    "WEBHOOK_TIMEOUT_SECONDS": (float, 10.0),
    "WEBHOOK_DELIVERY_RETENTION_DAYS": (int, 30),
    "WEBHOOK_ALLOW_LOOPBACK_HTTP": (_as_bool, None),
    "LOG_LEVEL": (str, "INFO"),
    # A pooled PostgreSQL connection idle for this long is pinged before use (0: before every
    # use, SQLAlchemy's pool_pre_ping). See database.ping_idle_connections for the trade-off.
    "DATABASE_PING_IDLE_SECONDS": (float, 10.0),
    # How long an API worker may reuse a validated access token without reading it again: the
    # bound on how late a revocation made by another process takes effect (0: read every time).
    "OAUTH_TOKEN_CACHE_SECONDS": (float, 5.0),
}

PRODUCTION_REQUIRED = ("SECRET_KEY", "DATABASE_URL")


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every known setting from the environment, coerced to its type."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for name, (coerce, default) in SETTINGS.items():
        raw = environ.get(ENV_PREFIX + name)
        if raw is None and name == "DATABASE_URL":
            raw = environ.get("DATABASE_URL")
        if raw is None:
            config[name] = default
            continue
        try:
            config[name] = coerce(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{ENV_PREFIX}{name}: {exc}") from exc
    return config


def normalise_database_url(url: str) -> str:
    """Let operators write postgres:// or postgresql:// and still get the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def build_flask_config(settings: dict[str, Any], instance_path: Path) -> dict[str, Any]:
    """Turn service settings into the Flask / extension configuration keys."""
    production = settings["ENV"] == "production"
    if production:
        missing = [name for name in PRODUCTION_REQUIRED if not settings.get(name)]
        if not settings.get("ENCRYPTION_KEYS") and not settings.get("KEY_FILE"):
            missing.append("ENCRYPTION_KEYS or KEY_FILE")
        if missing:
            raise ConfigurationError(
                "production start refused, missing: " + ", ".join(ENV_PREFIX + m for m in missing)
            )

    secret_key = settings.get("SECRET_KEY") or _development_secret_key(instance_path)
    database_url = settings.get("DATABASE_URL") or f"sqlite:///{instance_path / 'privacy.db'}"
    database_url = normalise_database_url(database_url)

    engine_options: dict[str, Any] = {}
    if settings["DATABASE_PING_IDLE_SECONDS"] <= 0:
        engine_options["pool_pre_ping"] = True
    if database_url.startswith("sqlite"):
        # Live-server tests and the scheduler thread share the file database.
        engine_options = {"connect_args": {"check_same_thread": False, "timeout": 30}}

    flask_config = dict(settings)
    flask_config.update(
        SECRET_KEY=secret_key,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        RATELIMIT_STORAGE_URI=settings["RATELIMIT_STORAGE_URI"],
        RATELIMIT_ENABLED=settings["RATELIMIT_ENABLED"],
        RATELIMIT_HEADERS_ENABLED=True,
        BABEL_DEFAULT_LOCALE="en",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["SESSION_COOKIE_SECURE"] or production,
        REMEMBER_COOKIE_SECURE=settings["SESSION_COOKIE_SECURE"] or production,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        # Production sends webhooks over HTTPS only, whatever the setting says.
        WEBHOOK_ALLOW_LOOPBACK_HTTP=not production
        and settings["WEBHOOK_ALLOW_LOOPBACK_HTTP"] in (None, True),
    )
    return flask_config


def _development_secret_key(instance_path: Path) -> str:
    """A per-installation random key kept in instance/, so sessions survive restarts."""
    key_path = instance_path / "secret_key"
    if key_path.exists():
        return key_path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
