"""Personal products: a member (through the app) or the call center chooses up to N products of a
set's group; the choice holds until the set's offer ends."""
from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from catalogue.models import Product, ProductGroupMembership
from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_record
from crm.models import Customer
from offers.models import Offer, PersonalProductChoice, PersonalProductSet


def personal_set_open(product_set: PersonalProductSet) -> tuple[bool, str]:
    """Whether members may choose in this set now, and why not."""
    if not product_set.is_active:
        return False, "This set is closed."
    offer = product_set.offer
    if offer is not None:
        today = timezone.localdate()
        if offer.state != Offer.State.ACTIVE:
            return False, f"The set's offer is {offer.state}."
        if offer.start_date > today or (offer.end_date is not None and offer.end_date < today):
            return False, "The set's offer is not running today."
    return True, ""


@transaction.atomic
def personal_products_choose(*, product_set: PersonalProductSet, customer: Customer, skus: Sequence[str],
                             actor: Actor, channel: str) -> list[PersonalProductChoice]:
    """Replace the member's choice in a set with `skus` (at most `max_choices`, all of the set's group)."""
    ok, why = personal_set_open(product_set)
    if not ok:
        raise Conflict("set_closed", why, field="set")
    wanted = list(dict.fromkeys(s.strip() for s in skus if s and s.strip()))
    if len(wanted) > product_set.max_choices:
        raise DomainError("too_many_products", f"Choose at most {product_set.max_choices} products.", field="products")
    products = {p.sku: p for p in Product.objects.filter(sku__in=wanted, is_active=True)}
    missing = [sku for sku in wanted if sku not in products]
    if missing:
        raise DomainError("unknown_product", f"Unknown product {missing[0]}.", field="products")
    in_group = set(ProductGroupMembership.objects.filter(group_id=product_set.group_id, product__sku__in=wanted)
                   .values_list("product__sku", flat=True))
    outside = [sku for sku in wanted if sku not in in_group]
    if outside:
        raise DomainError("product_not_in_set", f"{outside[0]} is not one of this set's products.", field="products")
    # Lock the member so two devices choosing at once cannot exceed the limit together.
    Customer.objects.select_for_update().only("id").get(pk=customer.pk)
    current = list(PersonalProductChoice.objects.filter(product_set=product_set, customer=customer)
                   .select_related("product"))
    before = sorted(choice.product.sku for choice in current)
    if (channel == PersonalProductChoice.Channel.APP and not product_set.changeable and current
            and before != sorted(wanted)):
        raise Conflict("choice_locked", "Your choice holds until the end of the offer's period.", field="products")
    valid_until = product_set.offer.end_date if product_set.offer_id else None
    keep = set(wanted)
    PersonalProductChoice.objects.filter(product_set=product_set, customer=customer).exclude(
        product__sku__in=keep).delete()
    existing = {choice.product.sku for choice in current if choice.product.sku in keep}
    PersonalProductChoice.objects.bulk_create([
        PersonalProductChoice(product_set=product_set, customer=customer, product=products[sku], channel=channel,
                              valid_until=valid_until)
        for sku in wanted if sku not in existing
    ])
    audit_record(actor=actor, action="personal_products.choose", target=product_set,
                 before={"customer_id": customer.pk, "products": before},
                 after={"customer_id": customer.pk, "products": sorted(wanted)}, comment=channel)
    return list(PersonalProductChoice.objects.filter(product_set=product_set, customer=customer)
                .select_related("product"))
