"""Merging two customers: the source's cards, accounts, contacts and history move to the target.

What moves (set-based UPDATEs, one transaction):
- cards (customer re-pointed; then every card of the target is linked to every account of it);
- accounts (Account.customer re-pointed: no ledger entries, balances follow their accounts);
- purchases (history);
- notifiers: a value the target lacks moves; a duplicate is dropped, keeping the verified one;
- profile fields the target has empty (names, gender, birth date, external UID); an anonymous
  target takes a registered source's registration.
The source ends `merged` with `merged_into` = target; its app tokens are revoked.

Apps above crm (attributes, statuses, ...) own rows per customer too: they move theirs by
listening to `crm.signals.customer_merged` (sent inside the transaction, so all moves commit
together); `customer_merged` is also appended to the event outbox for asynchronous consumers.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_record, event_emit, snapshot
from crm.models import Account, Card, Customer, CustomerToken, Notifier, Purchase
from crm.services.accounts import account_open, customer_cards_link_all
from crm.services.common import customer_lock_usable
from crm.services.customers import _activate_cards
from crm.signals import customer_merged

FILLABLE = ("first_name", "last_name", "middle_name", "gender", "birth_date", "external_uid")


def _move_notifiers(*, source: Customer, target: Customer) -> dict[str, list]:
    moved, dropped = [], []
    target_rows = {(n.kind, n.value): n for n in Notifier.objects.filter(customer=target)}
    target_kinds = {kind for kind, _ in target_rows}
    for notifier in Notifier.objects.filter(customer=source).order_by("-verified", "id"):
        twin = target_rows.get((notifier.kind, notifier.value))
        if twin is not None and (twin.verified or not notifier.verified):
            dropped.append(notifier.pk)
            notifier.delete()
            continue
        if twin is not None:  # the source's copy is verified, the target's is not: keep the verified one
            dropped.append(twin.pk)
            was_primary = twin.is_primary
            twin.delete()
            notifier.is_primary = was_primary
        else:
            notifier.is_primary = notifier.kind not in target_kinds and notifier.is_primary
        notifier.customer = target
        notifier.save(update_fields=["customer", "is_primary"])
        target_rows[(notifier.kind, notifier.value)] = notifier
        target_kinds.add(notifier.kind)
        moved.append(notifier.pk)
    return {"moved": moved, "dropped": dropped}


@transaction.atomic
def customer_merge(*, source: Customer, target: Customer, actor: Actor, comment: str = "") -> Customer:
    """Merge `source` into `target` (audited on both). Returns the target."""
    if source.pk == target.pk:
        raise DomainError("merge_same_customer", "A customer cannot be merged into itself.", field="source")
    current = Customer.objects.filter(pk=source.pk).values_list("state", "merged_into_id").first()
    if current == (Customer.State.MERGED, target.pk):
        return Customer.objects.get(pk=target.pk)  # a retry of the same merge
    # Lock both rows in id order: two merges of the same pair in opposite directions cannot deadlock.
    first, second = sorted((source.pk, target.pk))
    locked = {first: customer_lock_usable(first), second: customer_lock_usable(second)}
    source, target = locked[source.pk], locked[target.pk]
    before_target = snapshot(target)
    before_source = snapshot(source)

    card_ids = list(Card.objects.filter(customer=source).values_list("id", flat=True))
    account_ids = list(Account.objects.filter(customer=source).values_list("id", flat=True))
    Card.objects.filter(id__in=card_ids).update(customer=target, updated_at=timezone.now())
    Account.objects.filter(id__in=account_ids).update(customer=target, updated_at=timezone.now())
    purchases = Purchase.objects.filter(customer=source).update(customer=target)
    notifiers = _move_notifiers(source=source, target=target)
    CustomerToken.objects.filter(customer=source, revoked_at__isnull=True).update(revoked_at=timezone.now())

    # The source gives up unique values before the target takes them.
    filled = {name: getattr(source, name) for name in FILLABLE if getattr(source, name) and not getattr(target, name)}
    source.state, source.merged_into, source.external_uid = Customer.State.MERGED, target, None
    source.save(update_fields=["state", "merged_into", "external_uid", "updated_at"])
    for name, value in filled.items():
        setattr(target, name, value)
    if target.state == Customer.State.ANONYMOUS and before_source["state"] == Customer.State.REGISTERED:
        target.state = Customer.State.REGISTERED
        target.registered_at = source.registered_at
        target.registration_channel = source.registration_channel
        target.registration_store_id = source.registration_store_id
    target.save()

    account_open(customer=target, actor=actor)
    customer_cards_link_all(customer=target, actor=actor)
    if target.state == Customer.State.REGISTERED:
        _activate_cards(customer=target, actor=actor)

    summary = {"source": source.pk, "target": target.pk, "cards": card_ids, "accounts": account_ids,
               "purchases": purchases, "notifiers": notifiers}
    customer_merged.send(sender=Customer, source=source, target=target, actor=actor)
    audit_record(actor=actor, action="customer.merge", target=target, before=before_target,
                 after=snapshot(target), comment=comment)
    audit_record(actor=actor, action="customer.merged_into", target=source, before=before_source,
                 after={**snapshot(source), "moved": summary}, comment=comment)
    event_emit(kind="customer_merged", customer_id=target.pk, payload=summary)
    return target


def customer_merge_check(*, source: Customer, target: Customer) -> None:
    """Refuse merges that make no sense before asking an operator to confirm."""
    if source.pk == target.pk:
        raise DomainError("merge_same_customer", "A customer cannot be merged into itself.", field="source")
    for who in (source, target):
        if who.state == Customer.State.MERGED:
            raise Conflict("customer_merged", f"Customer #{who.pk} was already merged.", field="source")
