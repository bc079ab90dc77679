"""Money: an integer count of cents inside, "12.34" strings at the edges."""
import re

MAX_AMOUNT_CENTS = 1_000_000_000_00
# Dollars with at most two decimals, no sign, no exponent, no leading zeros. Always used with
# fullmatch: "$" would also match before a final newline, and "1.5\n" would read as 1.05.
AMOUNT_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?")


def parse_cents(text):
    """ "12.34" -> 1234; ValueError for anything that is not such an amount."""
    if not isinstance(text, str) or not AMOUNT_TEXT.fullmatch(text):
        raise ValueError(f"not an amount: {text!r}")
    dollars, _, fraction = text.partition(".")
    return int(dollars) * 100 + int(fraction.ljust(2, "0"))


def is_valid_amount(text):
    """True for an amount a client may move: > 0 and <= 1000000000.00."""
    try:
        return 0 < parse_cents(text) <= MAX_AMOUNT_CENTS
    except ValueError:
        return False


def format_cents(cents):
    """1234 -> "12.34"; -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}{dollars}.{rest:02d}"
