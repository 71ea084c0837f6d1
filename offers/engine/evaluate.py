"""Evaluate a cheque against a compiled snapshot. Pure: no database, no cache, no clock.

How offers combine (following the original):

1. Only offers of the cheque's event, in their period, for its partner and store are considered.
2. Within an offer, rules are tried in order: a line goes to the first rule whose filters all hold
   for it; a rule that holds for no line (or, on a lineless event, the first rule that holds) is
   skipped, and the trace says which filter failed and why.
3. Non-cumulative offers first: at most one applies to a line. Each is evaluated on its own; they
   are then ranked by priority (higher first), then total benefit for the whole cheque (larger
   first), then id (lower first), and each takes its lines unless a better-ranked one already
   took them (it is then re-evaluated on the lines left to it).
4. Then every cumulative offer applies on top, by priority then id, on what is left to pay.
5. An exclusive offer (later offers may not apply) keeps the lines it applied to from every
   offer evaluated after it.
6. Points are booked once every discount is known: a percent accrual is of what the member
   finally pays for the line. Multipliers run last: they multiply the points the other offers
   accrued on their lines (never each other's).

Limits: an offer whose member limit is used up does not apply; budget and per-cheque limits cap
its benefit (discounts kept first). The result reports each applied offer's benefit so processing
can record it at confirm.
"""
from __future__ import annotations

import datetime as dt
from functools import partial
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from offers.engine.actions import Outcome, distribute
from offers.engine.money import fraction, from_cents, percent_floor, percent_of, times, to_cents
from offers.engine.compile import EMPTY_LIST, CompiledOffer, CompiledRule, Snapshot
from offers.engine.filters import Filter
from offers.engine.lifetime import Lifetime, moment_on, zone
from offers.engine.types import (
    ZERO,
    AppliedEffect,
    BonusLot,
    Cheque,
    CouponToIssue,
    Line,
    CouponUsed,
    LineResult,
    Message,
    OfferUsage,
    Result,
    RuleTrace,
    TraceEntry,
    UsageFacts,
    entry_text,
)

EMPTY: frozenset[str] = frozenset()
TAKEN = "its lines are taken"
NO_USAGE = UsageFacts()


