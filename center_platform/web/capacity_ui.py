"""Capacity page: sizing of the archive from the parameters in the query string, today's usage and
growth from the catalogue, and the outlook as an SVG chart."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue

from center_platform.operations.capacity import (
    CapacityError,
    SizingInput,
    measure_usage,
    outlook,
    parse_redundancy,
    report_lines,
    size,
)
from center_platform.operations.capacity_chart import outlook_chart
from center_platform.web import services
from center_platform.web.user_auth import csrf_token
from storage.database import utcnow

bp = Blueprint("capacity_ui", __name__)

_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    default: str


FIELDS = (
    Field("counters", "柜台数 Counters", "100"),
    Field("hours", "每天录像小时 Hours a day", "8"),
    Field("bitrate_mbit", "码率 Mbit/s", "4.128"),
    Field("years", "保存年限 Retention years", "5"),
    Field("disk_tb", "单盘 TB Disk TB", "18"),
    Field("redundancy", "冗余 Redundancy (010, ec:10+4)", "010"),
    Field("bays", "盘位 Bays", "24"),
    Field("days_per_year", "每年录像天数 Days a year", "365"),
    Field("max_fill", "填充上限 Max fill", "0.8"),
    Field("growth_days", "增长统计天数 Growth window (days)", "30"),
)


def _number(values: dict[str, str], name: str) -> float:
    text = values[name]
    if not _DECIMAL.fullmatch(text):
        raise CapacityError(f"{name} 须为十进制数 / {name} must be a decimal number: {text!r}")
    return float(text)


def _whole(values: dict[str, str], name: str) -> int:
    value = _number(values, name)
    if value != int(value):
        raise CapacityError(f"{name} 须为整数 / {name} must be a whole number: {values[name]!r}")
    return int(value)


@bp.get("/operations/capacity")
def page() -> ResponseReturnValue:
    values = {f.name: request.args.get(f.name, f.default).strip() for f in FIELDS}
    try:
        params = SizingInput(
            counters=_whole(values, "counters"),
            hours_per_day=_number(values, "hours"),
            bitrate_mbit=_number(values, "bitrate_mbit"),
            retention_years=_number(values, "years"),
            disk_tb=_number(values, "disk_tb"),
            redundancy=parse_redundancy(values["redundancy"]),
            bays=_whole(values, "bays"),
            days_per_year=_whole(values, "days_per_year"),
            max_fill=_number(values, "max_fill"),
        )
        window = _whole(values, "growth_days")
        if not 1 <= window <= 3650:
            raise CapacityError("增长统计天数须在 1 到 3650 之间 / the growth window must be 1-3650 days")
    except CapacityError as exc:
        page = render_template(
            "capacity.html", fields=FIELDS, values=values, error=str(exc), user=g.user, csrf=csrf_token()
        )
        return page, 400
    sizing = size(params)
    with services().sessions() as db:
        usage = measure_usage(db, utcnow(), window)
    out = outlook(sizing, usage)
    return render_template(
        "capacity.html",
        fields=FIELDS,
        values=values,
        error="",
        sizing=sizing,
        usage=usage,
        outlook=out,
        lines=report_lines(params, sizing, usage, out),
        chart=outlook_chart(usage, out),
        user=g.user,
        csrf=csrf_token(),
    )
