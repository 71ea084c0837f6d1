"""Coupon issues and coupons: generate codes in bulk, issue to members, validate, redeem, expire.

Redemption is a single conditional UPDATE (state issued, uses < max_uses, in its validity window,
the right member), so two tills presenting the same single-use coupon at the same moment can
never both succeed: PostgreSQL row-locks the coupon, the second UPDATE re-checks the condition
after the first commits and matches nothing.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from psycopg.errors import UniqueViolation
from django.db.models import F, Q
from django.utils import timezone

from core.actors import Actor
from core.errors import Conflict, DomainError, NotFound
from core.services import audit_record, snapshot
from offers.codes import CodeFormat, CodeFormatError
from offers.engine.lifetime import Lifetime
from offers.engine.types import PresentedCoupon
from offers.models import Coupon, CouponGrant, CouponIssue, CouponRedemption

CHUNK = 100_000  # codes per transaction while generating: progress is visible after each
ISSUE_FIELDS = ("partner", "kind", "title", "short_description", "long_description", "image", "price_points",
                "public_code", "code_prefix", "code_length", "alphabet", "check_digit", "max_uses", "timezone",
                "activation_delay_days", "activation_round", "activate_at_fixed", "lifetime_days", "expiry_round",
                "expire_at_fixed")


def code_format(issue: CouponIssue) -> CodeFormat:
    return CodeFormat(prefix=issue.code_prefix, length=issue.code_length, alphabet=issue.alphabet,
                      check=issue.check_digit)


def coupon_window(issue: CouponIssue, start: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(activate_at, expire_at) of a coupon of `issue` issued at `start`."""
    activate_at: dt.datetime | None = issue.activate_at_fixed
    if activate_at is None and (issue.activation_delay_days or issue.activation_round != "none"):
        activate_at = Lifetime(days=issue.activation_delay_days, round=issue.activation_round).at(start, issue.timezone)
    expire_at: dt.datetime | None = issue.expire_at_fixed
    if expire_at is None and issue.lifetime_days is not None:
        expire_at = Lifetime(days=issue.lifetime_days, round=issue.expiry_round).at(activate_at or start, issue.timezone)
    return activate_at, expire_at


def _validate_issue(issue: CouponIssue, count: int = 1) -> None:
    if issue.kind == CouponIssue.Kind.PUBLIC:
        if not issue.public_code:
            raise DomainError("public_code_required", "A public issue needs its public code.", field="public_code")
        if issue.partner_id is None:
            raise DomainError("partner_required", "A public code is unique within a partner: choose the partner.",
                              field="partner")
        if Coupon.objects.filter(code=issue.public_code).exists():
            raise Conflict("code_taken", "This code is already a coupon's code.", field="public_code")
        clash = CouponIssue.objects.filter(partner_id=issue.partner_id, public_code=issue.public_code)
        if issue.pk:
            clash = clash.exclude(pk=issue.pk)
        if clash.exists():
            raise Conflict("code_taken", "Another public issue of this partner has this code.", field="public_code")
    else:
        if issue.public_code:
            raise DomainError("public_code_not_allowed", "Only public issues have a shared code.", field="public_code")
        try:
            code_format(issue).validate(count)
        except CodeFormatError as exc:
            raise DomainError("invalid_code_format", exc.message, field=exc.field) from exc
    if issue.activate_at_fixed and issue.expire_at_fixed and issue.expire_at_fixed <= issue.activate_at_fixed:
        raise DomainError("invalid_period", "Coupons must expire after they activate.", field="expire_at_fixed")


