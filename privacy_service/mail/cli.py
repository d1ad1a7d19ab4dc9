"""``privacy-service imports ...``: run contact imports outside the web process."""

from __future__ import annotations

from datetime import timedelta

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
