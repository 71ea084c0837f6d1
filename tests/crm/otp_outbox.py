"""A code sender that keeps what it sent, for tests: settings.LOYALTY["OTP_SENDER"] points here.

Codes go out after commit: wrap the request in `django_capture_on_commit_callbacks(execute=True)`
in non-transactional tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

SENT: list[dict] = []


class OutboxSender:
    def send(self, *, kind: str, value: str, code: str, purpose: str) -> None:
        SENT.append({"kind": kind, "value": value, "code": code, "purpose": purpose})


@dataclass
class Outbox:
    sent: list[dict] = field(default_factory=lambda: SENT)

    def last_code(self, value: str) -> str:
        for message in reversed(self.sent):
            if message["value"] == value:
                return message["code"]
        raise AssertionError(f"no code was sent to {value}: {self.sent}")


@pytest.fixture
def otp_outbox(settings) -> Outbox:
    settings.LOYALTY = {**settings.LOYALTY, "OTP_SENDER": "tests.crm.otp_outbox.OutboxSender"}
    SENT.clear()
    return Outbox()
