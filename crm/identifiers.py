"""How identifiers are written down: phones in E.164, emails in lower case, card codes trimmed.

Pure functions (one read of ProgramSettings at most): services normalise before they write, and
selectors normalise before they look up, so a value is always compared in the form it is stored in.
"""
from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from core.errors import DomainError
from crm.models import ProgramSettings

_email_validator = EmailValidator()
_CARD_CODE = re.compile(r"^[0-9A-Za-z\-_=?;%^/.:]{1,128}$")


def phone_normalize(raw: str, *, program: ProgramSettings | None = None, field: str = "phone") -> str:
    """Return the phone in E.164 (`+79161234567`) or raise DomainError naming `field`.

    Numbers without a leading + are read in the program's default region; when the program lists
    allowed regions, a number from any other region is refused (with its region in the message).
    """
    program = program or ProgramSettings.load()
    text = (raw or "").strip()
    if not text:
        raise DomainError("phone_invalid", "Phone number is empty.", field=field)
    try:
        number = phonenumbers.parse(text, program.default_phone_region or None)
    except phonenumbers.NumberParseException as exc:
        raise DomainError("phone_invalid", f"'{text}' is not a phone number.", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise DomainError(
            "phone_invalid",
            f"'{text}' is not a valid phone number (region {program.default_phone_region} is assumed without +).",
            field=field,
        )
    region = phonenumbers.region_code_for_number(number)
    allowed = [code.upper() for code in (program.allowed_phone_regions or [])]
    if allowed and region not in allowed:
        raise DomainError(
            "phone_region_not_allowed",
            f"Numbers from {region} are not accepted; allowed: {', '.join(allowed)}.",
            field=field,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_normalize(raw: str, *, field: str = "email") -> str:
    """Return the email in lower case (the whole address: we treat mailboxes case-insensitively)."""
    text = (raw or "").strip().lower()
    try:
        _email_validator(text)
    except ValidationError as exc:
        raise DomainError("email_invalid", f"'{raw}' is not a valid email address.", field=field) from exc
    return text


def notifier_value_normalize(*, kind: str, value: str, program: ProgramSettings | None = None,
                             field: str = "value") -> str:
    """Normalise a notifier value by its kind (push tokens are kept as given, trimmed)."""
    if kind == "phone":
        return phone_normalize(value, program=program, field=field)
    if kind == "email":
        return email_normalize(value, field=field)
    if kind == "push":
        text = (value or "").strip()
        if not text or len(text) > 254:
            raise DomainError("push_token_invalid", "Push token is empty or too long.", field=field)
        return text
    raise DomainError("notifier_kind_invalid", f"Unknown notifier kind '{kind}'.", field="kind")


def card_code_normalize(raw: str, *, field: str = "number", max_length: int = 32) -> str:
    """Card numbers, barcodes and tracks: trimmed, inner spaces removed, printable ASCII only."""
    text = re.sub(r"\s+", "", raw or "")
    if not text or len(text) > max_length or not _CARD_CODE.match(text):
        raise DomainError(
            "card_code_invalid",
            f"'{raw}' is not a valid card code (letters, digits and track punctuation, at most {max_length}).",
            field=field,
        )
    return text
