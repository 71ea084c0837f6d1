"""Compile offers (plain specs read from the database) into an immutable snapshot the engine
evaluates without any query.

The snapshot holds the offers of each event in evaluation order, the product-group membership of
the SKUs the offers speak of, and an index from product group to the offers that need it, so a
cheque only looks at the offers its lines can trigger.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from offers.engine.actions import Action, parse_action
from offers.engine.filters import CHEQUE, Coupon, Filter, PurchasedGroup, parse_filter
from offers.engine.schema import SpecError


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    position: int
    filters: Sequence[Mapping[str, Any]]
    actions: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class OfferSpec:
    id: int
    name: str
    priority: int = 0
    cumulative: bool = False
    exclusive: bool = False  # when it applies, later offers do not apply to its lines
    event: str = "purchase"
    start_date: dt.date | None = None
    end_date: dt.date | None = None  # inclusive, store's local date
    partner_ids: frozenset[int] = frozenset()  # empty: every partner
    store_ids: frozenset[int] = frozenset()  # empty: every store of the partners
    limit_per_customer: int | None = None
    max_benefit_per_cheque: Decimal | None = None
    budget: Decimal | None = None
    rules: tuple[RuleSpec, ...] = ()


# Compiled objects compare and hash by identity (eq=False): the engine keys dictionaries by them,
# and hashing every field of an offer on each lookup would cost more than the evaluation itself.
@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    id: int
    name: str
    cheque_filters: tuple[Filter, ...]
    line_filters: tuple[Filter, ...]
    actions: tuple[Action, ...]
    # Lines must be in one of these groups (from a product_group filter), or None: any line.
    index_groups: frozenset[str] | None
    coupon_filters: tuple[Coupon, ...]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledOffer:
    id: int
    name: str
    priority: int
    cumulative: bool
    exclusive: bool
    event: str
    start_date: dt.date | None
    end_date: dt.date | None
    partner_ids: frozenset[int]
    store_ids: frozenset[int]
    limit_per_customer: int | None
    max_benefit_per_cheque: Decimal | None
    budget: Decimal | None
    rules: tuple[CompiledRule, ...]
    error: str = ""  # a spec that no longer compiles: the offer never applies and the trace says why
    # Set when every rule needs one of these groups: a cheque without them skips the offer at once.
    index_groups: frozenset[str] | None = None
    limited: bool = False  # has a member limit or a budget: processing records its usage
    places: bool = False  # restricted to some partners or stores


@dataclass(frozen=True)
class OfferList:
    """Offers of one event and kind, in evaluation order, with an index by product group: a
    cheque only evaluates the offers its lines can trigger (`candidates`)."""

    offers: tuple[CompiledOffer, ...]
    by_group: Mapping[str, tuple[int, ...]]  # group -> positions of offers whose every rule needs it
    always: frozenset[int]  # positions of offers any cheque may trigger

    @classmethod
    def build(cls, offers: Sequence[CompiledOffer]) -> "OfferList":
        by_group: dict[str, list[int]] = {}
        always: set[int] = set()
        for position, offer in enumerate(offers):
            if offer.index_groups is None:
                always.add(position)
            else:
                for group in offer.index_groups:
                    by_group.setdefault(group, []).append(position)
        return cls(tuple(offers), {g: tuple(p) for g, p in by_group.items()}, frozenset(always))

    def candidates(self, groups: frozenset[str], lineless: bool) -> list[CompiledOffer]:
        if lineless or len(self.always) == len(self.offers):
            return list(self.offers)
        positions = set(self.always)
        by_group = self.by_group
        for group in groups:
            found = by_group.get(group)
            if found:
                positions.update(found)
        offers = self.offers
        return [offers[p] for p in sorted(positions)]


EMPTY_LIST = OfferList((), {}, frozenset())


@dataclass(frozen=True)
class Snapshot:
    version: str
    offers: tuple[CompiledOffer, ...]
    # event -> (non-cumulative offers, cumulative offers), each by priority desc then id asc
    by_event: Mapping[str, tuple[OfferList, OfferList]]
    sku_groups: Mapping[str, frozenset[str]]
    # What processing must put in the context: usage of these offers, purchases of these groups.
    limited_offer_ids: frozenset[int] = frozenset()
    history_groups: frozenset[str] = frozenset()
    referenced_groups: frozenset[str] = frozenset()
    built_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    # offer id -> its trace entry as JSON text when a cheque holds none of its groups (filled by the
    # engine on first use; the snapshot is immutable, so the text never goes stale).
    untriggered_text: dict[int, str] = field(default_factory=dict, compare=False, repr=False)


def compile_rule(spec: RuleSpec) -> CompiledRule:
    """Compile one rule; raise SpecError with a dotted field (`filters.1.days`) on a bad spec."""
    cheque: list[Filter] = []
    line: list[Filter] = []
    for index, data in enumerate(spec.filters):
        try:
            item = parse_filter(data)
        except SpecError as exc:
            raise SpecError(f"filters.{index}" + (f".{exc.field}" if exc.field else ""), exc.message) from exc
        (cheque if item.LEVEL == CHEQUE else line).append(item)
    actions: list[Action] = []
    for index, data in enumerate(spec.actions):
        try:
            actions.append(parse_action(data))
        except SpecError as exc:
            raise SpecError(f"actions.{index}" + (f".{exc.field}" if exc.field else ""), exc.message) from exc
    if not actions:
        raise SpecError("actions", "a rule needs at least one action.")
    groups = [f.index_groups() for f in line]
    indexed = [g for g in groups if g is not None]
    index_groups: frozenset[str] | None = None
    if indexed:
        # All line filters must hold, so a line must be in every indexed filter's groups; any one
        # of them is a sound pre-selection. Take the narrowest.
        index_groups = min(indexed, key=len)
    return CompiledRule(
        id=spec.id,
        name=spec.name,
        cheque_filters=tuple(cheque),
        line_filters=tuple(line),
        actions=tuple(actions),
        index_groups=index_groups,
        coupon_filters=tuple(f for f in cheque if isinstance(f, Coupon) and not f.negate),
    )


def compile_offer(spec: OfferSpec) -> CompiledOffer:
    error = ""
    rules: list[CompiledRule] = []
    for rule in spec.rules:
        try:
            rules.append(compile_rule(rule))
        except SpecError as exc:
            error = f"rule {rule.id} ({rule.name}): {exc}"
            rules = []
            break
    if not spec.rules and not error:
        error = "the offer has no rules"
    index_groups: frozenset[str] | None = None
    if rules and all(rule.index_groups is not None for rule in rules):
        index_groups = frozenset().union(*(rule.index_groups for rule in rules))  # type: ignore[misc]
    return CompiledOffer(
        id=spec.id, name=spec.name, priority=spec.priority, cumulative=spec.cumulative, exclusive=spec.exclusive,
        event=spec.event, start_date=spec.start_date, end_date=spec.end_date, partner_ids=spec.partner_ids,
        store_ids=spec.store_ids, limit_per_customer=spec.limit_per_customer,
        max_benefit_per_cheque=spec.max_benefit_per_cheque, budget=spec.budget, rules=tuple(rules), error=error,
        index_groups=index_groups, limited=spec.limit_per_customer is not None or spec.budget is not None,
        places=bool(spec.partner_ids or spec.store_ids),
    )


def referenced_groups(specs: Iterable[OfferSpec]) -> tuple[set[str], set[str]]:
    """Product groups the offers' filters name: (groups lines are matched against, purchase-history groups)."""
    line_groups: set[str] = set()
    history: set[str] = set()
    for spec in specs:
        for rule in spec.rules:
            for data in rule.filters:
                if not isinstance(data, Mapping):
                    continue
                kind = data.get("type")
                if kind in ("product_group", "cheque_sum", "cheque_quantity"):
                    line_groups.update(g for g in data.get("groups") or () if isinstance(g, str))
                elif kind == PurchasedGroup.TYPE and isinstance(data.get("group"), str):
                    history.add(data["group"])
    return line_groups, history


