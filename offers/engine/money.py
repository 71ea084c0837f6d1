"""Money inside the engine: whole cents in Python ints.

The engine's inputs and outputs are Decimal (the house rule: money is never a float). Inside an
evaluation it counts in cents (int): exact like Decimal, and an integer operation costs a fraction
of a Decimal one, which matters when a cheque meets two hundred offers. Percentages and factors
are exact fractions (numerator, denominator) taken from their Decimal values, so that rounding
happens once, half up, exactly where the Decimal arithmetic would round.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

CENT = Decimal("0.01")


def to_cents(value: Decimal) -> int:
    """A Decimal amount in cents (rounded half up to the cent first)."""
    return int(value.quantize(CENT, ROUND_HALF_UP).scaleb(2))


@lru_cache(maxsize=1 << 16)
def from_cents(cents: int) -> Decimal:
    """Cents back to a Decimal with two places: 1200 -> Decimal("12.00").

    Cached: a result converts a few hundred amounts, and small amounts repeat across cheques
    (Decimals are immutable, so sharing them is safe)."""
    return Decimal(cents).scaleb(-2)


def fraction(value: Decimal) -> tuple[int, int]:
    """An exact (numerator, denominator) of a Decimal: 12.5 -> (25, 2)."""
    return value.as_integer_ratio()


def percent_of(cents: int, num: int, den: int) -> int:
    """cents × (num/den) %, rounded half up to the cent (cents >= 0)."""
    scale = den * 100
    return (2 * cents * num + scale) // (2 * scale)


def times(cents: int, num: int, den: int) -> int:
    """cents × num/den, rounded half up (non-negative operands)."""
    return (2 * cents * num + den) // (2 * den)


def percent_floor(cents: int, num: int, den: int) -> int:
    """cents × (num/den) %, rounded down (what may be paid must never be rounded up)."""
    return (cents * num) // (den * 100)
