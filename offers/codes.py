"""Coupon codes: a configurable format, cryptographically random, with optional check digits.

Randomness comes from `secrets` (the OS CSPRNG). Bytes are mapped to the alphabet by rejection:
a byte at or above the largest multiple of the alphabet size below 256 is dropped, so every
character is equally likely (no modulo bias). The mapping runs in C (`bytes.translate`), which is
what lets a million codes be drawn in well under a second.

Uniqueness is not decided here: the unique index on `offers_coupon.code` decides, and the batch
service tops up whatever collided.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

ALPHABETS = {
    "digits": "0123456789",
    "safe": "23456789ABCDEFGHJKLMNPQRSTUVWXYZ",  # no 0/O, 1/I/L: codes are read aloud and typed
    "hex": "0123456789ABCDEF",
}
# The code space must be this many times the number of codes in it, so that a guessed code is
# almost surely wrong (at most 1 in SPARSENESS) and collisions stay rare.
SPARSENESS = 1000

_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload + digit` pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = ord(char) - 48
        total += _DOUBLE[digit] if index % 2 == 0 else digit
    return str((10 - total % 10) % 10)


def luhn_valid(code: str) -> bool:
    return code.isdigit() and len(code) > 1 and luhn_check_digit(code[:-1]) == code[-1]


def ean13_check_digit(payload: str) -> str:
    """EAN-13: 12 digits weighted 1,3,1,3,... from the left."""
    odd = sum(ord(c) - 48 for c in payload[0::2])
    even = sum(ord(c) - 48 for c in payload[1::2])
    return str((10 - (odd + 3 * even) % 10) % 10)


def ean13_valid(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and ean13_check_digit(code[:12]) == code[12]


class CodeFormatError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CodeFormat:
    prefix: str = ""
    length: int = 12
    alphabet: str = "safe"
    check: str = "none"  # none, luhn, ean13

    @property
    def chars(self) -> str:
        return ALPHABETS[self.alphabet]

    @property
    def space(self) -> int:
        return len(self.chars) ** self.length

    @property
    def total_length(self) -> int:
        return len(self.prefix) + self.length + (0 if self.check == "none" else 1)

    def validate(self, count: int = 1) -> None:
        if self.alphabet not in ALPHABETS:
            raise CodeFormatError("alphabet", f"unknown alphabet {self.alphabet!r}.")
        if self.prefix and not all(c.isascii() and (c.isalnum() or c in "-_") for c in self.prefix):
            raise CodeFormatError("code_prefix", "a prefix has letters, digits, - and _ only.")
        if not 4 <= self.length <= 40:
            raise CodeFormatError("code_length", "the random part has 4 to 40 characters.")
        if self.check in ("luhn", "ean13") and (self.alphabet != "digits" or not self.prefix.isdigit() and self.prefix):
            raise CodeFormatError("check_digit", f"{self.check} check digits need digits only (alphabet and prefix).")
        if self.check == "ean13" and len(self.prefix) + self.length != 12:
            raise CodeFormatError("code_length", "EAN-13 needs prefix + random part = 12 digits.")
        if self.total_length > 64:
            raise CodeFormatError("code_length", "codes are at most 64 characters long.")
        if self.space < SPARSENESS * max(count, 1):
            raise CodeFormatError(
                "code_length",
                f"{len(self.chars)}^{self.length} possible codes is too few for {count} codes: a code must be "
                f"unguessable, so the space must be at least {SPARSENESS}x the count. Lengthen the code.")

    def well_formed(self, code: str) -> bool:
        """Whether a typed code can be one of ours (prefix, length, alphabet, check digit)."""
        if len(code) != self.total_length or not code.startswith(self.prefix):
            return False
        body = code[len(self.prefix): len(self.prefix) + self.length]
        chars = self.chars
        if any(c not in chars for c in body):
            return False
        if self.check == "luhn":
            return luhn_valid(code)
        if self.check == "ean13":
            return ean13_valid(code)
        return True

    def generate(self, count: int) -> list[str]:
        """`count` random codes (not deduplicated: the caller keeps a set)."""
        bodies = random_strings(self.chars, self.length, count)
        prefix = self.prefix
        if self.check == "luhn":
            return [f"{prefix}{body}{luhn_check_digit(prefix + body)}" for body in bodies]
        if self.check == "ean13":
            return [f"{prefix}{body}{ean13_check_digit(prefix + body)}" for body in bodies]
        if prefix:
            return [prefix + body for body in bodies]
        return bodies


def random_strings(alphabet: str, length: int, count: int) -> list[str]:
    size = len(alphabet)
    if not 2 <= size <= 256:
        raise ValueError("alphabet of 2 to 256 characters")
    limit = 256 - 256 % size
    # Byte b < limit maps to alphabet[b % size]; bytes at or above limit map to NUL and are dropped.
    table = bytes(ord(alphabet[b % size]) if b < limit else 0 for b in range(256))
    need = count * length
    chunks: list[bytes] = []
    have = 0
    while have < need:
        raw = secrets.token_bytes(int((need - have) * 256 / limit * 1.02) + 64)
        mapped = raw.translate(table).replace(b"\0", b"")
        chunks.append(mapped)
        have += len(mapped)
    text = b"".join(chunks)[:need].decode("ascii")
    return [text[i: i + length] for i in range(0, need, length)]
