"""Dashboard charts drawn server-side as SVG geometry (the CSP allows no inline script).

Functions return plain shapes in SVG user units; ``templates/requests/_charts.html`` draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from privacy_service.requests.service import ANSWER_PERIOD, FulfilmentTime, WeekCount

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 36
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
DEADLINE_DAYS = ANSWER_PERIOD.days


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class AxisLabel:
    x: float
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: float = TOP + PLOT_HEIGHT
    right: float = LEFT + PLOT_WIDTH
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    x_labels: list[AxisLabel] = field(default_factory=list)
    line_y: float | None = None
    empty: bool = False


def _nice_max(value: float) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


def _ticks(maximum: int, count: int = 5) -> list[Tick]:
    step = maximum / count
    return [
        Tick(TOP + PLOT_HEIGHT - PLOT_HEIGHT * (i * step) / maximum, f"{i * step:g}")
        for i in range(count + 1)
    ]


def weekly_chart(weeks: list[WeekCount], received_title: str, fulfilled_title: str) -> Chart:
    """Two bars per week: requests received, requests fulfilled."""
    maximum = _nice_max(max([w.received for w in weeks] + [w.fulfilled for w in weeks] + [1]))
    chart = Chart(ticks=_ticks(maximum), empty=not any(w.received or w.fulfilled for w in weeks))
    slot = PLOT_WIDTH / max(len(weeks), 1)
    bar_width = slot * 0.35
    for index, week in enumerate(weeks):
        x = LEFT + index * slot + slot * 0.12
        for offset, value, css_class, title in (
            (0, week.received, "bar-received", received_title),
            (bar_width, week.fulfilled, "bar-fulfilled", fulfilled_title),
        ):
            height = PLOT_HEIGHT * value / maximum
            chart.bars.append(
                Bar(
                    round(x + offset, 1),
                    round(TOP + PLOT_HEIGHT - height, 1),
                    round(bar_width, 1),
                    round(height, 1),
                    css_class,
                    f"{week.week_start:%d/%m}: {title} {value}",
                )
            )
        if index % 2 == 0:
            chart.x_labels.append(AxisLabel(round(x + bar_width, 1), f"{week.week_start:%d/%m}"))
    return chart


def fulfilment_time_chart(times: list[FulfilmentTime], days_title: str) -> Chart:
    """One bar per fulfilled request (days from receipt), against the 30-day line."""
    longest = max([t.days for t in times] + [DEADLINE_DAYS + 5])
    maximum = _nice_max(longest)
    chart = Chart(ticks=_ticks(maximum), empty=not times)
    chart.line_y = round(TOP + PLOT_HEIGHT - PLOT_HEIGHT * DEADLINE_DAYS / maximum, 1)
    slot = PLOT_WIDTH / max(len(times), 12)
    for index, item in enumerate(times):
        height = PLOT_HEIGHT * item.days / maximum
        late = item.days > DEADLINE_DAYS
        chart.bars.append(
            Bar(
                round(LEFT + index * slot + slot * 0.15, 1),
                round(TOP + PLOT_HEIGHT - height, 1),
                round(slot * 0.7, 1),
                round(max(height, 1), 1),
                "bar-late" if late else "bar-on-time",
                f"#{item.request_id} ({item.kind}): {item.days:.1f} {days_title}",
            )
        )
    return chart
