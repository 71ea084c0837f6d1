"""Offers and rules: create, change, copy, move through their states. Every write is audited and
invalidates the compiled offers of every process (after commit)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalogue.models import Partner, Store
from core.actors import Actor
from core.errors import DomainError
from core.services import audit_record, snapshot
from offers.engine.compile import validate_rule
from offers.models import Offer, Rule
from offers.snapshot import version_bump

OFFER_FIELDS = ("name", "description", "event", "start_date", "end_date", "priority", "cumulative", "exclusive",
                "limit_per_customer", "max_benefit_per_cheque", "budget")
RULE_FIELDS = ("name", "position", "is_enabled", "filters", "actions")
COPY_SUFFIX = "_Copy"

# Allowed moves: draft -> active; active <-> paused; active/paused -> finished. Finished is final.
TRANSITIONS: dict[str, set[str]] = {
    Offer.State.DRAFT: {Offer.State.ACTIVE},
    Offer.State.ACTIVE: {Offer.State.PAUSED, Offer.State.FINISHED},
    Offer.State.PAUSED: {Offer.State.ACTIVE, Offer.State.FINISHED},
    Offer.State.FINISHED: set(),
}


def rule_validate(*, filters: Any, actions: Any) -> None:
    """Raise DomainError naming the first bad field (`filters.1.days`) of a rule's JSON."""
    errors = validate_rule(filters, actions)
    if errors:
        field, message = errors[0]
        raise DomainError("invalid_rule", f"{field}: {message}", field=field,
                          extra={"errors": {f: [m] for f, m in errors}})


