"""Coupon code formats: alphabets without bias, check digits, unguessable spaces."""
from __future__ import annotations

from collections import Counter

import pytest

from offers.codes import CodeFormat, CodeFormatError, ean13_check_digit, ean13_valid, luhn_check_digit, luhn_valid


def test_luhn_and_ean13_known_values():
    assert luhn_check_digit("7992739871") == "3"  # the classic example
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert ean13_check_digit("400638133393") == "1"  # 4006381333931
    assert ean13_valid("4006381333931") and not ean13_valid("4006381333932")


@pytest.mark.parametrize("fmt", [
    CodeFormat(prefix="CF", length=10, alphabet="safe"),
    CodeFormat(prefix="77", length=12, alphabet="digits", check="luhn"),
    CodeFormat(prefix="20", length=10, alphabet="digits", check="ean13"),
    CodeFormat(length=16, alphabet="hex"),
])
def test_generated_codes_follow_their_format(fmt):
    fmt.validate(1000)
    codes = fmt.generate(2000)
    assert len(codes) == 2000
    assert all(fmt.well_formed(code) and len(code) == fmt.total_length for code in codes)
    assert len(set(codes)) == len(codes)  # a collision in 2000 draws from >= 10^10 would be a bug


def test_characters_are_uniform():
    counts = Counter("".join(CodeFormat(length=20, alphabet="digits").generate(50_000)))
    expected = 50_000 * 20 / 10
    # A modulo bias (256 % 10) would leave 6-9 2.3% below the mean; random noise on 1M characters
    # is about 0.3% (one sigma), so 1.2% catches the bias and practically never fails by chance.
    assert all(abs(count - expected) / expected < 0.012 for count in counts.values()), counts


def test_a_mistyped_code_is_not_well_formed():
    fmt = CodeFormat(prefix="77", length=12, alphabet="digits", check="luhn")
    code = fmt.generate(1)[0]
    typo = code[:-2] + str((int(code[-2]) + 1) % 10) + code[-1]
    assert not fmt.well_formed(typo)


@pytest.mark.parametrize("fmt, count, field", [
    (CodeFormat(length=4, alphabet="digits"), 100, "code_length"),  # 10^4 < 1000 x 100: guessable
    (CodeFormat(length=10, alphabet="safe", check="luhn"), 1, "check_digit"),
    (CodeFormat(prefix="1", length=10, alphabet="digits", check="ean13"), 1, "code_length"),
    (CodeFormat(length=3), 1, "code_length"),
])
def test_bad_formats_are_refused(fmt, count, field):
    with pytest.raises(CodeFormatError) as caught:
        fmt.validate(count)
    assert caught.value.field == field
