"""Business types whose rule is below the regulatory minimum: found at start-up and on the admin page.

Nothing here changes a rule. A type configured before the floor existed (or before it was raised)
keeps its numbers until a system admin proposes higher ones and a second one approves them; until
then every start of the center says so in its log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.db.models import ProductType
from center_platform.retention.rules import YEAR_FIELDS, below_minimum, minimum_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BelowMinimum:
    type_code: str
    fields: dict[str, int]  # the year counts below the floor, and what they are
    minimum: int

    def message(self) -> str:
        return f"{self.type_code}: " + "; ".join(minimum_message(f, v, self.minimum) for f, v in self.fields.items())


def types_below_minimum(db: Session, minimum: int) -> list[BelowMinimum]:
    found = []
    for t in db.execute(select(ProductType).order_by(ProductType.code)).scalars():
        years = {f: int(getattr(t, f)) for f in YEAR_FIELDS}
        low = below_minimum(years, minimum)
        if low:
            found.append(BelowMinimum(t.code, {f: years[f] for f in low}, minimum))
    return found


def report_below_minimum(sessions: sessionmaker[Session], minimum: int) -> list[BelowMinimum]:
    """Logs every business type below the floor (left as it is) and returns them."""
    with sessions() as db:
        found = types_below_minimum(db, minimum)
    for item in found:
        log.warning(
            "ALERT business type %s keeps clips for less than the regulatory minimum of %d years (%s); "
            "left unchanged: a system admin must raise it on the admin page (four eyes)",
            item.type_code,
            minimum,
            ", ".join(f"{f}={v}" for f, v in item.fields.items()),
        )
    return found
