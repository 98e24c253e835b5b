"""One masking for both sides: a branch list and a center search show the same customer number the same way."""

from __future__ import annotations

import pytest

from storage.contract.masking import mask_card_number, mask_id_number


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010519491231002X", "1101**********002X"),
        ("110105491231002", "1101*******1002"),  # the old 15-digit card
        ("12345678", "********"),
        ("", ""),
    ],
)
def test_resident_id_keeps_region_head_and_last_four(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("6222020200112230128", "622202*********0128"),
        ("4111111111111111", "411111******1111"),
        ("1234567890", "**********"),
    ],
)
def test_card_keeps_issuer_and_last_four(value: str, masked: str) -> None:
    assert mask_card_number(value) == masked
