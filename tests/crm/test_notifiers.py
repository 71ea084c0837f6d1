"""Phones and emails: normalisation, one-time codes (hashed, expiring, limited), one verified owner."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent
from crm.identifiers import email_normalize, phone_normalize
from crm.models import Notifier, ProgramSettings, VerificationCode
from crm.services.notifiers import (
    notifier_add,
    notifier_change_confirm,
    notifier_change_request,
    notifier_remove,
    notifier_verify_confirm,
    notifier_verify_request,
)
from tests.crm.otp_outbox import otp_outbox  # noqa: F401  (fixture)
from tests.factories.crm import CustomerFactory, NotifierFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.mark.parametrize(
    "raw, expected",
    [("8 (916) 123-45-67", "+79161234567"), ("+7 916 1234567", "+79161234567"), ("9161234567", "+79161234567")],
)
def test_phone_is_normalised_to_e164_in_the_default_region(raw, expected):
    assert phone_normalize(raw) == expected


def test_invalid_phone_names_the_field():
    with pytest.raises(DomainError) as caught:
        phone_normalize("12345", field="phone")
    assert caught.value.code == "phone_invalid"
    assert caught.value.field == "phone"
    with pytest.raises(DomainError) as caught:
        phone_normalize("call me")
    assert caught.value.code == "phone_invalid"


def test_allowed_regions_and_default_region_come_from_program_settings():
    program = ProgramSettings.load()
    program.allowed_phone_regions = ["RU"]
    program.save()
    with pytest.raises(DomainError) as caught:
        phone_normalize("+7 701 123 4567")  # Kazakhstan
    assert caught.value.code == "phone_region_not_allowed"
    assert "KZ" in caught.value.message

    program.allowed_phone_regions = []
    program.default_phone_region = "KZ"
    program.save()
    assert phone_normalize("7011234567") == "+77011234567"


def test_email_is_lower_cased_and_validated():
    assert email_normalize("  Anna.Petrova@Example.COM ") == "anna.petrova@example.com"
    with pytest.raises(DomainError) as caught:
        email_normalize("not-an-email")
    assert (caught.value.code, caught.value.field) == ("email_invalid", "email")


def test_notifier_add_normalises_is_idempotent_and_audited():
    customer = CustomerFactory()
    first = notifier_add(customer=customer, kind="phone", value="8 916 000-11-22", actor=ACTOR)
    again = notifier_add(customer=customer, kind="phone", value="+79160001122", actor=ACTOR)
    assert first.pk == again.pk
    assert first.value == "+79160001122"
    assert first.is_primary and not first.verified
    second = notifier_add(customer=customer, kind="phone", value="+79160001133", actor=ACTOR)
    assert not second.is_primary  # the first phone stays the primary one
    assert AuditEvent.objects.filter(action="notifier.add", object_type="crm.notifier").count() == 2


def test_code_is_stored_hashed_and_verifies_the_notifier(otp_outbox, django_capture_on_commit_callbacks):
    notifier = NotifierFactory(value="+79161112233")
    with django_capture_on_commit_callbacks(execute=True):
        row = notifier_verify_request(notifier=notifier, actor=ACTOR)
    code = otp_outbox.last_code("+79161112233")
    assert len(code) == 6 and code.isdigit()
    row.refresh_from_db()
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert not AuditEvent.objects.filter(after__icontains=code).exists()

    notifier_verify_confirm(notifier=notifier, code=code, actor=ACTOR)
    notifier.refresh_from_db()
    assert notifier.verified and notifier.verified_at is not None
    row.refresh_from_db()
    assert row.consumed_at is not None
    # A consumed code cannot be used twice.
    with pytest.raises(DomainError) as caught:
        notifier_verify_confirm(notifier=notifier, code=code, actor=ACTOR)
    assert caught.value.code == "code_invalid"


def test_wrong_codes_are_counted_and_exhaust_the_code(otp_outbox, django_capture_on_commit_callbacks):
    notifier = NotifierFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notifier_verify_request(notifier=notifier, actor=ACTOR)
    good = otp_outbox.last_code(notifier.value)
    wrong = "000000" if good != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(DomainError) as caught:
            notifier_verify_confirm(notifier=notifier, code=wrong, actor=ACTOR)
        assert caught.value.code == "code_wrong"
        assert caught.value.extra["attempts_left"] == left
    with pytest.raises(DomainError) as caught:
        notifier_verify_confirm(notifier=notifier, code=wrong, actor=ACTOR)
    assert caught.value.code == "code_attempts_exceeded" and caught.value.status == 429
    # Even the right code no longer works: the attempts are spent.
    with pytest.raises(DomainError) as caught:
        notifier_verify_confirm(notifier=notifier, code=good, actor=ACTOR)
    assert caught.value.code == "code_attempts_exceeded"
    assert VerificationCode.objects.get(value=notifier.value).attempts == 5
    notifier.refresh_from_db()
    assert not notifier.verified


def test_expired_code_is_refused(otp_outbox, django_capture_on_commit_callbacks):
    notifier = NotifierFactory()
    with django_capture_on_commit_callbacks(execute=True):
        row = notifier_verify_request(notifier=notifier, actor=ACTOR)
    VerificationCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(DomainError) as caught:
        notifier_verify_confirm(notifier=notifier, code=otp_outbox.last_code(notifier.value), actor=ACTOR)
    assert caught.value.code == "code_expired"


def test_a_new_code_supersedes_the_previous_one(otp_outbox, django_capture_on_commit_callbacks):
    notifier = NotifierFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notifier_verify_request(notifier=notifier, actor=ACTOR)
    old = otp_outbox.last_code(notifier.value)
    with django_capture_on_commit_callbacks(execute=True):
        notifier_verify_request(notifier=notifier, actor=ACTOR)
    new = otp_outbox.last_code(notifier.value)
    if old != new:
        with pytest.raises(DomainError):
            notifier_verify_confirm(notifier=notifier, code=old, actor=ACTOR)
    notifier_verify_confirm(notifier=notifier, code=new, actor=ACTOR)
    assert Notifier.objects.get(pk=notifier.pk).verified


def test_codes_per_phone_are_rate_limited(otp_outbox, django_capture_on_commit_callbacks):
    program = ProgramSettings.load()
    program.otp_requests_per_hour = 3
    program.save()
    notifier = NotifierFactory()
    other = NotifierFactory()
    for _ in range(3):
        notifier_verify_request(notifier=notifier, actor=ACTOR)
    with pytest.raises(DomainError) as caught:
        notifier_verify_request(notifier=notifier, actor=ACTOR)
    assert caught.value.code == "code_rate_limited" and caught.value.status == 429
    assert 0 < caught.value.extra["retry_after"] <= 3600
    notifier_verify_request(notifier=other, actor=ACTOR)  # another phone is not affected
    # An hour later the window has moved on.
    VerificationCode.objects.filter(value=notifier.value).update(created_at=timezone.now() - dt.timedelta(hours=2))
    notifier_verify_request(notifier=notifier, actor=ACTOR)


def test_a_verified_phone_belongs_to_one_customer(otp_outbox, django_capture_on_commit_callbacks):
    NotifierFactory(value="+79165554433", verified=True)
    mine = NotifierFactory(value="+79165554433")
    with pytest.raises(DomainError) as caught:
        notifier_verify_request(notifier=mine, actor=ACTOR)
    assert caught.value.code == "notifier_taken" and caught.value.status == 409
    with pytest.raises(DomainError) as caught:
        notifier_add(customer=mine.customer, kind="phone", value="+79165554433", actor=ACTOR, verified=True)
    assert caught.value.code == "notifier_taken"


def test_change_phone_by_code_replaces_the_primary(otp_outbox, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    notifier_add(customer=customer, kind="phone", value="+79160000001", actor=ACTOR, verified=True)
    with django_capture_on_commit_callbacks(execute=True):
        notifier_change_request(customer=customer, kind="phone", value="8 916 000 00 02", actor=ACTOR)
    code = otp_outbox.last_code("+79160000002")
    new = notifier_change_confirm(customer=customer, kind="phone", value="+79160000002", code=code, actor=ACTOR)
    phones = list(Notifier.objects.filter(customer=customer, kind="phone").values_list("value", "verified", "is_primary"))
    assert phones == [("+79160000002", True, True)]
    assert new.verified
    assert AuditEvent.objects.filter(action="notifier.change", object_id=str(new.pk)).exists()


def test_change_to_a_phone_verified_elsewhere_is_refused_only_after_the_code(otp_outbox, django_capture_on_commit_callbacks):
    NotifierFactory(value="+79160000009", verified=True)
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notifier_change_request(customer=customer, kind="phone", value="+79160000009", actor=ACTOR)  # no leak here
    with pytest.raises(DomainError) as caught:
        notifier_change_confirm(customer=customer, kind="phone", value="+79160000009",
                                code=otp_outbox.last_code("+79160000009"), actor=ACTOR)
    assert caught.value.code == "notifier_taken"
    assert not Notifier.objects.filter(customer=customer).exists()


def test_removing_the_primary_promotes_another():
    customer = CustomerFactory()
    first = notifier_add(customer=customer, kind="email", value="a@example.com", actor=ACTOR)
    second = notifier_add(customer=customer, kind="email", value="b@example.com", actor=ACTOR)
    notifier_remove(notifier=first, actor=ACTOR, reason="typo")
    second.refresh_from_db()
    assert second.is_primary
    assert AuditEvent.objects.filter(action="notifier.remove", object_id=str(first.pk), comment="typo").exists()
