"""Server-rendered SVG bar charts: no script, no download. Each chart has a <title> and <desc>, axis
labels, and each bar its value in a <title> (shown on hover, read by screen readers) and a link."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 64


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    tooltip: str
    href: str = ""


def bar_chart(chart_id: str, title: str, x_label: str, y_label: str, bars: list[Bar], percent: bool = False) -> Markup:
    top = 1.0 if percent else max([b.value for b in bars] + [1.0])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(bars), 1)
    parts = [
        f'<svg id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-t" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" style="max-width:{WIDTH}px;background:#fff" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title><desc>{escape(y_label)} / {escape(x_label)}</desc>',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#555"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#555"/>',
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" font-size="12" text-anchor="middle">{escape(x_label)}</text>',
        f'<text transform="translate(14,{TOP + plot_h / 2}) rotate(-90)" font-size="12" text-anchor="middle">{escape(y_label)}</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = TOP + plot_h - frac * plot_h
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_num(top * frac, percent)}</text>'
        )
    for i, b in enumerate(bars):
        h = 0.0 if top <= 0 else max(0.0, min(b.value / top, 1.0)) * plot_h
        x = LEFT + i * step + step * 0.15
        rect = (
            f'<rect class="bar" data-label="{escape(b.label)}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="#1f6feb"><title>{escape(b.tooltip)}</title></rect>'
        )
        parts.append(f'<a href="{escape(b.href)}">{rect}</a>' if b.href else rect)
        if len(bars) <= 31:
            parts.append(
                f'<text x="{x + step * 0.35:.1f}" y="{TOP + plot_h + 14}" font-size="10" text-anchor="middle">{escape(b.label[-5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _num(v: float, percent: bool) -> str:
    return f"{v:.0%}" if percent else f"{v:g}"
