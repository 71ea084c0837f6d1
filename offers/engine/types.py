"""What goes into the engine (a cheque context) and what comes out (per-line results and a trace).

Plain frozen dataclasses: the engine never touches the database. Processing (a later issue) fills
the context from crm, statuses, segments and attributes; the dry run fills it from a form.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Union

import orjson

ZERO = Decimal("0")
ZERO_MONEY = Decimal("0.00")  # what a line without discount or points shows
CENT = Decimal("0.01")
HUNDRED = Decimal("100")

# Events an offer can run on. Purchases carry lines; the other events are lineless and only
# accrue bonuses, issue coupons or print messages.
EVENTS = ("purchase", "registration", "birthday", "questionnaire", "status_change")


@dataclass(frozen=True, slots=True)
class Line:
    position: int
    sku: str
    quantity: Decimal
    price: Decimal
    amount: Decimal  # before any discount of ours


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What the engine may know about the member. Values, not rows: the engine imports no app.

    - statuses: status system code -> current status code
    - attributes: attribute code -> value (str, Decimal, int, bool, date)
    - groups: questionnaire group code -> items, each a dict of field -> value (e.g. children)
    - personal_products: personal product set id -> SKUs the member chose (valid now)
    - group_purchases: product group code -> local dates of past purchases of that group
    """

    id: int | None = None
    birth_date: dt.date | None = None
    registered_on: dt.date | None = None
    last_status_change_on: dt.date | None = None
    statuses: Mapping[str, str] = field(default_factory=dict)
    segment_ids: frozenset[int] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    groups: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    personal_products: Mapping[int, frozenset[str]] = field(default_factory=dict)
    group_purchases: Mapping[str, tuple[dt.date, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CardFacts:
    number: str = ""
    category: str | None = None  # CardCategory.code
    kind: str | None = None  # physical / virtual


@dataclass(frozen=True, slots=True)
class PresentedCoupon:
    """A coupon the till presented, already validated by coupon_validate (active, not used)."""

    code: str
    issue_id: int


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """How much of an offer's limits is used: this member's past applications, the budget spent."""

    customer_uses: int = 0
    budget_spent: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Cheque:
    purchased_at: dt.datetime  # aware; evaluated in `timezone`, the store's zone
    lines: tuple[Line, ...] = ()
    event: str = "purchase"
    timezone: str = "UTC"
    store_id: int | None = None
    partner_id: int | None = None
    customer: CustomerFacts | None = None
    card: CardFacts | None = None
    coupons: tuple[PresentedCoupon, ...] = ()
    usage: Mapping[int, UsageFacts] = field(default_factory=dict)
    # Program default for the share of a line payable by points when no offer caps it.
    default_bonus_payment_percent: Decimal = HUNDRED


# ---- results ---------------------------------------------------------------------------------
# The records built by the thousand per evaluation (effects, lots, trace entries) are plain slotted
# dataclasses rather than frozen ones: a frozen __init__ goes through object.__setattr__ and costs
# about twice as much. Nothing mutates them once the result is returned.


@dataclass(slots=True)
class AppliedEffect:
    offer_id: int
    offer_name: str
    effect: str  # discount, bonus, bonus_cap, coupon, message (crm.PurchaseLineOffer.Effect)
    value: Decimal


@dataclass(slots=True)
class BonusLot:
    """Points one offer accrues on this cheque with one lifetime: what processing books as one lot
    of the ledger. Per line, the points are in LineResult.bonus and LineResult.offers."""

    offer_id: int
    amount: Decimal
    activate_at: dt.datetime | None  # None: spendable at once
    expire_at: dt.datetime | None  # None: never expires
    positions: tuple[int, ...] = ()  # the lines it was accrued on; () for a lineless event


@dataclass(frozen=True, slots=True)
class LineResult:
    position: int
    sku: str
    amount: Decimal
    discount: Decimal
    bonus: Decimal
    bonus_payment_max: Decimal  # most of this line payable by points
    offers: tuple[AppliedEffect, ...]

    @property
    def payable(self) -> Decimal:
        return self.amount - self.discount


@dataclass(frozen=True, slots=True)
class Message:
    offer_id: int
    text: str
    position: int | None = None


@dataclass(frozen=True, slots=True)
class CouponToIssue:
    offer_id: int
    issue_id: int
    count: int


@dataclass(frozen=True, slots=True)
class CouponUsed:
    code: str
    offer_id: int


@dataclass(frozen=True, slots=True)
class OfferUsage:
    """One applied offer's share of this cheque; processing records it at confirm
    (offers.services.usage.offer_usage_record) so that limits hold across cheques."""

    offer_id: int
    benefit: Decimal


Reason = Union[str, Callable[[], str]]


def _resolve(reason: Reason) -> str:
    return reason if isinstance(reason, str) else reason()


class RuleTrace:
    """Whether one rule held, on which lines, or which filter failed and why.

    The reason may be given as a function: most offers fail on most cheques, and their reasons
    are only read when the trace is shown or stored, so the text is built on first access.
    """

    __slots__ = ("rule_id", "name", "held", "_reason", "_positions")

    def __init__(self, rule_id: int, name: str, held: bool, reason: Reason,
                 positions: "tuple[int, ...] | Callable[[], tuple[int, ...]]" = ()) -> None:
        self.rule_id = rule_id
        self.name = name
        self.held = held
        self._reason = reason
        self._positions = positions

    @property
    def positions(self) -> tuple[int, ...]:
        """The cheque positions of the lines the rule took."""
        if not isinstance(self._positions, tuple):
            self._positions = self._positions()
        return self._positions

    @property
    def reason(self) -> str:
        """Why it failed, or "" when it held."""
        if not isinstance(self._reason, str):
            self._reason = self._reason()
        return self._reason

    def __repr__(self) -> str:
        return f"RuleTrace({self.rule_id}, {self.name!r}, held={self.held}, reason={self.reason!r}, lines={self.positions})"

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "name": self.name, "held": self.held, "reason": self.reason,
                "lines": list(self.positions)}


class TraceEntry:
    """Why one offer applied or not. `code` is stable (for filtering), `reason` is for people.

    codes: applied, partial, not_in_period, other_store, no_rule, no_effect, lost, blocked, limit,
    budget, invalid.
    """

    __slots__ = ("offer_id", "offer_name", "applied", "code", "_reason", "_positions", "benefit", "_rules", "text")

    def __init__(self, offer_id: int, offer_name: str, applied: bool, code: str, reason: Reason,
                 positions: "tuple[int, ...] | Callable[[], tuple[int, ...]]" = (), benefit: Decimal = ZERO,
                 rules: "Sequence[RuleTrace | tuple]" = ()) -> None:
        self.offer_id = offer_id
        self.offer_name = offer_name
        self.applied = applied
        self.code = code
        self._reason = reason
        self._positions = positions
        self.benefit = benefit
        # RuleTrace objects, or the engine's raw (rule, held, reason, positions) records, turned
        # into RuleTrace objects when first read.
        self._rules = rules
        # The entry as stored JSON, when the engine knows it already (see Result.trace_text).
        self.text: str | None = None

    @property
    def positions(self) -> tuple[int, ...]:
        if not isinstance(self._positions, tuple):
            self._positions = self._positions()
        return self._positions

    @property
    def rules(self) -> tuple[RuleTrace, ...]:
        if not isinstance(self._rules, tuple) or (self._rules and not isinstance(self._rules[0], RuleTrace)):
            self._rules = tuple(item if isinstance(item, RuleTrace) else RuleTrace(item[0].id, item[0].name, *item[1:])
                                for item in self._rules)
        return self._rules  # type: ignore[return-value]

    @property
    def reason(self) -> str:
        if not isinstance(self._reason, str):
            self._reason = self._reason()
        return self._reason

    def __repr__(self) -> str:
        return f"TraceEntry(#{self.offer_id}, applied={self.applied}, code={self.code!r}, reason={self.reason!r})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "offer_name": self.offer_name,
            "applied": self.applied,
            "code": self.code,
            "reason": self.reason,
            "lines": list(self.positions),
            "benefit": str(self.benefit),
            "rules": [rule.as_dict() for rule in self.rules],
        }


