"""The ``privacy-service`` command: database, keys, audit, users, API clients, serving."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup
from werkzeug.serving import run_simple

from privacy_service import PACKAGE_DIR, clock, create_app, crypto, service_signature
from privacy_service.config import from_environment
from privacy_service.mail.cli import imports_cli, mail_cli
from privacy_service.retention.cli import retention_cli


def _create_app() -> object:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Operate the privacy service (run `privacy-service COMMAND --help`)."""


keys = AppGroup("keys", help="Encryption keys (kept outside the database).")
audit_cli = AppGroup("audit", help="The hash-chained audit trail.")
users = AppGroup("users", help="Accounts and staff.")
clients = AppGroup("clients", help="OAuth 2 clients of the internal API.")
main.add_command(keys)
main.add_command(audit_cli)
main.add_command(users)
main.add_command(clients)
main.add_command(imports_cli)
main.add_command(mail_cli)
main.add_command(retention_cli)


def _default_key_file() -> Path:
    settings = from_environment()
    if settings.get("KEY_FILE"):
        return Path(settings["KEY_FILE"])
    instance = Path(settings.get("INSTANCE_PATH") or PACKAGE_DIR.parent / "instance")
    return instance / "keys.json"


@keys.command("generate", with_appcontext=False)
@click.option("--path", type=click.Path(path_type=Path), default=None, help="Key file to write.")
@click.option("--if-missing", is_flag=True, help="Do nothing when the key file exists.")
def keys_generate(path: Path | None, if_missing: bool) -> None:
    """Write a new key file (mode 600): encryption, blind index and signing keys."""
    path = path or _default_key_file()
    if path.exists():
        if if_missing:
            # A key file from before signing keys existed gets one; nothing else changes.
            if service_signature.add_signing_key_to_file(path):
                click.echo(f"Key file {path} exists; added the service's signing key to it.")
            else:
                click.echo(f"Key file {path} exists; keeping it.")
            return
        raise click.ClickException(
            f"{path} exists; refusing to overwrite keys (data would be lost)"
        )
    crypto.generate_key_file(path)
    service_signature.add_signing_key_to_file(path)
    click.echo(f"Wrote {path}. Back it up: without it the encrypted data cannot be read.")


@keys.command("add", with_appcontext=False)
@click.option("--path", type=click.Path(path_type=Path), default=None)
def keys_add(path: Path | None) -> None:
    """Add a new encryption key that encrypts from now on; older keys still decrypt."""
    path = path or _default_key_file()
    key_id = crypto.add_key_to_file(path)
    click.echo(f"Added key {key_id} to {path}; restart the service to use it.")


def _file_keys_only() -> Path:
    if current_app.config.get("ENCRYPTION_KEYS"):
        raise click.ClickException(
            "keys come from PRIVACY_SERVICE_ENCRYPTION_KEYS: rotate them there (put the new key "
            "first), restart, then run `privacy-service keys reencrypt`"
        )
    return crypto.key_file_path(current_app.config, Path(current_app.instance_path))


def _reencrypt(batch_size: int) -> None:
    from privacy_service import reencryption

    pending = sum(reencryption.pending_counts().values())
    click.echo(f"Re-encrypting {pending} value(s) in batches of {batch_size}...")
    done = 0
    while True:
        count = reencryption.reencrypt_pending(batch_size=batch_size, max_batches=10)
        if not count:
            break
        done += count
        click.echo(f"  {done}/{pending}")
    click.echo(f"Re-encrypted {done} value(s); none is left under an older key.")


@keys.command("rotate")
@click.option("--reencrypt", is_flag=True, help="Then re-encrypt every stored value now.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500)
def keys_rotate(reencrypt: bool, batch_size: int) -> None:
    """Make a new master key current and re-wrap every organisation's data key under it.

    Running services pick the new key up within a second. Stored values are re-encrypted in the
    background by the scheduled job (or now, with --reencrypt); then retire the old key.
    """
    from privacy_service import audit
    from privacy_service.extensions import db

    path = _file_keys_only()
    ring = crypto.keyring()
    previous = ring.primary_key_id
    key_id = crypto.rotate_master_key(path, ring.data_keys)
    crypto.reload_keyring(force=True)
    audit.record("cli", "crypto.key_rotated", None, {"new_key": key_id, "previous_key": previous})
    db.session.commit()
    click.echo(f"Key {key_id} now encrypts; {previous} still decrypts until it is retired.")
    if reencrypt:
        _reencrypt(batch_size)


@keys.command("reencrypt")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500)
def keys_reencrypt(batch_size: int) -> None:
    """Re-encrypt every value still under an older master key (what the job does in batches)."""
    _reencrypt(batch_size)


