"""``privacy-service imports ...``: run contact imports outside the web process."""

from __future__ import annotations

from datetime import timedelta
from typing import BinaryIO

import click
from flask.cli import AppGroup

from privacy_service import clock
from privacy_service.extensions import db

imports_cli = AppGroup("imports", help="CSV imports of contacts into lists.")


@imports_cli.command("run")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None)
@click.option(
    "--throttle",
    type=click.FloatRange(0, 60),
    default=None,
    help="Seconds to pause between batches, to spare a busy database.",
)
@click.option("--max-jobs", type=click.IntRange(1), default=None, help="Stop after this many.")
def run_imports(batch_size: int | None, throttle: float | None, max_jobs: int | None) -> None:
    """Claim queued imports and run them to the end, then exit."""
    from privacy_service.mail.imports import process_queued_imports
    from privacy_service.mail.jobs import import_settings

    settings = import_settings()
    outcomes = process_queued_imports(
        clock.now,
        batch_size=batch_size or int(settings["batch_size"]),
        throttle=settings["throttle"] if throttle is None else throttle,
        max_jobs=max_jobs,
    )
    for outcome in outcomes:
        click.echo(f"import {outcome.job_id}: {outcome.state} after {outcome.batches} batch(es)")
    if not outcomes:
        click.echo("No queued import.")


@imports_cli.command("detect-interrupted")
@click.option("--stale-after", type=click.IntRange(1), default=120, help="Seconds of silence.")
def detect_interrupted(stale_after: int) -> None:
    """Mark imports whose worker stopped checkpointing as interrupted."""
    from privacy_service.mail.imports import detect_interrupted_imports

    marked = detect_interrupted_imports(clock.now(), timedelta(seconds=stale_after))
    db.session.commit()
    click.echo(f"{len(marked)} import(s) marked interrupted.")


mail_cli = AppGroup("mail", help="Sending: bounce and complaint reports.")


@mail_cli.command("ingest")
@click.argument("source", type=click.File("rb"))
@click.option(
    "--recipient",
    envvar=["ORIGINAL_RECIPIENT", "RECIPIENT"],
    default=None,
    help="The address the report was delivered to (Postfix's pipe sets ORIGINAL_RECIPIENT).",
)
def ingest_report(source: BinaryIO, recipient: str | None) -> None:
    """Read one bounce (DSN) or complaint (ARF) report from FILE or - (standard input)."""
    from privacy_service.mail import bounces
    from privacy_service.mail.campaigns import unsubscribe_mail

    raw = source.read()
    # The mailto of List-Unsubscribe comes to the same address as the reports (RFC 2369).
    token = unsubscribe_mail.token_of(raw)
    if token is not None:
        done = unsubscribe_mail.apply(token, clock.now())
        db.session.commit()
        click.echo("Unsubscribed." if done else "Nothing to do: invalid or already unsubscribed.")
        return
    try:
        result = bounces.ingest(raw, clock.now(), envelope_recipient=recipient)
    except bounces.ReportTooLarge as exc:
        raise click.ClickException("report too large") from exc
    db.session.commit()
    bounces.notify(result)
    click.echo(
        f"{result.notices} notice(s): {result.matched} matched, "
        f"{result.suppressed} address(es) suppressed, {result.unmatched} unmatched."
    )