@transaction.atomic
def coupon_issue_create(*, actor: Actor, **fields: Any) -> CouponIssue:
    unknown = set(fields) - set(ISSUE_FIELDS)
    if unknown:
        raise DomainError("unknown_field", f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    issue = CouponIssue(**fields)
    if issue.public_code == "":
        issue.public_code = None
    _validate_issue(issue)
    issue.save()
    audit_record(actor=actor, action="coupon_issue.create", target=issue, after=snapshot(issue))
    return issue


@transaction.atomic
def coupon_issue_update(*, issue: CouponIssue, actor: Actor, **fields: Any) -> CouponIssue:
    issue = CouponIssue.objects.select_for_update().get(pk=issue.pk)
    before = snapshot(issue)
    for name, value in fields.items():
        if name not in ISSUE_FIELDS:
            raise DomainError("unknown_field", f"unknown field {name}", field=name)
        setattr(issue, name, value)
    if issue.public_code == "":
        issue.public_code = None
    if issue.coupons.exists() and any(f in fields for f in ("code_prefix", "code_length", "alphabet", "check_digit")):
        raise DomainError("format_locked", "Codes exist already: the code format can no longer change.")
    _validate_issue(issue)
    issue.save()
    audit_record(actor=actor, action="coupon_issue.update", target=issue, before=before, after=snapshot(issue))
    return issue


# ---- bulk generation ---------------------------------------------------------------------------


@transaction.atomic
def coupon_issue_batch(*, issue: CouponIssue, count: int, actor: Actor) -> CouponIssue:
    """Ask for `count` more bearer codes of a distribution issue; a Celery task generates them.

    The codes stay `created` (unusable) until the whole batch exists, then all become `issued`.
    """
    from offers import tasks

    issue = CouponIssue.objects.select_for_update().get(pk=issue.pk)
    if issue.kind == CouponIssue.Kind.PUBLIC:
        raise DomainError("public_issue", "A public issue has one shared code; nothing to generate.", field="kind")
    if not 1 <= count <= 10_000_000:
        raise DomainError("invalid_count", "Generate 1 to 10,000,000 codes at a time.", field="count")
    if issue.generation in (CouponIssue.Generation.QUEUED, CouponIssue.Generation.RUNNING):
        raise Conflict("generation_running", "A batch of this issue is being generated; wait for it to finish.")
    total = issue.coupons.count() + count
    try:
        code_format(issue).validate(total)
    except CodeFormatError as exc:
        raise DomainError("invalid_code_format", exc.message, field=exc.field) from exc
    before = snapshot(issue, ["requested_count", "generation"])
    issue.requested_count = issue.generated_count + count
    issue.generation = CouponIssue.Generation.QUEUED
    issue.generation_error = ""
    issue.save(update_fields=["requested_count", "generation", "generation_error", "updated_at"])
    audit_record(actor=actor, action="coupon_issue.batch", target=issue, before=before,
                 after=snapshot(issue, ["requested_count", "generation"]), comment=f"{count} codes")
    issue_id = issue.pk
    transaction.on_commit(lambda: tasks.coupon_generate.delay(issue_id))
    return issue


COPY_COLUMNS = ("issue_id", "code", "state", "customer_id", "uses", "max_uses", "activate_at", "expire_at",
                "created_at", "revoke_reason", "grant_id")


NULL = "\\N"  # NULL in COPY's text format


def _copy_text(issue: CouponIssue, codes: Sequence[str], customers: Sequence[int | None], now: dt.datetime,
               grant_id: int | None) -> str:
    """Rows in COPY text format (codes are from our alphabets: nothing to escape)."""
    activate_at, expire_at = coupon_window(issue, now)
    head = f"{issue.pk}\t"
    tail = "\t".join(("0", str(issue.max_uses), activate_at.isoformat() if activate_at else NULL,
                      expire_at.isoformat() if expire_at else NULL, now.isoformat(), "",
                      str(grant_id) if grant_id else NULL)) + "\n"
    return "".join(
        head + code + "\tissued\t" + (NULL if customer is None else str(customer)) + "\t" + tail
        for code, customer in zip(codes, customers, strict=True)
    )


def _insert_codes(issue: CouponIssue, codes: Sequence[str], customers: Sequence[int | None], now: dt.datetime,
                  grant_id: int | None = None) -> list[str]:
    """Insert coupons (issued) for `codes`; return the codes inserted (the others collided).

    Fast path: one COPY straight into offers_coupon, codes sorted so the unique index is filled in
    order. A random code colliding with an existing one is about 1 in 10^12 per code with the
    default format, so when the unique index refuses the COPY (savepoint rolled back), the chunk
    goes the careful way: COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING.
    """
    order = sorted(range(len(codes)), key=codes.__getitem__)
    codes = [codes[i] for i in order]
    customers = [customers[i] for i in order]
    text = _copy_text(issue, codes, customers, now, grant_id)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.copy(f"COPY offers_coupon ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
                copy.write(text)
        return list(codes)
    except (IntegrityError, UniqueViolation):  # COPY's errors come from psycopg unwrapped
        pass
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS offers_coupon_stage ON COMMIT DELETE ROWS AS "
                       f"SELECT {', '.join(COPY_COLUMNS)} FROM offers_coupon WITH NO DATA")
        cursor.execute("TRUNCATE offers_coupon_stage")
        with cursor.copy(f"COPY offers_coupon_stage ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            copy.write(text)
        columns = ", ".join(COPY_COLUMNS)
        cursor.execute(f"INSERT INTO offers_coupon ({columns}) SELECT {columns} FROM offers_coupon_stage "
                       "ON CONFLICT (code) DO NOTHING RETURNING code")
        inserted = [row[0] for row in cursor.fetchall()]
        cursor.execute("TRUNCATE offers_coupon_stage")
    return inserted


def coupon_generate_run(*, issue_id: int, actor: Actor) -> CouponIssue:
    """Generate the requested codes of a batch in chunks (one transaction each, progress visible
    after each). Safe to re-run after a crash: it continues from the codes already generated.

    Codes are issued as they are generated: nobody knows them before the batch is exported, and
    turning a million rows from created to issued at the end would rewrite the whole batch.
    """
    issue = CouponIssue.objects.get(pk=issue_id)
    if issue.generation == CouponIssue.Generation.DONE:
        return issue
    CouponIssue.objects.filter(pk=issue_id).update(generation=CouponIssue.Generation.RUNNING, updated_at=timezone.now())
    fmt = code_format(issue)
    try:
        while True:
            issue.refresh_from_db(fields=["generated_count", "requested_count"])
            missing = issue.requested_count - issue.generated_count
            if missing <= 0:
                break
            with transaction.atomic():
                now = timezone.now()
                want = min(missing, CHUNK)
                codes = set(fmt.generate(want))
                while len(codes) < want:  # duplicates within the chunk: draw more
                    codes.update(fmt.generate(want - len(codes)))
                inserted = _insert_codes(issue, list(codes), [None] * len(codes), now)
                CouponIssue.objects.filter(pk=issue_id).update(generated_count=F("generated_count") + len(inserted),
                                                               updated_at=now)
        with transaction.atomic():
            CouponIssue.objects.filter(pk=issue_id).update(generation=CouponIssue.Generation.DONE,
                                                           updated_at=timezone.now())
            issue.refresh_from_db()
            audit_record(actor=actor, action="coupon_issue.generated", target=issue,
                         after={"generated_count": issue.generated_count})
    except Exception as exc:
        CouponIssue.objects.filter(pk=issue_id).update(generation=CouponIssue.Generation.FAILED,
                                                       generation_error=str(exc)[:500], updated_at=timezone.now())
        raise
    return issue


def _personal_codes(issue: CouponIssue, customer_ids: Sequence[int], now: dt.datetime,
                    grant_id: int | None = None) -> list[str]:
    """One coupon per member id (repeat an id for several), topping up the ones whose code collided.

    Returns the inserted codes.
    """
    fmt = code_format(issue)
    pending = list(customer_ids)
    inserted: list[str] = []
    for _ in range(20):
        if not pending:
            break
        codes = fmt.generate(len(pending))
        while len(set(codes)) < len(codes):
            codes = fmt.generate(len(pending))
        have = set(_insert_codes(issue, codes, pending, now, grant_id=grant_id))
        inserted.extend(code for code in codes if code in have)
        pending = [customer for code, customer in zip(codes, pending, strict=True) if code not in have]
    if pending:
        raise DomainError("code_space_exhausted", "Could not find free codes: lengthen the code format.")
    return inserted


def _check_personal(issue: CouponIssue) -> None:
    if issue.kind == CouponIssue.Kind.PUBLIC:
        raise DomainError("public_issue", "A public issue has one shared code: members just type it.", field="kind")


@transaction.atomic
def coupons_issue_to_customers(*, issue: CouponIssue, customer_ids: Sequence[int], actor: Actor) -> list[Coupon]:
    """Issue one personal coupon to each member of a chunk (at most 5,000 ids; enqueue more in chunks)."""
    _check_personal(issue)
    if len(customer_ids) > 5000:
        raise DomainError("chunk_too_large", "Issue to at most 5,000 members per call; enqueue chunks.")
    now = timezone.now()
    codes = _personal_codes(issue, list(customer_ids), now)
    CouponIssue.objects.filter(pk=issue.pk).update(generated_count=F("generated_count") + len(codes),
                                                   requested_count=F("requested_count") + len(codes), updated_at=now)
    audit_record(actor=actor, action="coupon_issue.to_customers", target=issue,
                 after={"customers": list(customer_ids)[:50], "count": len(codes)})
    return list(Coupon.objects.filter(code__in=codes))


@transaction.atomic
def coupon_grant(*, issue: CouponIssue, customer_id: int, key: str, actor: Actor, count: int = 1) -> list[Coupon]:
    """Give a member `count` coupons of an issue for one reason (`key`); a retry gives nothing twice.

    Processing calls it at confirm for each `coupons_to_issue` of the engine's result.
    """
    _check_personal(issue)
    grant, created = CouponGrant.objects.get_or_create(issue=issue, key=key,
                                                       defaults={"customer_id": customer_id, "count": count})
    if not created:
        return list(grant.coupons.all())
    now = timezone.now()
    codes = _personal_codes(issue, [customer_id] * count, now, grant_id=grant.pk)
    CouponIssue.objects.filter(pk=issue.pk).update(generated_count=F("generated_count") + len(codes),
                                                   requested_count=F("requested_count") + len(codes), updated_at=now)
    audit_record(actor=actor, action="coupon.grant", target=grant, after={"customer_id": customer_id, "codes": codes},
                 comment=key)
    return list(Coupon.objects.filter(code__in=codes))


def coupons_issue_to_segment_enqueue(*, issue: CouponIssue, customer_ids: Iterable[int], actor: Actor) -> int:
    """Enqueue issuing to many members in chunks of 1,000 ids (one task per chunk)."""
    from offers import tasks

    chunk: list[int] = []
    sent = 0
    for customer_id in customer_ids:
        chunk.append(customer_id)
        if len(chunk) == 1000:
            tasks.coupon_issue_customers.delay(issue.pk, chunk, actor.kind, actor.id, actor.label)
            sent += len(chunk)
            chunk = []
    if chunk:
        tasks.coupon_issue_customers.delay(issue.pk, chunk, actor.kind, actor.id, actor.label)
        sent += len(chunk)
    return sent


# ---- validation and redemption ----------------------------------------------------------------


@dataclass(frozen=True)
class CouponCheck:
    ok: bool
    code: str  # ok, not_found, not_issued, not_active_yet, expired, used, revoked, other_customer
    message: str
    coupon: Coupon | None = None
    issue: CouponIssue | None = None

    @property
    def presented(self) -> PresentedCoupon | None:
        """What the engine's cheque context carries for a valid coupon."""
        if not self.ok or self.issue is None:
            return None
        return PresentedCoupon(code=self.coupon.code if self.coupon else self.issue.public_code or "",
                               issue_id=self.issue.pk)


def _check_coupon(coupon: Coupon, customer_id: int | None, now: dt.datetime) -> CouponCheck:
    issue = coupon.issue
    if coupon.state == Coupon.State.REVOKED:
        return CouponCheck(False, "revoked", f"The coupon was revoked{': ' + coupon.revoke_reason if coupon.revoke_reason else ''}.",
                           coupon, issue)
    if coupon.state == Coupon.State.EXPIRED or (coupon.expire_at is not None and coupon.expire_at <= now):
        return CouponCheck(False, "expired", f"The coupon expired on {coupon.expire_at:%Y-%m-%d %H:%M} UTC.", coupon, issue)
    if coupon.state == Coupon.State.USED or coupon.uses >= coupon.max_uses:
        return CouponCheck(False, "used", "The coupon has been used.", coupon, issue)
    if coupon.state == Coupon.State.CREATED:
        return CouponCheck(False, "not_issued", "The coupon's batch is still being generated.", coupon, issue)
    if coupon.activate_at is not None and coupon.activate_at > now:
        return CouponCheck(False, "not_active_yet", f"The coupon is valid from {coupon.activate_at:%Y-%m-%d %H:%M} UTC.",
                           coupon, issue)
    if coupon.customer_id is not None and coupon.customer_id != customer_id:
        return CouponCheck(False, "other_customer", "The coupon belongs to another member.", coupon, issue)
    return CouponCheck(True, "ok", "The coupon is valid.", coupon, issue)


def _public_uses(issue: CouponIssue, customer_id: int | None) -> int:
    return CouponRedemption.objects.filter(issue=issue, coupon__isnull=True, customer_id=customer_id,
                                           cancelled_at__isnull=True).count()


def _check_public(issue: CouponIssue, customer_id: int | None, now: dt.datetime) -> CouponCheck:
    if issue.activate_at_fixed and issue.activate_at_fixed > now:
        return CouponCheck(False, "not_active_yet", f"The code is valid from {issue.activate_at_fixed:%Y-%m-%d %H:%M} UTC.",
                           issue=issue)
    if issue.expire_at_fixed and issue.expire_at_fixed <= now:
        return CouponCheck(False, "expired", f"The code expired on {issue.expire_at_fixed:%Y-%m-%d %H:%M} UTC.", issue=issue)
    if customer_id is None:
        return CouponCheck(False, "other_customer", "A public code needs an identified member.", issue=issue)
    if _public_uses(issue, customer_id) >= issue.max_uses:
        return CouponCheck(False, "used", "The member has already used this code.", issue=issue)
    return CouponCheck(True, "ok", "The code is valid.", issue=issue)


def coupon_validate(*, code: str, customer_id: int | None = None, partner_id: int | None = None,
                    at: dt.datetime | None = None) -> CouponCheck:
    """Whether `code` can be used now by this member, with the reason when not. Reads only."""
    code = (code or "").strip()
    now = at or timezone.now()
    coupon = Coupon.objects.select_related("issue").filter(code=code).first()
    if coupon is not None:
        return _check_coupon(coupon, customer_id, now)
    public = CouponIssue.objects.filter(kind=CouponIssue.Kind.PUBLIC, public_code=code)
    if partner_id is not None:
        public = public.filter(Q(partner_id=partner_id))
    issue = public.first()
    if issue is not None:
        return _check_public(issue, customer_id, now)
    return CouponCheck(False, "not_found", "No coupon has this code.")


def coupons_present(*, codes: Iterable[str], customer_id: int | None, partner_id: int | None,
                    at: dt.datetime | None = None) -> tuple[tuple[PresentedCoupon, ...], list[CouponCheck]]:
    """Validate the codes a till sent: the valid ones for the engine's context, and every check."""
    checks = [coupon_validate(code=code, customer_id=customer_id, partner_id=partner_id, at=at) for code in codes]
    presented = tuple(check.presented for check in checks if check.presented is not None)
    return presented, checks


@transaction.atomic
def coupon_redeem(*, code: str, customer_id: int | None, key: str, actor: Actor, partner_id: int | None = None,
                  at: dt.datetime | None = None) -> CouponRedemption:
    """Use a coupon once for the purchase `key`. Idempotent per key; never twice beyond max_uses.

    Raises Conflict("coupon_error") with the reason (used, expired, ...) in `extra["reason"]`.
    """
    code = (code or "").strip()
    now = at or timezone.now()
    coupon_id = Coupon.objects.filter(code=code).values_list("id", "issue_id").first()
    if coupon_id is None:
        return _redeem_public(code=code, customer_id=customer_id, key=key, actor=actor, partner_id=partner_id, now=now)
    coupon_pk, issue_id = coupon_id
    existing = CouponRedemption.objects.filter(issue_id=issue_id, key=key, coupon_id=coupon_pk).first()
    if existing is not None:
        return existing  # a retried confirm: already redeemed for this purchase
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE offers_coupon SET uses = uses + 1, used_at = %s, "
            "state = CASE WHEN uses + 1 >= max_uses THEN 'used' ELSE state END "
            "WHERE id = %s AND state = 'issued' AND uses < max_uses "
            "AND (activate_at IS NULL OR activate_at <= %s) AND (expire_at IS NULL OR expire_at > %s) "
            "AND (customer_id IS NULL OR customer_id = %s) RETURNING uses",
            [now, coupon_pk, now, now, customer_id])
        row = cursor.fetchone()
    if row is None:
        check = coupon_validate(code=code, customer_id=customer_id, at=now)
        raise Conflict("coupon_error", check.message if not check.ok else "The coupon cannot be used now.",
                       field="coupon", extra={"reason": check.code if not check.ok else "used"})
    redemption = CouponRedemption.objects.create(issue_id=issue_id, coupon_id=coupon_pk, customer_id=customer_id,
                                                 key=key)
    audit_record(actor=actor, action="coupon.redeem", object_type="offers.coupon", object_id=coupon_pk,
                 after={"uses": row[0], "key": key, "customer_id": customer_id})
    return redemption


def _redeem_public(*, code: str, customer_id: int | None, key: str, actor: Actor, partner_id: int | None,
                   now: dt.datetime) -> CouponRedemption:
    public = CouponIssue.objects.filter(kind=CouponIssue.Kind.PUBLIC, public_code=code)
    if partner_id is not None:
        public = public.filter(partner_id=partner_id)
    issue = public.first()
    if issue is None:
        raise Conflict("coupon_error", "No coupon has this code.", field="coupon", extra={"reason": "not_found"})
    existing = CouponRedemption.objects.filter(issue=issue, key=key).first()
    if existing is not None:
        return existing
    if customer_id is not None:
        # Serialise this member's uses of this code: count-then-insert is then race-free.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7301, (issue.pk * 1_000_003 + customer_id) % 2**31])
    check = _check_public(issue, customer_id, now)
    if not check.ok:
        raise Conflict("coupon_error", check.message, field="coupon", extra={"reason": check.code})
    redemption = CouponRedemption.objects.create(issue=issue, coupon=None, customer_id=customer_id, key=key)
    audit_record(actor=actor, action="coupon.redeem_public", target=issue, after={"customer_id": customer_id, "key": key})
    return redemption


@transaction.atomic
def coupon_redemption_cancel(*, code: str, key: str, actor: Actor) -> bool:
    """Give a use back (the purchase was cancelled or refunded). Idempotent."""
    redemption = (CouponRedemption.objects.select_for_update(of=("self",))
                  .filter(Q(coupon__code=code) | Q(issue__public_code=code, coupon__isnull=True), key=key,
                          cancelled_at__isnull=True).first())
    if redemption is None:
        return False
    redemption.cancelled_at = timezone.now()
    redemption.save(update_fields=["cancelled_at"])
    if redemption.coupon_id is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE offers_coupon SET uses = uses - 1, state = CASE WHEN state = 'used' THEN 'issued' ELSE state END "
                "WHERE id = %s AND uses > 0", [redemption.coupon_id])
    audit_record(actor=actor, action="coupon.redeem_cancel", object_type="offers.coupon",
                 object_id=redemption.coupon_id or "", after={"key": key, "code": code})
    return True