@keys.command("retire")
@click.argument("key_id")
def keys_retire(key_id: str) -> None:
    """Remove a master key from the key file; refused while any value or data key uses it."""
    from privacy_service import audit, reencryption
    from privacy_service.extensions import db

    path = _file_keys_only()
    ring = crypto.reload_keyring(force=True)
    if key_id == ring.primary_key_id:
        raise click.ClickException(f"{key_id} is the key that encrypts; rotate first")
    if key_id not in ring.key_ids:
        raise click.ClickException(f"no key {key_id!r} in {path}")
    in_use = reencryption.values_under_key(key_id)
    exports = reencryption.sealed_files_under_key(key_id)
    if exports:
        in_use["access export files (they expire within days)"] = exports
    wrapped = (ring.data_keys.wrapping_key_ids(ring.key_id_of) if ring.data_keys else {}).get(
        key_id, 0
    )
    if in_use or wrapped:
        details = ", ".join(f"{name}: {count}" for name, count in in_use.items())
        if wrapped:
            details = ", ".join(filter(None, [details, f"data keys: {wrapped}"]))
        raise click.ClickException(
            f"key {key_id} is still in use ({details}); run `privacy-service keys reencrypt`"
        )
    crypto.remove_key_from_file(path, key_id)
    crypto.reload_keyring(force=True)
    audit.record("cli", "crypto.key_retired", None, {"key": key_id})
    db.session.commit()
    click.echo(f"Key {key_id} retired: no stored value or data key uses it.")


@keys.command("blind-index")
@click.argument("step", type=click.Choice(["begin", "build", "switch"]))
def keys_blind_index(step: str) -> None:
    """Rotate the blind-index key: begin, build (repeatable, while serving), switch."""
    from privacy_service import audit, blind_index_rotation
    from privacy_service.extensions import db

    path = _file_keys_only()
    if step == "begin":
        key_id = crypto.begin_blind_index_rotation(path)
        click.echo(f"Next blind-index key {key_id} added; now run `keys blind-index build`.")
    elif step == "build":
        next_key = crypto.next_blind_index_key(path)
        if next_key is None:
            raise click.ClickException("no rotation under way: run `keys blind-index begin`")
        added = blind_index_rotation.build(next_key)
        click.echo(f"{added} new index value(s) built beside the old ones.")
    else:
        try:
            updated = blind_index_rotation.switch(path)
        except crypto.KeyConfigurationError as exc:
            raise click.ClickException(str(exc)) from exc
        audit.record("cli", "crypto.blind_index_rotated", None, {"rows": updated})
        db.session.commit()
        click.echo(f"Switched: {updated} row(s) now carry the new index; the shadow is dropped.")


@keys.command("check")
def keys_check() -> None:
    """Decrypt a stored value to prove the configured keys match the database."""
    ring = crypto.keyring()
    click.echo(
        f"Configured keys: {', '.join(ring.key_ids)} (encrypting with {ring.primary_key_id})"
    )
    try:
        crypto.check_stored_data_decrypts()
    except crypto.DecryptionError as exc:
        raise click.ClickException(f"stored data does not decrypt: {exc}") from exc
    click.echo("Stored data decrypts with the configured keys.")


@audit_cli.command("verify")
@click.option(
    "--checkpoints",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A copy of the checkpoint file kept elsewhere, checked too.",
)
def audit_verify(checkpoint_file: Path | None) -> None:
    """Check the whole chain against its signed checkpoints; exit 1 naming the first altered,
    removed, moved or re-hashed event, or a truncated end."""
    from privacy_service.audit import verify_chain
    from privacy_service.audit.checkpoints import read_file

    report = verify_chain(read_file(checkpoint_file) if checkpoint_file else ())
    if not report.intact:
        click.echo(f"Audit chain BROKEN at {report.problem}", err=True)
        sys.exit(1)
    click.echo(f"Audit chain intact: {report.events_checked} events verified.")
    if report.anchored_at is None:
        click.echo("No signed checkpoint yet: truncation and re-hashing cannot be detected.")
    else:
        click.echo(
            f"Anchored by the signed checkpoint of #{report.anchored_at}; "
            f"{report.unanchored_events} later events are not anchored yet."
        )


@audit_cli.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's head now (the scheduler does it every 15 minutes)."""
    from privacy_service import clock
    from privacy_service.audit.checkpoints import sign_head
    from privacy_service.extensions import db

    checkpoint = sign_head(clock.now())
    db.session.commit()
    if checkpoint is None:
        click.echo("The audit chain is empty: nothing to sign.")
        return
    click.echo(f"Signed checkpoint of #{checkpoint.sequence} ({checkpoint.chain_hash}).")


