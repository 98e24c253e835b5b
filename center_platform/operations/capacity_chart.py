"""The capacity outlook as a server-rendered SVG: evidence held over the coming days at the measured
growth, against what the sized stores hold. No script; each line has a <title> for hover and readers."""

from __future__ import annotations

from markupsafe import Markup, escape

from center_platform.operations.capacity import Outlook, Usage, human_bytes

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 80, 24, 32, 48
MIN_HORIZON_DAYS = 365


def horizon_days(out: Outlook) -> int:
    """Far enough to show the day the store fills (with a margin), and at least a year."""
    if out.days_until_full is None:
        return MIN_HORIZON_DAYS
    return max(MIN_HORIZON_DAYS, int(out.days_until_full * 1.25) + 1)


def outlook_chart(usage: Usage, out: Outlook) -> Markup:
    days = horizon_days(out)
    end_usage = usage.used_bytes + usage.growth_bytes_per_day * days
    top = max(out.capacity_bytes, end_usage, 1.0) * 1.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: float) -> float:
        return LEFT + plot_w * day / days

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    cap_y = y(out.capacity_bytes)
    full = "—" if out.days_until_full is None else f"{out.days_until_full:.0f}"
    title = "存储容量展望 Capacity outlook"
    parts = [
        f'<svg id="capacity_chart" role="img" aria-labelledby="capacity_chart-t" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="capacity_chart-t">{title}</title>'
        f"<desc>已用 used {escape(human_bytes(usage.used_bytes))}, 距满 days until full {full}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{title}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#555"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#555"/>',
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" font-size="12" text-anchor="middle">'
        f"自今日起天数 days from today (0-{days})</text>",
    ]
    for frac in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(top * frac) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{escape(human_bytes(top * frac))}</text>"
        )
    parts.append(
        f'<line class="capacity" x1="{LEFT}" y1="{cap_y:.1f}" x2="{WIDTH - RIGHT}" y2="{cap_y:.1f}" '
        f'stroke="#c62828" stroke-width="2" stroke-dasharray="6 4"><title>容量 capacity '
        f"{escape(human_bytes(out.capacity_bytes))}</title></line>"
    )
    parts.append(
        f'<text x="{LEFT + 6}" y="{cap_y - 6:.1f}" font-size="11" fill="#c62828">'
        f"容量 capacity {escape(human_bytes(out.capacity_bytes))}</text>"
    )
    parts.append(
        f'<text x="{LEFT + 6}" y="{y(usage.used_bytes) + 16:.1f}" font-size="11" fill="#1f6feb">'
        f"已用 used {escape(human_bytes(usage.used_bytes))}, +{escape(human_bytes(usage.growth_bytes_per_day))}/天 day</text>"
    )
    parts.append(
        f'<polyline class="usage" points="{x(0):.1f},{y(usage.used_bytes):.1f} {x(days):.1f},{y(end_usage):.1f}" '
        f'fill="none" stroke="#1f6feb" stroke-width="2"><title>已用 used {escape(human_bytes(usage.used_bytes))}'
        f" + {escape(human_bytes(usage.growth_bytes_per_day))}/天 day</title></polyline>"
    )
    if out.days_until_full is not None:
        fx = x(out.days_until_full)
        parts.append(
            f'<line class="full" x1="{fx:.1f}" y1="{TOP}" x2="{fx:.1f}" y2="{TOP + plot_h}" stroke="#c62828">'
            f"<title>约 {full} 天后存满 full in about {full} days</title></line>"
        )
        parts.append(f'<text x="{fx + 4:.1f}" y="{TOP + 12}" font-size="11" fill="#c62828">{full} 天 days</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
