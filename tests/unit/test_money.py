"""Money parsing and formatting: exact minor units, Stripe's exponents, no floats anywhere."""

from __future__ import annotations

import pytest

from cashbook.money import MoneyError, exponent, normalize_currency, to_major_str, to_minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("49.00", "usd", 4900),
        ("-12.50", "eur", -1250),
        ("0.01", "usd", 1),
        ("4900", "jpy", 4900),
        ("4900.00", "jpy", 4900),  # trailing zero decimals are exact
        ("1.234", "kwd", 1234),
        ("+7", "usd", 700),
        ("12345678901234.99", "usd", 1234567890123499),  # beyond float precision, still exact
    ],
)
def test_to_minor(text: str, currency: str, minor: int) -> None:
    assert to_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [("49.005", "usd"), ("4900.5", "jpy"), ("1,000.00", "usd"), ("", "usd"), ("1e3", "usd"), ("abc", "eur"),
     ("12.", "usd"), (".5", "usd")],
)
def test_to_minor_refuses_what_is_not_exact(text: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        to_minor(text, currency)


def test_round_trip_and_exponents() -> None:
    assert exponent("JPY") == 0 and exponent("bhd") == 3 and exponent("usd") == 2
    for minor, cur, text in [(4900, "usd", "49.00"), (-5, "usd", "-0.05"), (4900, "jpy", "4900"), (1001, "omr", "1.001")]:
        assert to_major_str(minor, cur) == text
        assert to_minor(text, cur) == minor


def test_currency_codes() -> None:
    assert normalize_currency(" USD ") == "usd"
    with pytest.raises(MoneyError, match="unknown currency"):
        normalize_currency("zzz")


def test_to_major_refuses_floats() -> None:
    with pytest.raises(MoneyError):
        to_major_str(49.0, "usd")  # type: ignore[arg-type]