@users.command("create-dpo")
@click.argument("email")
@click.option("--password", envvar="PRIVACY_SERVICE_DPO_PASSWORD", default=None)
@click.option("--demo", is_flag=True, help="Print the login (for the local demo only).")
def users_create_dpo(email: str, password: str | None, demo: bool) -> None:
    """Create a DPO staff account (or reset its password) and print how to log in."""
    from marshmallow import ValidationError

    from privacy_service.accounts.service import create_staff_account
    from privacy_service.errors import DomainError
    from privacy_service.extensions import db
    from privacy_service.validation import normalise_email

    try:
        email = normalise_email(email)
    except ValidationError as exc:
        raise click.ClickException("not a valid email address") from exc
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        create_staff_account(email, password, clock.now())
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from exc
    db.session.commit()
    if demo:
        base_url = current_app.config["BASE_URL"]
        click.echo("=" * 64)
        click.echo(f"Demo DPO login at {base_url}/login")
        click.echo(f"  email:    {email}")
        click.echo(f"  password: {password}")
        click.echo("=" * 64)
    elif generated:
        click.echo(f"DPO staff account ready. One-time password: {password}")
    else:
        click.echo("DPO staff account ready.")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["member", "org_admin", "dpo"]))
def users_set_role(email: str, role: str) -> None:
    """Change a user's role (audited as done from the command line)."""
    from privacy_service.accounts.service import change_role, find_user_by_email
    from privacy_service.errors import DomainError
    from privacy_service.extensions import db

    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException("no such user")
    previous = user.role
    try:
        change_role(user, role, "cli", clock.now(), may_grant_dpo=True)
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from exc
    db.session.commit()
    click.echo(f"Role of user #{user.id}: {previous} -> {role}")


@clients.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, help="Repeat for each scope.")
@click.option("--organisation", "organisation_id", type=int, default=None)
def clients_create(name: str, scopes: tuple[str, ...], organisation_id: int | None) -> None:
    """Create an API client; its secret is shown once."""
    from privacy_service.errors import DomainError
    from privacy_service.extensions import db
    from privacy_service.oauth.service import create_client

    flat = [scope for item in scopes for scope in item.replace(",", " ").split()]
    try:
        client, secret = create_client(name, flat, clock.now(), "cli", organisation_id)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message}: {exc.fields}") from exc
    db.session.commit()
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"scope:         {client.scope}")


@main.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option(
    "--no-scheduler", is_flag=True, help="Run jobs elsewhere (privacy-service scheduler)."
)
@click.option("--no-worker", is_flag=True, help="Send mail elsewhere (privacy-service worker).")
def serve(host: str, port: int, no_scheduler: bool, no_worker: bool) -> None:
    """Serve the web app with its in-process scheduler and mail sender (the embedded set-up)."""
    from privacy_service.mail.outbox_worker import start_in_process
    from privacy_service.scheduler import build_scheduler

    app = current_app._get_current_object()
    try:
        crypto.check_stored_data_decrypts()
    except crypto.DecryptionError as exc:
        raise click.ClickException(
            f"refusing to start, stored data does not decrypt: {exc}"
        ) from exc
    scheduler = None
    if app.config["SCHEDULER_ENABLED"] and not no_scheduler:
        scheduler = build_scheduler(app)
        scheduler.start()
    worker = None if no_worker else start_in_process(app)
    click.echo(f"privacy_service answering on http://{host}:{port}")
    try:
        # app.run() refuses to start from inside a Flask CLI command; werkzeug serves directly.
        run_simple(host, port, app, use_reloader=False, threaded=True)
    finally:
        if worker is not None:
            worker.stop.set()
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@main.command("worker")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=None)
@click.option("--poll", "poll_seconds", type=click.FloatRange(0.05, 3600), default=None)
@click.option("--exit-when-idle", is_flag=True, help="Stop once nothing is due (cron, tests).")
def run_worker(batch_size: int | None, poll_seconds: float | None, exit_when_idle: bool) -> None:
    """Send the outbox (production: one or more, on one or more hosts, against PostgreSQL)."""
    import signal

    from privacy_service.mail.outbox_worker import OutboxWorker

    worker = OutboxWorker(
        current_app._get_current_object(), batch_size=batch_size, poll_seconds=poll_seconds
    )

    def _stop(signum: int, frame: object) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo("Outbox worker running; SIGTERM or Ctrl-C to stop.")
    sent = worker.run(exit_when_idle=exit_when_idle)
    click.echo(f"Outbox worker stopped after {sent} message(s).")


@main.command("scheduler")
def run_scheduler() -> None:
    """Run the scheduled jobs in this process (production: one or more such processes)."""
    from privacy_service.scheduler import build_scheduler

    scheduler = build_scheduler(current_app._get_current_object())
    scheduler.start()
    click.echo("Scheduler running; Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        scheduler.shutdown()