def order_key(offer: CompiledOffer) -> tuple[int, int]:
    return (-offer.priority, offer.id)


def compile_snapshot(specs: Iterable[OfferSpec], sku_groups: Mapping[str, Iterable[str]], *,
                     version: str = "0") -> Snapshot:
    specs = list(specs)
    offers = tuple(sorted((compile_offer(spec) for spec in specs), key=order_key))
    by_event: dict[str, tuple[list[CompiledOffer], list[CompiledOffer]]] = {}
    for offer in offers:
        pair = by_event.setdefault(offer.event, ([], []))
        pair[1 if offer.cumulative else 0].append(offer)
    line_groups, history = referenced_groups(specs)
    return Snapshot(
        version=version,
        offers=offers,
        by_event={event: (OfferList.build(pair[0]), OfferList.build(pair[1])) for event, pair in by_event.items()},
        sku_groups={sku: frozenset(groups) for sku, groups in sku_groups.items()},
        limited_offer_ids=frozenset(offer.id for offer in offers if offer.limited),
        history_groups=frozenset(history),
        referenced_groups=frozenset(line_groups),
    )


def validate_rule(filters: Any, actions: Any) -> list[tuple[str, str]]:
    """Every problem with a rule's filters and actions, as (dotted field, reason)."""
    errors: list[tuple[str, str]] = []
    if not isinstance(filters, list):
        errors.append(("filters", "must be a list of filter objects."))
        filters = []
    if not isinstance(actions, list):
        errors.append(("actions", "must be a list of action objects."))
        actions = []
    for index, data in enumerate(filters):
        try:
            parse_filter(data)
        except SpecError as exc:
            errors.append((f"filters.{index}" + (f".{exc.field}" if exc.field else ""), exc.message))
    for index, data in enumerate(actions):
        try:
            parse_action(data)
        except SpecError as exc:
            errors.append((f"actions.{index}" + (f".{exc.field}" if exc.field else ""), exc.message))
    if not actions and not any(e[0] == "actions" for e in errors):
        errors.append(("actions", "a rule needs at least one action."))
    return errors
