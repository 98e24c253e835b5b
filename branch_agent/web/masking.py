"""Customer numbers as lists show them: enough to recognise a sale, not enough to reuse the number."""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    if len(value) <= 6:
        return "*" * len(value)
    keep_head = 3 if len(value) >= 10 else 1
    return value[:keep_head] + "*" * (len(value) - keep_head - 4) + value[-4:]


def mask_card_number(value: str) -> str:
    # First six (issuer) and last four, the usual card-industry masking.
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]
