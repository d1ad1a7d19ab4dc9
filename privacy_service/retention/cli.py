"""``privacy-service retention``: run the purge (or a dry run) from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from privacy_service import clock

retention_cli = AppGroup("retention", help="Retention rules and the purge.")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Report what would go; change nothing.")
@click.option("--category", default=None, help="Only this category (see `retention rules`).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None)
def run(dry_run: bool, category: str | None, batch_size: int | None) -> None:
    """Purge what is past its retention period (held data is skipped and reported)."""
    from privacy_service.errors import DomainError
    from privacy_service.retention import service

    try:
        if dry_run:
            report = service.dry_run(clock.now(), category)
        else:
            report = service.run_purge(
                clock.now,
                trigger="cli",
                actor="cli",
                only=category,
                batch_size=batch_size or service.DEFAULT_BATCH_SIZE,
            )
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from exc
    heading = "would go" if dry_run else "removed"
    click.echo(f"{'category':<28} {heading:>10} {'held':>8}  note")
    for code, entry in report.categories.items():
        count = entry.get("due", 0) if dry_run else entry.get("removed", 0)
        note = ""
        if entry.get("skipped"):
            note = "another instance is purging it"
        elif entry.get("handled_by"):
            note = f"purged by job {entry['handled_by']}"
        elif entry.get("action") == "keep":
            note = "kept"
        click.echo(f"{code:<28} {count:>10} {entry.get('held', 0):>8}  {note}")
    total = report.total_due if dry_run else report.total_removed
    click.echo(f"{'total':<28} {total:>10} {report.total_held:>8}")
    if dry_run:
        click.echo("Dry run: nothing was changed.")


@retention_cli.command("rules")
def rules() -> None:
    """List the categories and the period in force for each."""
    from privacy_service.retention import service

    for rule in service.effective_rules():
        item = rule.category
        period = "kept" if item.action == "keep" else f"{rule.period_days} days"
        if item.handled_by:
            period += f" (job {item.handled_by})"
        click.echo(f"{item.code:<28} {item.action:<10} {period}")
