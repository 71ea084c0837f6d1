"""Phone and email normalisation for answers and imports, cheap enough for a million rows.

The rules are crm's (E.164 via `phonenumbers` in the program's default region, valid numbers
only, optionally limited to allowed regions; emails in lower case, checked for form only). A full
`phonenumbers.parse` costs ~60 µs, which alone would cap an import at ~16k rows/s, so numbers
written the usual way in the default region (+7 916 123-45-67, 8 (916) 123-45-67, 9161234567) take
a fast path: strip the punctuation and match the national number against the region's own
mobile and fixed-line patterns from the phonenumbers metadata. A match is exactly what
`is_valid_number` accepts for that region (tests compare both on random samples); anything else
goes through the full parse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

_PUNCT = re.compile(r"[\s\-().]")
_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


@dataclass(frozen=True)
class PhoneRules:
    region: str
    allowed: tuple[str, ...]  # empty = any region


@lru_cache(maxsize=16)
def _fast_path(region: str) -> tuple[str, str, re.Pattern[str] | None, int] | None:
    """(country code, national prefix, national-number pattern, national length) of a region."""
    meta = PhoneMetadata.metadata_for_region(region.upper(), None)
    if meta is None:
        return None
    patterns = [desc.national_number_pattern for desc in (meta.mobile, meta.fixed_line)
                if desc is not None and desc.national_number_pattern]
    lengths = {n for desc in (meta.mobile, meta.fixed_line) if desc is not None for n in (desc.possible_length or ())}
    if not patterns or len(lengths) != 1:
        return None  # variable-length numbering plans always take the full parse
    return (str(meta.country_code), meta.national_prefix or "", re.compile("(?:" + ")|(?:".join(patterns) + ")"),
            lengths.pop())


def phone_normalize(raw: str, rules: PhoneRules) -> str:
    """E.164 or ValueError with the reason (same acceptance as crm's phone_normalize)."""
    text = raw.strip()
    if not text:
        raise ValueError("Phone number is empty.")
    fast = _fast_path(rules.region)
    if fast is not None and (not rules.allowed or rules.region.upper() in rules.allowed):
        cc, prefix, pattern, length = fast
        digits = _PUNCT.sub("", text)
        national = None
        if digits.startswith("+" + cc):
            national = digits[len(cc) + 1:]
        elif prefix and digits.startswith(prefix) and len(digits) == length + len(prefix):
            national = digits[len(prefix):]
        elif len(digits) == length:
            national = digits
        if national is not None and len(national) == length and national.isdigit() and pattern.fullmatch(national):
            return f"+{cc}{national}"
    try:
        number = phonenumbers.parse(text, rules.region or None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{text}' is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"'{text}' is not a valid phone number (region {rules.region} is assumed without +).")
    region = phonenumbers.region_code_for_number(number)
    if rules.allowed and region not in rules.allowed:
        raise ValueError(f"Numbers from {region} are not accepted; allowed: {', '.join(rules.allowed)}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_rules() -> PhoneRules:
    """The program's phone settings (defaults when the settings row does not exist yet)."""
    from crm.models import ProgramSettings

    program = ProgramSettings.objects.filter(pk=1).first() or ProgramSettings()
    return PhoneRules(region=(program.default_phone_region or "RU").upper(),
                      allowed=tuple(code.upper() for code in (program.allowed_phone_regions or [])))


def email_normalize(raw: str) -> str:
    """Lower case, checked for form (not verified: no message is sent)."""
    text = raw.strip().lower()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError(f"'{raw.strip()}' is not a valid email address.")
    return text
