import pytest

from app.money import format_cents, is_valid_amount, parse_cents


@pytest.mark.parametrize("text, cents", [
    ("0", 0), ("1", 100), ("12.34", 1234), ("12.3", 1230), ("0.01", 1),
    ("1000000000.00", 100_000_000_000),
])
def test_parse_cents(text, cents):
    assert parse_cents(text) == cents


@pytest.mark.parametrize("text", ["", "-5", "1.001", "1e3", "01", ".5", "5.", " 5", "5 ", "+5",
                                  "1,00", "NaN", None, 5, 5.0, "１２"])
def test_parse_cents_refuses(text):
    with pytest.raises(ValueError):
        parse_cents(text)


@pytest.mark.parametrize("text, valid", [
    ("0.01", True), ("1000000000.00", True), ("1000000000", True),
    ("0", False), ("0.00", False), ("1000000000.01", False), ("99999999999", False),
])
def test_amount_range(text, valid):
    assert is_valid_amount(text) is valid


@pytest.mark.parametrize("cents, text", [(0, "0.00"), (5, "0.05"), (1234, "12.34"), (-5, "-0.05"),
                                         (-123456, "-1234.56")])
def test_format_cents(cents, text):
    assert format_cents(cents) == text


def test_round_trip_over_a_range():
    for cents in range(0, 100_000, 7):
        assert parse_cents(format_cents(cents)) == cents