class Evaluation:
    """The working state of one evaluation: the cheque in store time and what offers did so far."""

    __slots__ = (
        "cheque", "customer", "lines", "n", "local", "date", "time", "weekday", "line_groups", "group_lines",
        "present_groups", "base", "net", "discount", "effects", "base_bonus", "caps", "memo",
        "blocked", "stop_all", "lots", "messages", "coupon_issues", "coupons_used", "usage", "multipliers",
        "offer_benefit", "lifetimes", "pending_bonuses", "all_mask", "group_masks", "sku_masks", "filter_masks",
        "blocked_mask", "line_bonus", "lineless_bonus", "mask_memo", "bits_memo", "amounts",
    )

    def __init__(self, snapshot: Snapshot, cheque: Cheque) -> None:
        self.cheque = cheque
        self.customer = cheque.customer
        self.lines = cheque.lines
        self.n = len(cheque.lines)
        local = cheque.purchased_at.astimezone(zone(cheque.timezone))
        self.local = local.replace(tzinfo=None)
        self.date = local.date()
        self.time = self.local.time()
        self.weekday = local.isoweekday()
        sku_groups = snapshot.sku_groups
        self.line_groups = [sku_groups.get(line.sku, EMPTY) for line in cheque.lines]
        group_lines: dict[str, list[int]] = {}
        for index, groups in enumerate(self.line_groups):
            for group in groups:
                group_lines.setdefault(group, []).append(index)
        self.group_lines = group_lines
        self.present_groups = frozenset(group_lines)
        # Sets of lines as bit masks (bit i = line index i): rules are matched to lines with a few
        # integer operations instead of loops over the lines.
        self.all_mask = (1 << self.n) - 1
        self.group_masks = {group: sum(1 << i for i in indices) for group, indices in group_lines.items()}
        sku_masks: dict[str, int] = {}
        for index, line in enumerate(cheque.lines):
            sku_masks[line.sku] = sku_masks.get(line.sku, 0) | (1 << index)
        self.sku_masks = sku_masks
        self.filter_masks: dict[Filter, int] = {}
        self.mask_memo: dict[frozenset[str], int] = {}
        self.bits_memo: dict[int, list[int]] = {}
        self.blocked_mask = 0
        # Money in whole cents (money.py); `amounts` keeps the Decimals for filters and the result.
        self.amounts = [line.amount for line in cheque.lines]
        self.base = [to_cents(amount) for amount in self.amounts]
        self.net = list(self.base)
        self.discount = [0] * self.n
        # line -> {(offer, effect): cents, or the percent (Decimal) of a bonus_cap}
        self.effects: list[dict[tuple[CompiledOffer, str], int | Decimal]] = [{} for _ in range(self.n)]
        self.base_bonus = [0] * self.n  # points of rate/fixed accruals: what multipliers multiply
        self.line_bonus = [0] * self.n  # every point accrued on the line
        self.lineless_bonus = 0
        self.caps: list[Decimal | None] = [None] * self.n
        self.memo: dict[object, object] = {}
        self.blocked: dict[int, CompiledOffer] = {}  # line -> the exclusive offer that closed it
        self.stop_all: CompiledOffer | None = None
        self.lots: list[BonusLot] = []
        self.messages: list[Message] = []
        self.coupon_issues: list[CouponToIssue] = []
        self.coupons_used: dict[str, int] = {}
        self.usage: list[OfferUsage] = []
        self.multipliers: list[tuple[CompiledOffer, tuple[int, ...], tuple[int, int], Lifetime | None,
                                     Lifetime | None]] = []
        self.offer_benefit: dict[int, int] = {}  # offer id -> cents of discount and points given
        self.lifetimes: dict[Lifetime, dt.datetime] = {}
        # (offer, its accruals as Outcome.bonuses), booked by _accrue at the end
        self.pending_bonuses: list[tuple[CompiledOffer, list, list]] = []

    # ---- aggregates filters ask for (memoised per cheque) ------------------------------------

    def groups_mask(self, groups: frozenset[str]) -> int:
        cached = self.mask_memo.get(groups)
        if cached is None:
            cached = 0
            masks = self.group_masks
            for group in groups:
                cached |= masks.get(group, 0)
            self.mask_memo[groups] = cached
        return cached

    def bits(self, mask: int) -> list[int]:
        """The line indices in `mask` (memoised: many rules take the same lines). Read-only."""
        cached = self.bits_memo.get(mask)
        if cached is None:
            cached = self.bits_memo[mask] = bits(mask)
        return cached

    def filter_mask(self, item: Filter) -> int:
        cached = self.filter_masks.get(item)
        if cached is None:
            cached = self.filter_masks[item] = item.line_mask(self)
        return cached

    def lines_in(self, groups: Iterable[str]) -> list[int]:
        key = ("lines", groups)
        cached = self.memo.get(key)
        if cached is None:
            found: set[int] = set()
            for group in groups:
                found.update(self.group_lines.get(group, ()))
            cached = self.memo[key] = sorted(found)
        return cached  # type: ignore[return-value]

    def sum_of(self, groups: Sequence[str] | None) -> Decimal:
        key = ("sum", groups)
        cached = self.memo.get(key)
        if cached is None:
            indices = self.lines_in(groups) if groups else range(self.n)
            cached = self.memo[key] = sum((self.amounts[i] for i in indices), ZERO)
        return cached  # type: ignore[return-value]

    def quantity_of(self, groups: Sequence[str] | None, count: str) -> Decimal:
        key = ("qty", groups, count)
        cached = self.memo.get(key)
        if cached is None:
            indices = self.lines_in(groups) if groups else range(self.n)
            if count == "lines":
                cached = Decimal(len(list(indices)))
            else:
                cached = sum((self.lines[i].quantity for i in indices), ZERO)
            self.memo[key] = cached
        return cached  # type: ignore[return-value]

    def moment(self, lifetime: Lifetime | None) -> dt.datetime | None:
        """When a lifetime that starts with this cheque ends. Equal lifetimes (by value) share one
        computation; rounded ones are shared across cheques of the same store day (lifetime.py)."""
        if lifetime is None:
            return None
        cached = self.lifetimes.get(lifetime)
        if cached is None:
            if (lifetime.round == "none" and lifetime.date is None) or self.time == dt.time.min:
                cached = lifetime.at(self.cheque.purchased_at, self.cheque.timezone)
            else:
                cached = moment_on(lifetime, self.date, self.cheque.timezone)
            self.lifetimes[lifetime] = cached
        return cached


