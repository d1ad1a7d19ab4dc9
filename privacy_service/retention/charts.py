"""The history page's chart: rows removed per run, drawn server-side as SVG geometry (the CSP
allows no inline script); ``templates/retention/history.html`` draws it."""

from __future__ import annotations

from privacy_service.requests.charts import (
    LEFT,
    PLOT_HEIGHT,
    PLOT_WIDTH,
    TOP,
    AxisLabel,
    Bar,
    Chart,
    Tick,
)
from privacy_service.retention.models import PurgeRun


def _nice_max(value: int) -> int:
    maximum = 5
    while maximum < value:
        maximum *= 2 if str(maximum)[0] in "15" else 5 / 2
        maximum = int(maximum)
    return maximum


def volume_chart(runs: list[PurgeRun], removed_title: str) -> Chart:
    """One bar per completed run, oldest first: how many rows it removed (held rows on top)."""
    runs = [run for run in runs if not run.dry_run]
    maximum = _nice_max(max([run.total_removed + run.total_held for run in runs] + [1]))
    step = maximum / 5
    chart = Chart(
        ticks=[
            Tick(round(TOP + PLOT_HEIGHT - PLOT_HEIGHT * i * step / maximum, 1), f"{i * step:g}")
            for i in range(6)
        ],
        empty=not runs,
    )
    slot = PLOT_WIDTH / max(len(runs), 12)
    label_every = max(1, len(runs) // 8)
    for index, run in enumerate(runs):
        x = LEFT + index * slot + slot * 0.15
        removed_height = PLOT_HEIGHT * run.total_removed / maximum
        held_height = PLOT_HEIGHT * run.total_held / maximum
        day = f"{run.started_at:%d/%m}"
        chart.bars.append(
            Bar(
                round(x, 1),
                round(TOP + PLOT_HEIGHT - removed_height, 1),
                round(slot * 0.7, 1),
                round(removed_height, 1),
                "bar-removed",
                f"{day}: {removed_title} {run.total_removed}",
            )
        )
        if held_height:
            chart.bars.append(
                Bar(
                    round(x, 1),
                    round(TOP + PLOT_HEIGHT - removed_height - held_height, 1),
                    round(slot * 0.7, 1),
                    round(held_height, 1),
                    "bar-held",
                    f"{day}: {run.total_held}",
                )
            )
        if index % label_every == 0:
            chart.x_labels.append(AxisLabel(round(x + slot * 0.35, 1), day))
    return chart