@transaction.atomic
def coupon_revoke(*, coupon: Coupon, actor: Actor, reason: str = "") -> Coupon:
    updated = Coupon.objects.filter(pk=coupon.pk, state__in=[Coupon.State.CREATED, Coupon.State.ISSUED]).update(
        state=Coupon.State.REVOKED, revoked_at=timezone.now(), revoke_reason=reason[:300])
    if not updated:
        coupon.refresh_from_db()
        raise Conflict("invalid_state", f"A coupon that is {coupon.state} cannot be revoked.", field="state")
    coupon.refresh_from_db()
    audit_record(actor=actor, action="coupon.revoke", target=coupon, after={"state": coupon.state}, comment=reason)
    return coupon


def coupons_expire(*, now: dt.datetime | None = None, batch: int = 10_000) -> int:
    """Expire every coupon past its expiry, set-based, in batches (one short transaction each)."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE offers_coupon SET state = 'expired' WHERE id IN ("
                " SELECT id FROM offers_coupon WHERE state IN ('created', 'issued') AND expire_at <= %s"
                " ORDER BY expire_at LIMIT %s FOR UPDATE SKIP LOCKED)",
                [now, batch])
            count = cursor.rowcount
            if count:
                audit_record(actor=Actor.system("coupon expiry"), action="coupon.expire_batch",
                             object_type="offers.coupon", after={"count": count, "until": now})
        total += count
        if count < batch:
            return total


def coupon_get(*, code: str) -> Coupon:
    coupon = Coupon.objects.select_related("issue", "customer").filter(code=code.strip()).first()
    if coupon is None:
        raise NotFound("not_found", "No coupon has this code.", field="code")
    return coupon