def _check_places(partners: Iterable[Partner] | None, stores: Iterable[Store] | None) -> None:
    if partners is None or stores is None:
        return
    partner_ids = {p.pk for p in partners}
    if partner_ids:
        strays = [s for s in stores if s.partner_id not in partner_ids]
        if strays:
            raise DomainError("store_of_other_partner", f"store {strays[0]} does not belong to the offer's partners.",
                              field="stores")


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(OFFER_FIELDS)
    if unknown:
        raise DomainError("unknown_field", f"unknown offer field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    start, end = fields.get("start_date"), fields.get("end_date")
    if start and end and end < start:
        raise DomainError("invalid_period", "The offer cannot end before it starts.", field="end_date")
    for name in ("budget", "max_benefit_per_cheque"):
        if fields.get(name) is not None and fields[name] <= 0:
            raise DomainError("invalid_limit", f"{name} must be positive.", field=name)


@transaction.atomic
def offer_create(*, actor: Actor, partners: Iterable[Partner] = (), stores: Iterable[Store] = (),
                 rules: Iterable[dict[str, Any]] = (), **fields: Any) -> Offer:
    """A new offer, in draft, with its rules (each a dict of name, filters, actions, position)."""
    _check_fields(fields)
    partners, stores = list(partners), list(stores)
    _check_places(partners, stores)
    offer = Offer.objects.create(**fields)
    offer.partners.set(partners)
    offer.stores.set(stores)
    audit_record(actor=actor, action="offer.create", target=offer,
                 after={**snapshot(offer), "partners": [p.pk for p in partners], "stores": [s.pk for s in stores]})
    for position, data in enumerate(rules):
        rule_create(offer=offer, actor=actor, **{"position": position, **data})
    version_bump()
    return offer


@transaction.atomic
def offer_update(*, offer: Offer, actor: Actor, partners: Iterable[Partner] | None = None,
                 stores: Iterable[Store] | None = None, **fields: Any) -> Offer:
    _check_fields(fields)
    offer = Offer.objects.select_for_update().get(pk=offer.pk)
    if offer.state == Offer.State.FINISHED:
        raise DomainError("offer_finished", "A finished offer cannot be changed.")
    before = snapshot(offer)
    for name, value in fields.items():
        setattr(offer, name, value)
    if offer.end_date and offer.end_date < offer.start_date:
        raise DomainError("invalid_period", "The offer cannot end before it starts.", field="end_date")
    offer.save()
    partners = list(partners) if partners is not None else None
    stores = list(stores) if stores is not None else None
    _check_places(partners if partners is not None else list(offer.partners.all()),
                  stores if stores is not None else list(offer.stores.all()))
    if partners is not None:
        offer.partners.set(partners)
    if stores is not None:
        offer.stores.set(stores)
    audit_record(actor=actor, action="offer.update", target=offer, before=before, after=snapshot(offer))
    version_bump()
    return offer


@transaction.atomic
def offer_set_state(*, offer: Offer, state: str, actor: Actor, comment: str = "") -> Offer:
    """Move an offer (draft -> active -> paused/finished). Activation checks that it can run."""
    offer = Offer.objects.select_for_update().get(pk=offer.pk)
    if state not in TRANSITIONS.get(offer.state, set()):
        raise DomainError("invalid_state", f"An offer that is {offer.state} cannot become {state}.", field="state")
    if state == Offer.State.ACTIVE:
        rules = list(offer.rules.filter(is_enabled=True))
        if not rules:
            raise DomainError("offer_has_no_rules", "Add at least one enabled rule before activating.")
        for rule in rules:
            errors = validate_rule(rule.filters, rule.actions)
            if errors:
                raise DomainError("invalid_rule", f"rule {rule.name!r}: {errors[0][0]}: {errors[0][1]}", field="rules")
        if offer.end_date and offer.end_date < timezone.localdate():
            raise DomainError("offer_ended", "The offer's period is over; change its end date first.", field="end_date")
    before = snapshot(offer, ["state"])
    offer.state = state
    if state == Offer.State.ACTIVE and offer.activated_at is None:
        offer.activated_at = timezone.now()
    offer.save(update_fields=["state", "activated_at", "updated_at"])
    audit_record(actor=actor, action=f"offer.{state}", target=offer, before=before, after=snapshot(offer, ["state"]),
                 comment=comment)
    version_bump()
    return offer


@transaction.atomic
def rule_create(*, offer: Offer, actor: Actor, name: str, filters: list | None = None, actions: list | None = None,
                position: int | None = None, is_enabled: bool = True) -> Rule:
    filters = filters if filters is not None else []
    actions = actions if actions is not None else []
    rule_validate(filters=filters, actions=actions)
    if position is None:
        last = offer.rules.order_by("-position").values_list("position", flat=True).first()
        position = 0 if last is None else last + 1
    rule = Rule.objects.create(offer=offer, name=name, filters=filters, actions=actions, position=position,
                               is_enabled=is_enabled)
    audit_record(actor=actor, action="rule.create", target=rule, after=snapshot(rule))
    version_bump()
    return rule


@transaction.atomic
def rule_update(*, rule: Rule, actor: Actor, **fields: Any) -> Rule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise DomainError("unknown_field", f"unknown rule field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    before = snapshot(rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule_validate(filters=rule.filters, actions=rule.actions)
    rule.save()
    audit_record(actor=actor, action="rule.update", target=rule, before=before, after=snapshot(rule))
    version_bump()
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, actor: Actor) -> None:
    audit_record(actor=actor, action="rule.delete", target=rule, before=snapshot(rule))
    rule.delete()
    version_bump()


@transaction.atomic
def rule_copy(*, rule: Rule, actor: Actor) -> Rule:
    """A copy of the rule, placed last in its offer, named with the suffix `_Copy`."""
    last = Rule.objects.filter(offer_id=rule.offer_id).order_by("-position").values_list("position", flat=True).first()
    copy = Rule.objects.create(offer_id=rule.offer_id, name=f"{rule.name}{COPY_SUFFIX}"[:200],
                               filters=rule.filters, actions=rule.actions, is_enabled=rule.is_enabled,
                               position=(last or 0) + 1)
    audit_record(actor=actor, action="rule.copy", target=copy, after=snapshot(copy), comment=f"copy of rule #{rule.pk}")
    version_bump()
    return copy


@transaction.atomic
def offers_changed(*, offer: Offer, actor: Actor, action: str, before: dict | None = None, comment: str = "") -> None:
    """For writes made by an admin form: audit them and invalidate the compiled offers."""
    audit_record(actor=actor, action=action, target=offer, before=before, after=snapshot(offer), comment=comment)
    version_bump()


@transaction.atomic
def offers_finish_expired(*, today: dt.date | None = None) -> int:
    """Finish active and paused offers whose last day has passed everywhere (set-based).

    A day later than the server's date: a store far west may still be on the offer's last day.
    """
    today = today or timezone.now().date()
    cutoff = today - dt.timedelta(days=1)
    ids = list(Offer.objects.filter(state__in=[Offer.State.ACTIVE, Offer.State.PAUSED], end_date__lt=cutoff)
               .values_list("id", flat=True))
    if not ids:
        return 0
    Offer.objects.filter(id__in=ids).update(state=Offer.State.FINISHED, updated_at=timezone.now())
    from core.services import audit_bulk

    audit_bulk(actor=Actor.system("offers expiry"), action="offer.finished", object_type="offers.offer",
               rows=[(str(i), {"state": "finished"}) for i in ids])
    version_bump()
    return len(ids)
