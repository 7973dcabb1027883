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
