"""One-time codes: issue (rate-limited per phone/email), check (expiring, limited attempts).

Rules:
- only an HMAC of the code is stored (keyed with SECRET_KEY, so a copy of the table does not let
  anyone try the million six-digit codes offline);
- a new code for the same value, purpose and customer supersedes the previous one, so the number
  of guesses is bounded by requests-per-hour x attempts-per-code;
- at most `settings.OTP_IP_LIMIT` code requests per client IP per `OTP_IP_WINDOW_SECONDS` when the
  caller passes `ip` (crm.services.ip_limits, counted in Redis);
- at most `ProgramSettings.otp_requests_per_hour` codes go to one phone or email per hour, whatever
  the purpose; requests for one value are serialised with an advisory lock so two concurrent
  requests cannot both slip under the limit;
- the code is handed to the sender (crm.senders) only after the transaction commits.

`verification_code_check` is meant to be called inside the caller's transaction; a wrong attempt
is returned as a failure (not raised) so the caller can let its transaction commit the attempt
count and raise afterwards: see `raise_after_commit` use in crm.services.notifiers.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.services import audit_record
from crm.models import Customer, ProgramSettings, VerificationCode
from crm.services.ip_limits import code_request_ip_check
from crm.senders import code_sender

CODE_DIGITS = 6
RATE_WINDOW = dt.timedelta(hours=1)


def code_hash(*, kind: str, value: str, purpose: str, code: str) -> str:
    message = f"{kind}:{value}:{purpose}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _lock_value(kind: str, value: str) -> None:
    """Serialise code requests for one phone/email until the end of the transaction."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"otp:{kind}:{value}"])


@transaction.atomic
def verification_code_issue(
    *, kind: str, value: str, purpose: str, actor: Actor, customer: Customer | None = None, ip: str | None = None
) -> VerificationCode:
    """Create a code for a normalised `value` and send it after commit.

    Raises ip_rate_limited (429) when `ip` has requested too many codes (crm.services.ip_limits;
    checked first, so it says nothing about the value), then code_rate_limited (429).
    """
    code_request_ip_check(ip=ip)
    _lock_value(kind, value)
    program = ProgramSettings.load()
    now = timezone.now()
    window = list(
        VerificationCode.objects.filter(kind=kind, value=value, created_at__gte=now - RATE_WINDOW)
        .order_by("created_at")
        .values_list("created_at", flat=True)[: program.otp_requests_per_hour]
    )
    if len(window) >= program.otp_requests_per_hour:
        retry_after = max(1, int((window[0] + RATE_WINDOW - now).total_seconds()))
        raise DomainError(
            "code_rate_limited",
            f"Too many codes requested for this {kind}; try again in {retry_after // 60 + 1} min.",
            status=429,
            extra={"retry_after": retry_after},
        )
    VerificationCode.objects.filter(
        kind=kind, value=value, purpose=purpose, customer=customer, consumed_at__isnull=True
    ).update(consumed_at=now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = VerificationCode.objects.create(
        customer=customer,
        kind=kind,
        value=value,
        purpose=purpose,
        code_hash=code_hash(kind=kind, value=value, purpose=purpose, code=code),
        max_attempts=program.otp_max_attempts,
        expires_at=now + dt.timedelta(seconds=program.otp_ttl_seconds),
    )
    audit_record(
        actor=actor,
        action="verification_code.issue",
        target=row,
        after={"kind": kind, "value": value, "purpose": purpose, "customer_id": customer.pk if customer else None},
    )
    transaction.on_commit(lambda: code_sender().send(kind=kind, value=value, code=code, purpose=purpose))
    return row


def verification_code_check(
    *, kind: str, value: str, purpose: str, code: str, actor: Actor, customer: Customer | None = None
) -> DomainError | None:
    """Check and consume the live code. Call inside a transaction.

    Returns None when the code is right (it is consumed), or the DomainError to raise once the
    caller's transaction has committed the counted attempt.
    """
    row = (
        VerificationCode.objects.select_for_update()
        .filter(kind=kind, value=value, purpose=purpose, customer=customer, consumed_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    now = timezone.now()
    if row is None:
        return DomainError("code_invalid", "The code is wrong or was never requested; request a new one.", field="code")
    if row.expires_at <= now:
        return DomainError("code_expired", "The code has expired; request a new one.", field="code")
    if row.attempts >= row.max_attempts:
        return DomainError(
            "code_attempts_exceeded", "Too many wrong attempts; request a new code.", field="code", status=429
        )
    expected = code_hash(kind=kind, value=value, purpose=purpose, code=(code or "").strip())
    if not hmac.compare_digest(expected, row.code_hash):
        row.attempts += 1
        row.save(update_fields=["attempts"])
        audit_record(actor=actor, action="verification_code.wrong", target=row, after={"attempts": row.attempts})
        left = row.max_attempts - row.attempts
        if left <= 0:
            return DomainError(
                "code_attempts_exceeded", "Wrong code, and no attempts are left; request a new code.",
                field="code", status=429,
            )
        return DomainError("code_wrong", f"Wrong code; {left} attempt(s) left.", field="code", extra={"attempts_left": left})
    row.consumed_at = now
    row.save(update_fields=["consumed_at"])
    audit_record(actor=actor, action="verification_code.consume", target=row)
    return None


def raise_if(failure: DomainError | None) -> None:
    if failure is not None:
        raise failure


PURGE_AFTER = dt.timedelta(days=1)
PURGE_CHUNK = 5000


def verification_codes_purge(*, actor: Actor, older_than: dt.timedelta = PURGE_AFTER) -> int:
    """Delete codes created before now - older_than (they are useless by then; the rate limit looks
    back one hour). Chunks of PURGE_CHUNK ids, each its own short transaction, so a big backlog
    never holds long locks. Returns how many rows went."""
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                VerificationCode.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:PURGE_CHUNK]
            )
            if not ids:
                break
            VerificationCode.objects.filter(id__in=ids).delete()
            total += len(ids)
    if total:
        audit_record(actor=actor, action="verification_code.purge", object_type="crm.verificationcode",
                     after={"deleted": total, "before": cutoff.isoformat()})
    return total
