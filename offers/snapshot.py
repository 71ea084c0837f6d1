"""The compiled offers of this process, rebuilt when the program's offers change.

A version number lives in Redis; the service layer bumps it (after commit) whenever an offer, a
rule or the product groups they name change. `snapshot_get()` compares it with its own (one Redis
GET, at most once per OFFERS_SNAPSHOT_CHECK_SECONDS): a process rebuilds only when the version
moved, so every web and Celery worker evaluates the same offers, and evaluating a cheque never
queries offers. A snapshot also expires after
`MAX_AGE_SECONDS`, a safety net for catalogue changes made by set-based SQL that sends no signal.
"""
from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from catalogue.models import ProductGroupMembership
from offers.engine import Cheque, OfferSpec, Result, RuleSpec, Snapshot, compile_snapshot, evaluate
from offers.engine.compile import referenced_groups
from offers.models import Offer, Rule

VERSION_KEY = "offers:snapshot-version"
MAX_AGE_SECONDS = 300.0

_lock = threading.Lock()
DEFAULT_CHECK_SECONDS = 1.0
_cached: dict[str, object] = {"snapshot": None, "loaded": 0.0, "checked": 0.0}


def version_current() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        # Redis lost the key (flushed, restarted): start a new series no process has seen.
        cache.add(VERSION_KEY, time.time_ns(), timeout=None)
        version = cache.get(VERSION_KEY)
    return str(version)


def _bump() -> None:
    _cached["checked"] = 0.0  # this process sees its own change at once
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.add(VERSION_KEY, time.time_ns(), timeout=None)


def version_bump() -> None:
    """Invalidate every process's snapshot once the current transaction commits.

    After commit, not before: a process rebuilding between a bump and the commit would read the
    old rows under the new version and keep them.
    """
    transaction.on_commit(_bump)


def offer_specs_load(*, states: Iterable[str] = (Offer.State.ACTIVE,), offer_ids: Iterable[int] = ()) -> list[OfferSpec]:
    """Offers in `states` plus those in `offer_ids`, as engine specs: four queries whatever their number."""
    from django.db.models import Q

    query = Q(state__in=list(states))
    ids = list(offer_ids)
    if ids:
        query |= Q(id__in=ids)
    offers = list(Offer.objects.filter(query).order_by("id"))
    if not offers:
        return []
    by_id = {offer.id: offer for offer in offers}
    partners: dict[int, set[int]] = {}
    for offer_id, partner_id in Offer.partners.through.objects.filter(offer_id__in=by_id).values_list(
            "offer_id", "partner_id"):
        partners.setdefault(offer_id, set()).add(partner_id)
    stores: dict[int, set[int]] = {}
    for offer_id, store_id in Offer.stores.through.objects.filter(offer_id__in=by_id).values_list(
            "offer_id", "store_id"):
        stores.setdefault(offer_id, set()).add(store_id)
    rules: dict[int, list[RuleSpec]] = {}
    for rule in Rule.objects.filter(offer_id__in=by_id, is_enabled=True).order_by("offer_id", "position", "id"):
        rules.setdefault(rule.offer_id, []).append(
            RuleSpec(id=rule.id, name=rule.name, position=rule.position, filters=rule.filters, actions=rule.actions))
    return [
        OfferSpec(
            id=offer.id, name=offer.name, priority=offer.priority, cumulative=offer.cumulative,
            exclusive=offer.exclusive, event=offer.event, start_date=offer.start_date, end_date=offer.end_date,
            partner_ids=frozenset(partners.get(offer.id, ())), store_ids=frozenset(stores.get(offer.id, ())),
            limit_per_customer=offer.limit_per_customer, max_benefit_per_cheque=offer.max_benefit_per_cheque,
            budget=offer.budget, rules=tuple(rules.get(offer.id, ())),
        )
        for offer in offers
    ]


def sku_groups_load(groups: Iterable[str]) -> dict[str, set[str]]:
    """SKU -> the named groups it belongs to (only groups some offer speaks of)."""
    out: dict[str, set[str]] = {}
    codes = list(groups)
    if not codes:
        return out
    rows = ProductGroupMembership.objects.filter(group__code__in=codes).values_list("product__sku", "group__code")
    for sku, code in rows.iterator(chunk_size=20_000):
        out.setdefault(sku, set()).add(code)
    return out


def snapshot_build(specs: list[OfferSpec], version: str) -> Snapshot:
    line_groups, _ = referenced_groups(specs)
    return compile_snapshot(specs, sku_groups_load(line_groups), version=version)


def _check_interval() -> float:
    return float(getattr(settings, "OFFERS_SNAPSHOT_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))


def snapshot_get() -> Snapshot:
    """The compiled active offers: at most one Redis GET, and none if this process checked the
    version less than OFFERS_SNAPSHOT_CHECK_SECONDS ago (default 1 s). A change made in this
    process is seen at once (version_bump resets the check); other processes see it within the
    interval. The Redis round trip is most of a cheque's latency on a busy host: checking once a
    second instead of per cheque keeps it off the hot path."""
    now = time.monotonic()
    snapshot = _cached["snapshot"]
    if isinstance(snapshot, Snapshot) and now - _cached["checked"] < _check_interval() \
            and now - _cached["loaded"] < MAX_AGE_SECONDS:  # type: ignore[operator]
        return snapshot
    version = version_current()
    _cached["checked"] = now
    fresh = now - _cached["loaded"] < MAX_AGE_SECONDS  # type: ignore[operator]
    if isinstance(snapshot, Snapshot) and snapshot.version == version and fresh:
        return snapshot
    with _lock:
        snapshot = _cached["snapshot"]
        if isinstance(snapshot, Snapshot) and snapshot.version == version and \
                time.monotonic() - _cached["loaded"] < MAX_AGE_SECONDS:  # type: ignore[operator]
            return snapshot
        snapshot = snapshot_build(offer_specs_load(), version)
        _cached["snapshot"], _cached["loaded"] = snapshot, time.monotonic()
        _freeze_long_lived()
        return snapshot


def _freeze_long_lived() -> None:
    """Move the snapshot (and whatever else is long-lived by now) out of the cyclic GC's sight.

    Evaluations allocate a few thousand short-lived objects; some survive a young collection and
    eventually trigger a full one, which walks every tracked object of the process - the snapshot's
    tens of thousands included - and shows up as 10-100 ms pauses in the 99th percentile. Frozen
    objects are still freed by reference counting when a later snapshot replaces them (a snapshot
    has no reference cycles); only cyclic garbage alive at this moment is kept, once per rebuild.
    """
    gc.collect()
    gc.freeze()


def snapshot_forget() -> None:
    """Drop this process's snapshot (tests)."""
    _cached["snapshot"], _cached["loaded"], _cached["checked"] = None, 0.0, 0.0


def cheque_evaluate(cheque: Cheque) -> Result:
    """Evaluate a cheque against the running offers: what processing calls."""
    return evaluate(snapshot_get(), cheque)
