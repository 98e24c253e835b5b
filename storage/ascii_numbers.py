"""Whole numbers from text a client sent: ASCII digits only.

`str.isdigit` is true for '²' (which `int` refuses) and for '１' or '١' (which `int` reads), so a check
with it alone turns a stray character into a server error or a number nobody typed.
"""

from __future__ import annotations


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """The value of `text` if it is 1..max_digits ASCII digits, else None."""
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)
