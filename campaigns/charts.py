"""A small server-side SVG bar chart (no JavaScript, nothing loaded from outside)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    max_value: int
    ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    plot_left: int
    plot_bottom: int


def daily_bar_chart(series: list[tuple[date, int]], *, width: int = 720, height: int = 240) -> BarChart | None:
    """Bars per day from the first to the last day of ``series`` (missing days drawn as zero)."""
    if not series:
        return None
    values = dict(series)
    first, last = min(values), max(values)
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    left, right, top, bottom = 56, 12, 12, 28
    plot_width, plot_height = width - left - right, height - top - bottom
    peak = max(max(values.values()), 1)
    slot = plot_width / len(days)
    bars = []
    for index, day in enumerate(days):
        value = values.get(day, 0)
        bar_height = plot_height * max(value, 0) / peak
        bars.append(
            Bar(
                x=round(left + index * slot + slot * 0.1, 2),
                y=round(top + plot_height - bar_height, 2),
                width=round(max(slot * 0.8, 1), 2),
                height=round(bar_height, 2),
                label=day.isoformat(),
                value=value,
            )
        )
    ticks = [(round(top + plot_height * (1 - step / 4), 2), f"{round(peak * step / 4):,}") for step in range(5)]
    every = max(len(days) // 6, 1)
    x_labels = [
        (round(left + index * slot + slot / 2, 2), day.strftime("%d %b"))
        for index, day in enumerate(days)
        if index % every == 0
    ]
    return BarChart(
        width=width,
        height=height,
        bars=bars,
        max_value=peak,
        ticks=ticks,
        x_labels=x_labels,
        plot_left=left,
        plot_bottom=top + plot_height,
    )
