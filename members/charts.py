"""The one SVG chart module: tiny server-rendered bar charts (no JavaScript, nothing loaded from outside).

In the members core so that every page can draw with it: the staff dashboard and the campaign report use it.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def bar_chart(
    bars: list[tuple[str, float]],
    *,
    title: str,
    width: int = 640,
    height: int = 180,
    colour: str = "#417690",
    colours: list[str] | None = None,
    x_label: str = "",
    y_label: str = "",
) -> SafeString:
    """A bar chart with a title, labelled axes and each bar's value on hover and on keyboard focus.

    Every bar is a focusable image named "label: value" (its SVG ``<title>`` shows on hover), so the values are
    reachable without a mouse and read by screen readers; the y axis shows 0 and the peak. Labels are escaped.
    """
    top, bottom, left = 30, 34 if x_label else 20, 44
    plot_height = height - top - bottom
    peak = max((value for _label, value in bars), default=0) or 1
    slot = (width - left) / max(len(bars), 1)
    bar_width = max(slot * 0.8, 1)
    baseline = top + plot_height
    heading = f"{title} ({y_label})" if y_label else title
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="group" aria-label="{escape(heading)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" class="chart">',
        f"<title>{escape(heading)}</title>",
        f'<text x="4" y="14" font-size="12" fill="#333">{escape(heading)}</text>',
        # The y axis: 0 at the baseline and the peak at the top, with a faint guide line.
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" fill="#555" text-anchor="end">{peak:g}</text>',
        f'<text x="{left - 4}" y="{baseline}" font-size="10" fill="#555" text-anchor="end">0</text>',
        f'<line x1="{left}" y1="{top}" x2="{width}" y2="{top}" stroke="#ddd"/>',
        f'<line x1="{left}" y1="{baseline}" x2="{width}" y2="{baseline}" stroke="#999"/>',
    ]
    if x_label:
        parts.append(
            f'<text x="{width - 4}" y="{height - 4}" font-size="10" fill="#555" text-anchor="end">'
            f"{escape(x_label)}</text>"
        )
    show_every = max(1, len(bars) // 10)
    for index, (label, value) in enumerate(bars):
        bar_height = plot_height * (value / peak) if value > 0 else 0
        x = left + index * slot + (slot - bar_width) / 2
        y = baseline - bar_height
        fill = colours[index % len(colours)] if colours else colour
        name = escape(f"{label}: {value:g}")
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
            f'fill="{escape(fill)}" tabindex="0" role="img" aria-label="{name}">'
            f"<title>{name}</title></rect>"
        )
        if index % show_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{baseline + 14}" font-size="10" fill="#555" aria-hidden="true">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    # Every interpolated label and title is escaped above.
    return mark_safe("".join(parts))


def days_filled(series: list[tuple[date, int]]) -> list[tuple[date, int]]:
    """Every day from the first to the last day of ``series``, in order, with missing days as zero."""
    if not series:
        return []
    values = dict(series)
    first, last = min(values), max(values)
    return [(day, values.get(day, 0)) for day in (first + timedelta(days=n) for n in range((last - first).days + 1))]


def signed_bar_chart(
    bars: list[tuple[str, float | None]],
    *,
    title: str,
    low: float = -100,
    high: float = 100,
    width: int = 640,
    height: int = 200,
    positive: str = "#2f7d4f",
    negative: str = "#b42318",
) -> SafeString:
    """Bars above and below a zero line on a fixed scale (NPS runs from −100 to +100); a bar without a value
    (``None``: no answers that week) is left out and its label kept. Labels are escaped."""
    top, bottom, left = 22, 20, 4
    plot_height = height - top - bottom
    span = (high - low) or 1
    zero_y = top + plot_height * (high / span)
    slot = (width - left) / max(len(bars), 1)
    bar_width = max(slot * 0.7, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="14" font-size="12" fill="#333">{escape(title)} ({low:g} to {high:+g})</text>',
        f'<line x1="{left}" y1="{zero_y:.1f}" x2="{width}" y2="{zero_y:.1f}" stroke="#999"/>',
    ]
    show_every = max(1, len(bars) // 10)
    for index, (label, value) in enumerate(bars):
        x = left + index * slot + (slot - bar_width) / 2
        if value is not None:
            clamped = min(max(float(value), low), high)
            bar_height = plot_height * abs(clamped) / span
            y = zero_y - bar_height if clamped >= 0 else zero_y
            fill = positive if clamped >= 0 else negative
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
                f'fill="{fill}"><title>{escape(label)}: {float(value):+g}</title></rect>'
            )
        if index % show_every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="10" fill="#555">{escape(label)}</text>')
    parts.append("</svg>")
    # Every interpolated label and title is escaped above; numbers and colours are ours.
    return mark_safe("".join(parts))