def entry_text(entry: TraceEntry) -> str:
    """One trace entry as stored JSON text."""
    return orjson.dumps(entry.as_dict()).decode()


def _dt(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class Result:
    lines: tuple[LineResult, ...]
    amount: Decimal
    discount: Decimal
    bonus: Decimal
    bonus_payment_max: Decimal
    lots: tuple[BonusLot, ...]  # one per (offer, activation, expiry)
    messages: tuple[Message, ...]
    coupons_to_issue: tuple[CouponToIssue, ...]
    coupons_used: tuple[CouponUsed, ...]
    usage: tuple[OfferUsage, ...]
    # The trace, or a function building it: entries of the offers a cheque could not trigger
    # (none of their product groups in it) are made when the trace is read. A till's calculate
    # does not read it; support and the stored cheque do.
    trace_source: "tuple[TraceEntry, ...] | Callable[[], tuple[TraceEntry, ...]]"
    version: str
    _trace: list = field(default_factory=list, repr=False, compare=False)

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        """One entry per offer of the event, in evaluation order."""
        if not self._trace:
            source = self.trace_source
            self._trace.append(source if isinstance(source, tuple) else source())
        return self._trace[0]

    @property
    def payable(self) -> Decimal:
        return self.amount - self.discount

    @property
    def applied_offer_ids(self) -> tuple[int, ...]:
        return tuple(entry.offer_id for entry in self.trace if entry.applied)

    def trace_json(self) -> list[dict[str, Any]]:
        """The trace as stored with the cheque (crm.Purchase.trace) for support."""
        return [entry.as_dict() for entry in self.trace]

    def trace_text(self) -> str:
        """trace_json() encoded as JSON text (compact, by orjson). Most entries of a cheque are
        offers none of whose product groups it holds: their entry depends on the offer alone, so
        the engine hands it over already encoded (once per offer and snapshot) instead of
        building and encoding two hundred dicts per cheque."""
        return "[" + ",".join(entry.text if entry.text is not None else entry_text(entry) for entry in self.trace) + "]"

    def as_dict(self) -> dict[str, Any]:
        def lot(item: BonusLot) -> dict[str, Any]:
            return {"offer_id": item.offer_id, "amount": str(item.amount), "lines": list(item.positions),
                    "activate_at": _dt(item.activate_at), "expire_at": _dt(item.expire_at)}

        return {
            "version": self.version,
            "amount": str(self.amount),
            "discount": str(self.discount),
            "payable": str(self.payable),
            "bonus": str(self.bonus),
            "bonus_payment_max": str(self.bonus_payment_max),
            "lines": [
                {
                    "position": line.position,
                    "sku": line.sku,
                    "amount": str(line.amount),
                    "discount": str(line.discount),
                    "payable": str(line.payable),
                    "bonus": str(line.bonus),
                    "bonus_payment_max": str(line.bonus_payment_max),
                    "offers": [{"offer_id": e.offer_id, "offer_name": e.offer_name, "effect": e.effect,
                                "value": str(e.value)} for e in line.offers],
                }
                for line in self.lines
            ],
            "lots": [lot(item) for item in self.lots],
            "messages": [{"offer_id": m.offer_id, "text": m.text, "line": m.position} for m in self.messages],
            "coupons_to_issue": [{"offer_id": c.offer_id, "issue_id": c.issue_id, "count": c.count}
                                 for c in self.coupons_to_issue],
            "coupons_used": [{"code": c.code, "offer_id": c.offer_id} for c in self.coupons_used],
            "usage": [{"offer_id": u.offer_id, "benefit": str(u.benefit)} for u in self.usage],
            "trace": self.trace_json(),
        }