# ---- matching an offer's rules to lines --------------------------------------------------------


def positions_of(lines: Sequence[Line], indices: Iterable[int]) -> tuple[int, ...]:
    return tuple(lines[i].position for i in sorted(indices))


def lowest(mask: int) -> int:
    """The smallest line index in a non-empty mask."""
    return (mask & -mask).bit_length() - 1


def bits(mask: int) -> list[int]:
    """The line indices set in `mask`, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class Match:
    """Which lines each rule of an offer takes, the rule traces, the coupons its rules relied on,
    and the lines it wanted but another offer already had (`lost`, with who holds them)."""

    __slots__ = ("assigned", "rules", "coupons", "lost_mask", "holders")

    def __init__(self) -> None:
        self.assigned: list[tuple[CompiledRule, list[int]]] = []
        # (rule, held, reason, positions): RuleTrace records in waiting (TraceEntry.rules)
        self.rules: list[tuple] = []
        self.coupons: list[str] = []
        self.lost_mask = 0
        # line -> the offer holding it; only read for lines in lost_mask, whose holder never changes
        self.holders: Mapping[int, CompiledOffer] = {}

    @property
    def lost(self) -> dict[int, CompiledOffer]:
        return {i: self.holders[i] for i in bits(self.lost_mask)}


def _failed_filter(rule: CompiledRule, ev: Evaluation) -> Filter | None:
    for item in rule.cheque_filters:
        if item.check(ev) == item.negate:
            return item
    return None


def _explain(rule: CompiledRule, item: Filter, ev: Evaluation) -> str:
    position = (rule.cheque_filters + rule.line_filters).index(item) + 1
    if ev.customer is None and item.NEEDS_CUSTOMER and not item.negate:
        why = "the cheque has no identified member"
    else:
        why = item.explain(ev)
        if item.negate and item.LEVEL == "cheque":
            why = f"negated, but it holds ({item.TYPE})"
    return f"filter {position} ({item.TYPE}): {why}"


def _match(offer: CompiledOffer, ev: Evaluation, holders: Mapping[int, CompiledOffer] | None = None,
           unavailable: int = 0) -> Match:
    """Give each line to the first rule of the offer that holds for it; lines in the `unavailable`
    mask belong to other offers (`holders`) and are recorded as lost instead."""
    match = Match()
    if holders is not None:
        match.holders = holders
    traces = match.rules
    mine = 0
    for rule in offer.rules:
        failed = None
        for item in rule.cheque_filters:  # inlined _failed_filter: this loop runs for every rule
            if item.check(ev) == item.negate:
                failed = item
                break
        if failed is not None:
            traces.append((rule, False, partial(_explain, rule, failed, ev), ()))
            continue
        if ev.n == 0:
            if rule.line_filters:
                traces.append((rule, False, "line filters, but the event has no lines", ()))
                continue
            match.assigned.append((rule, []))
            traces.append((rule, True, "", ()))
            if rule.coupon_filters:
                _coupons(rule, ev, match)
            break  # lineless: the first rule that holds applies
        candidates = ev.all_mask if rule.index_groups is None else ev.groups_mask(rule.index_groups)
        passing = candidates & ~mine
        for item in rule.line_filters:
            passing &= ev.filter_mask(item)
        if unavailable and passing & unavailable:
            match.lost_mask |= passing & unavailable
            passing &= ~unavailable
        if not passing:
            traces.append((rule, False, partial(_why_no_lines, rule, ev, candidates, match.lost_mask, mine), ()))
            continue
        mine |= passing
        lines = ev.bits(passing)
        match.assigned.append((rule, lines))
        traces.append((rule, True, "", partial(positions_of, ev.lines, lines)))
        if rule.coupon_filters:
            _coupons(rule, ev, match)
    return match


def _coupons(rule: CompiledRule, ev: Evaluation, match: Match) -> None:
    for item in rule.coupon_filters:
        code = item.matched_code(ev)
        if code is not None and code not in match.coupons:
            match.coupons.append(code)


def _why_no_lines(rule: CompiledRule, ev: Evaluation, candidates: int, lost: int, mine: int) -> str:
    if lost:
        return TAKEN + " by other offers"
    if candidates and not candidates & ~mine:
        return "its lines went to earlier rules of the offer"
    for item in rule.line_filters:
        if not ev.filter_mask(item):
            return _explain(rule, item, ev)
    return "no line meets all line filters together"


def _positions(ev: Evaluation, indices: Iterable[int]) -> str:
    items = sorted(indices)
    word = "lines" if len(items) > 1 else "line"
    return f"{word} {', '.join(str(ev.lines[i].position) for i in items)}"


def _lost_note(offer: CompiledOffer, match: Match, ev: Evaluation, benefits: Mapping[int, int],
               benefit: int | None) -> str:
    """Why the lines in match.lost went elsewhere: to a better-ranked offer, or closed by an exclusive one."""
    first = min(match.lost)
    holder = match.lost[first]
    if holder.exclusive and (holder.cumulative or offer.cumulative):
        return f"{_positions(ev, match.lost)} closed by exclusive offer #{holder.id} {holder.name!r}"
    why = _versus(offer, benefit, holder, benefits.get(holder.id, 0))
    return f"{_positions(ev, match.lost)} went to offer #{holder.id} {holder.name!r}: {why}"


# ---- one offer's effect ------------------------------------------------------------------------


def _precheck(offer: CompiledOffer, ev: Evaluation) -> tuple[str, str | partial[str]] | None:
    """Offer-level conditions, cheapest first. Runs for every offer on every cheque, so the common
    case (nothing to refuse) takes a handful of comparisons, and reasons are built only if read."""
    if offer.error:
        return "invalid", f"the offer does not compile: {offer.error}"
    date = ev.date
    start, end = offer.start_date, offer.end_date
    if (start is not None and date < start) or (end is not None and date > end):
        return "not_in_period", f"store date {date} is outside {start or '…'} – {end or '…'}"
    if offer.places:
        cheque = ev.cheque
        if offer.partner_ids and cheque.partner_id not in offer.partner_ids:
            return "other_store", f"partner {cheque.partner_id} is not one of the offer's partners"
        if offer.store_ids and cheque.store_id not in offer.store_ids:
            return "other_store", f"store {cheque.store_id} is not one of the offer's stores"
    groups = offer.index_groups
    if groups is not None and ev.n and groups.isdisjoint(ev.present_groups):
        return "no_rule", partial(_no_line_of, groups)
    if not offer.limited:
        return None
    if offer.limit_per_customer is not None:
        if ev.customer is None or ev.customer.id is None:
            return "limit", "a limit per member needs an identified member"
        used = ev.cheque.usage.get(offer.id, NO_USAGE).customer_uses
        if used >= offer.limit_per_customer:
            return "limit", f"the member used it {used} of {offer.limit_per_customer} times"
    if offer.budget is not None and ev.cheque.usage.get(offer.id, NO_USAGE).budget_spent >= offer.budget:
        return "budget", f"budget {offer.budget} is spent"
    return None


def _no_line_of(groups: frozenset[str]) -> str:
    return f"no line of groups {', '.join(sorted(groups))}"


def _benefit_cap(offer: CompiledOffer, ev: Evaluation) -> int | None:
    """The most this offer may still give on this cheque, in cents (None: no limit)."""
    if not offer.limited and offer.max_benefit_per_cheque is None:
        return None
    caps = []
    if offer.max_benefit_per_cheque is not None:
        caps.append(to_cents(offer.max_benefit_per_cheque))
    if offer.budget is not None:
        caps.append(to_cents(offer.budget - ev.cheque.usage.get(offer.id, NO_USAGE).budget_spent))
    return min(caps) if caps else None


def _outcome(offer: CompiledOffer, match: Match, ev: Evaluation) -> Outcome:
    out = Outcome()
    cap = _benefit_cap(offer, ev)
    # A cumulative offer without limits is not ranked and not capped: its percent accruals can wait
    # until every discount is known and be computed once (_accrue).
    out.defer = offer.cumulative and cap is None
    for rule, lines in match.assigned:
        for action in rule.actions:
            action.apply(ev, lines, out)
    if cap is not None:
        out.cap_benefit(max(cap, 0))
    out.coupons_used = list(match.coupons)
    return out


def _commit(offer: CompiledOffer, out: Outcome, ev: Evaluation) -> None:
    for i, amount in out.discounts.items():
        ev.net[i] -= amount
        ev.discount[i] += amount
        _effect(ev, i, offer, "discount", amount)
    if out.bonuses or out.deferred:
        ev.pending_bonuses.append((offer, out.bonuses, out.deferred))
    for indices, factor, activation, expiry in out.multipliers:
        ev.multipliers.append((offer, indices, factor, activation, expiry))
    for i, percent in out.caps.items():
        current = ev.caps[i]
        ev.caps[i] = percent if current is None else min(current, percent)
        _effect(ev, i, offer, "bonus_cap", percent, add=False)
    for text, position in out.messages:
        ev.messages.append(Message(offer.id, text, position))
    for issue, count in out.coupon_issues:
        ev.coupon_issues.append(CouponToIssue(offer.id, issue, count))
    for code in out.coupons_used:
        ev.coupons_used.setdefault(code, offer.id)
    ev.offer_benefit[offer.id] = out.discount_total


def _effect(ev: Evaluation, i: int, offer: CompiledOffer, effect: str, value: int | Decimal, add: bool = True) -> None:
    """Add to what `offer` gave line `i` (records are built once, in _result)."""
    key = (offer, effect)
    effects = ev.effects[i]
    if add and key in effects:
        effects[key] += value
    else:
        effects[key] = value


def _applied(offer: CompiledOffer, out: Outcome, match: Match, ev: Evaluation, code: str = "applied",
             reason: "str | partial[str]" = "") -> TraceEntry:
    return TraceEntry(offer.id, offer.name, True, code, reason or "applied", partial(positions_of, ev.lines, out.touched),
                      out.benefit, match.rules)


def _versus(loser: CompiledOffer, loser_benefit: int | None, winner: CompiledOffer, winner_benefit: int) -> str:
    if winner.priority != loser.priority:
        return f"higher priority ({winner.priority} > {loser.priority})"
    if loser_benefit is not None and winner_benefit != loser_benefit:
        return f"larger benefit ({from_cents(winner_benefit)} > {from_cents(loser_benefit)})"
    return f"same priority and benefit, lower id ({winner.id} < {loser.id})"


# ---- the evaluation ----------------------------------------------------------------------------


def evaluate(snapshot: Snapshot, cheque: Cheque) -> Result:
    ev = Evaluation(snapshot, cheque)
    lists = snapshot.by_event.get(cheque.event)
    if lists is None:
        lists = (EMPTY_LIST, EMPTY_LIST)
    non_cumulative = lists[0].candidates(ev.present_groups, ev.n == 0)
    cumulative = lists[1].candidates(ev.present_groups, ev.n == 0)
    trace: dict[int, TraceEntry] = {}
    benefits: dict[int, int] = {}  # ranking benefit (cents) of each non-cumulative winner

    # 1. Non-cumulative offers, a priority level at a time (they come sorted by priority). Lines a
    #    higher level took are out of reach, so an offer is only evaluated on the lines still open.
    #    Within a level: the larger total benefit first, then the lower id; each takes its lines,
    #    and one that collides with an earlier winner of its level is re-evaluated on what is left.
    taken: dict[int, CompiledOffer] = {}
    taken_mask = 0
    index = 0
    while index < len(non_cumulative):
        priority = non_cumulative[index].priority
        level: list[tuple[CompiledOffer, Match, Outcome]] = []
        while index < len(non_cumulative) and non_cumulative[index].priority == priority:
            offer = non_cumulative[index]
            index += 1
            entry, match, out = _try(offer, ev, taken, taken_mask, benefits)
            if entry is not None:
                trace[offer.id] = entry
            else:
                level.append((offer, match, out))  # type: ignore[arg-type]
        level.sort(key=lambda c: (-c[2].benefit, c[0].id))
        for offer, match, out in level:
            benefit = out.benefit
            if out.touched_mask & taken_mask:
                match = _match(offer, ev, taken, taken_mask)
                out = _outcome(offer, match, ev) if match.assigned else Outcome()
                if out.empty:
                    note = (partial(_lost_note, offer, match, ev, benefits, benefit) if match.lost_mask
                            else "no rule held")
                    trace[offer.id] = TraceEntry(offer.id, offer.name, False, "lost" if match.lost_mask else "no_rule",
                                                 note, (), ZERO, match.rules)
                    continue
            _commit(offer, out, ev)
            benefits[offer.id] = benefit
            taken_mask |= out.touched_mask
            for i in out.touched:
                taken[i] = offer
                if offer.exclusive:
                    ev.blocked[i] = offer
            if offer.exclusive:
                ev.blocked_mask |= out.touched_mask
            if offer.exclusive and ev.n == 0:
                ev.stop_all = offer
            note = partial(_lost_note, offer, match, ev, benefits, benefit) if match.lost_mask else ""
            trace[offer.id] = _applied(offer, out, match, ev, "partial" if note else "applied", note)

    # 2. Cumulative offers on top, by priority then id, on what is left to pay.
    for offer in cumulative:
        if ev.stop_all is not None:
            trace[offer.id] = TraceEntry(offer.id, offer.name, False, "blocked",
                                         f"exclusive offer #{ev.stop_all.id} {ev.stop_all.name!r} stops later offers")
            continue
        entry, match, out = _try(offer, ev, ev.blocked, ev.blocked_mask, benefits)
        if entry is not None:
            trace[offer.id] = entry
            continue
        assert match is not None and out is not None
        _commit(offer, out, ev)
        if offer.exclusive:
            for i in out.touched:
                ev.blocked[i] = offer
            ev.blocked_mask |= out.touched_mask
            if ev.n == 0:
                ev.stop_all = offer
        note = partial(_lost_note, offer, match, ev, benefits, None) if match.lost_mask else ""
        trace[offer.id] = _applied(offer, out, match, ev, "partial" if note else "applied", note)

    _accrue(ev)
    _multiply(ev)
    for offer_id, entry in trace.items():
        if entry.applied:
            entry.benefit = from_cents(ev.offer_benefit.get(offer_id, 0))
    return _result(ev, snapshot, trace, lists[0].offers + lists[1].offers)


def _try(offer: CompiledOffer, ev: Evaluation, holders: Mapping[int, CompiledOffer], unavailable: int,
         benefits: Mapping[int, int]) -> tuple[TraceEntry | None, Match | None, Outcome | None]:
    refused = _precheck(offer, ev)
    if refused is not None:
        return TraceEntry(offer.id, offer.name, False, refused[0], refused[1]), None, None
    match = _match(offer, ev, holders, unavailable)
    if not match.assigned:
        if match.lost_mask:
            holder = holders[lowest(match.lost_mask)]
            code = "blocked" if holder.exclusive and (holder.cumulative or offer.cumulative) else "lost"
            note = partial(_lost_note, offer, match, ev, benefits, None)
            return TraceEntry(offer.id, offer.name, False, code, note, (), ZERO, match.rules), None, None
        return TraceEntry(offer.id, offer.name, False, "no_rule", "no rule held", (), ZERO, match.rules), None, None
    out = _outcome(offer, match, ev)
    if out.empty:
        return TraceEntry(offer.id, offer.name, False, "no_effect", "its rules held but gave nothing on this cheque",
                          (), ZERO, match.rules), None, None
    return None, match, out


def _accrue(ev: Evaluation) -> None:
    """Book the accruals once every discount is known: a percent accrual is of what the member
    finally pays for the line (never more than the offer was ranked and capped with)."""
    net, effects, base_bonus, line_bonus = ev.net, ev.effects, ev.base_bonus, ev.line_bonus
    benefit = ev.offer_benefit
    for offer, bonuses, deferred in ev.pending_bonuses:
        given = 0
        effect_key = (offer, "bonus")
        # id(activation), id(expiry) -> [cents, line indices, activation, expiry]: one lot each.
        # Keyed by identity: hashing a Lifetime dataclass per accrual would cost more than the accrual.
        groups: dict[tuple[int, int], list] = {}
        for indices, (num, den), activation, expiry in deferred:
            scale = den * 100
            group = [0, [], activation, expiry]
            for i in indices:
                left = net[i]
                if left <= 0:
                    continue
                amount = (2 * left * num + scale) // (2 * scale)
                if amount <= 0:
                    continue
                group[0] += amount
                group[1].append(i)
                base_bonus[i] += amount
                line_bonus[i] += amount
                line_effects = effects[i]
                line_effects[effect_key] = line_effects.get(effect_key, 0) + amount
            if group[0]:
                given += group[0]
                key = (id(activation), id(expiry))
                if key in groups:
                    groups[key][0] += group[0]
                    groups[key][1].extend(group[1])
                else:
                    groups[key] = group
        for i, amount, activation, expiry, rate in bonuses:
            if rate is not None and i is not None:
                left = net[i]
                final = percent_of(left, rate[0], rate[1]) if left > 0 else 0
                if final < amount:
                    amount = final
                    if amount <= 0:
                        continue
            given += amount
            key = (id(activation), id(expiry))
            group = groups.get(key)
            if group is None:
                group = groups[key] = [0, [], activation, expiry]
            group[0] += amount
            if i is None:
                ev.lineless_bonus += amount
                continue
            group[1].append(i)
            base_bonus[i] += amount
            line_bonus[i] += amount
            line_effects = effects[i]
            line_effects[effect_key] = line_effects.get(effect_key, 0) + amount
        for cents, indices, activation, expiry in groups.values():
            ev.lots.append(BonusLot(offer.id, from_cents(cents), ev.moment(activation), ev.moment(expiry),
                                    positions_of(ev.lines, set(indices))))
        benefit[offer.id] = benefit.get(offer.id, 0) + given


def _multiply(ev: Evaluation) -> None:
    """Multipliers act on the points other offers accrued on a line (never on each other)."""
    if not ev.multipliers:
        return
    base = list(ev.base_bonus)
    for offer, indices, factor, activation, expiry in ev.multipliers:
        num, den = factor
        extras = {i: times(base[i], num - den, den) for i in indices if base[i] > 0}
        cap = _benefit_cap(offer, ev)
        if cap is not None:
            room = max(cap - ev.offer_benefit.get(offer.id, 0), 0)
            total = sum(extras.values())
            if total > room:
                extras = distribute(room, sorted(extras), extras, extras)
        extras = {i: extra for i, extra in extras.items() if extra > 0}
        if not extras:
            continue
        for i, extra in extras.items():
            ev.line_bonus[i] += extra
            _effect(ev, i, offer, "bonus", extra)
        given = sum(extras.values())
        ev.lots.append(BonusLot(offer.id, from_cents(given), ev.moment(activation), ev.moment(expiry),
                                positions_of(ev.lines, extras)))
        ev.offer_benefit[offer.id] = ev.offer_benefit.get(offer.id, 0) + given


def _full_trace(ev: Evaluation, trace: dict[int, TraceEntry], order: Sequence[CompiledOffer],
                cache: dict[int, str]) -> tuple[TraceEntry, ...]:
    """Every offer's entry; those not evaluated (no line of their groups) get theirs now. The
    common one, "no line of groups ...", depends on the offer alone: its JSON text is made once per
    snapshot (`cache`) and handed over with the entry."""
    out = []
    for offer in order:
        entry = trace.get(offer.id)
        if entry is None:
            refused = _precheck(offer, ev)
            code, reason = refused if refused is not None else ("no_rule", partial(_no_line_of, offer.index_groups))
            entry = TraceEntry(offer.id, offer.name, False, code, reason)
            if code == "no_rule" and isinstance(reason, partial) and reason.func is _no_line_of:
                text = cache.get(offer.id)
                if text is None:
                    text = cache[offer.id] = entry_text(entry)
                entry.text = text
        out.append(entry)
    return tuple(out)


def _result(ev: Evaluation, snapshot: Snapshot, trace: dict[int, TraceEntry],
            order: Sequence[CompiledOffer]) -> Result:
    """Back from cents to Decimals, once per figure."""
    default_fraction = fraction(ev.cheque.default_bonus_payment_percent)
    lines: list[LineResult] = []
    total_discount = total_bonus = total_cap = 0
    line_bonus, net, caps, discount = ev.line_bonus, ev.net, ev.caps, ev.discount
    for i, line in enumerate(ev.lines):
        num, den = default_fraction if caps[i] is None else fraction(caps[i])  # type: ignore[arg-type]
        cap = percent_floor(net[i], num, den) if net[i] > 0 else 0
        applied = tuple(AppliedEffect(offer.id, offer.name, effect, value if effect == "bonus_cap"
                                      else from_cents(value))  # type: ignore[arg-type]
                        for (offer, effect), value in ev.effects[i].items())
        lines.append(LineResult(line.position, line.sku, line.amount, from_cents(discount[i]),
                                from_cents(line_bonus[i]), from_cents(cap), applied))
        total_discount += discount[i]
        total_bonus += line_bonus[i]
        total_cap += cap
    total_bonus += ev.lineless_bonus
    usage = tuple(
        OfferUsage(offer.id, from_cents(ev.offer_benefit.get(offer.id, 0)))
        for offer in order
        if offer.limited and offer.id in trace and trace[offer.id].applied
    )
    return Result(
        lines=tuple(lines),
        amount=sum(ev.amounts, ZERO),
        discount=from_cents(total_discount),
        bonus=from_cents(total_bonus),
        bonus_payment_max=from_cents(total_cap),
        lots=tuple(ev.lots),
        messages=tuple(ev.messages),
        coupons_to_issue=tuple(ev.coupon_issues),
        coupons_used=tuple(CouponUsed(code, offer_id) for code, offer_id in ev.coupons_used.items()),
        usage=usage,
        trace_source=partial(_full_trace, ev, trace, order, snapshot.untriggered_text),
        version=snapshot.version,
    )
