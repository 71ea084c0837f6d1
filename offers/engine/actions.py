"""Actions: what a rule does to the lines it holds for (and to the cheque).

An action writes into an `Outcome`, the effect of one offer on this cheque, computed on what is
left to pay at the offer's turn (`ev.net`, minus the offer's own earlier discounts). Amounts are
whole cents (int, see money.py). Invariants:
- money is rounded to 0.01 with ROUND_HALF_UP, once per computed amount;
- a line's discount never exceeds what is left of the line (`Outcome.add_discount` caps it);
- a cheque-level amount is spread over the lines in proportion to what is left of each, the
  rounding remainder going to the largest line (`distribute`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from offers.engine.lifetime import LIFETIME_PARAMS, Lifetime
from offers.engine.money import fraction, from_cents, percent_of, to_cents
from offers.engine.schema import Param, SpecError, parse_params
from offers.engine.types import HUNDRED

if TYPE_CHECKING:  # pragma: no cover
    from offers.engine.evaluate import Evaluation


def distribute(total: int, indices: Sequence[int], weights: Mapping[int, int],
               caps: Mapping[int, int] | None = None) -> dict[int, int]:
    """Spread `total` cents over `indices` in proportion to `weights`, never above `caps`.

    Shares are rounded down to the cent; the remainder goes to the largest line (ties: the
    first), spilling to the next largest only when the largest has no room left.
    """
    if caps is not None:
        total = min(total, sum(caps[i] for i in indices))
    if total <= 0 or not indices:
        return {}
    weight_sum = sum(weights[i] for i in indices)
    if weight_sum <= 0:
        weights = {i: 1 for i in indices}
        weight_sum = len(indices)
    shares = {i: total * weights[i] // weight_sum for i in indices}
    if caps is not None:
        shares = {i: min(share, caps[i]) for i, share in shares.items()}
    remainder = total - sum(shares.values())
    if remainder:
        for i in sorted(indices, key=lambda k: (-weights[k], k)):
            room = remainder if caps is None else min(remainder, caps[i] - shares[i])
            if room > 0:
                shares[i] += room
                remainder -= room
            if remainder <= 0:
                break
    return {i: share for i, share in shares.items() if share}


class Outcome:
    """The effect of one offer on one cheque, before it is committed to the lines."""

    __slots__ = ("discounts", "bonuses", "deferred", "defer", "multipliers", "caps", "messages", "coupon_issues",
                 "coupons_used", "_touched", "_touched_mask", "_benefit")

    def __init__(self) -> None:
        self.discounts: dict[int, int] = {}  # line index -> cents
        # (line index or None for a lineless event, cents, activation, expiry, rate). A percent
        # accrual keeps its rate (num, den): it is recomputed at the end on what is finally paid.
        self.bonuses: list[tuple[int | None, int, Lifetime | None, Lifetime | None, tuple[int, int] | None]] = []
        # Percent accruals of an offer whose points nothing needs before the end (a cumulative offer
        # without limits): (line indices, rate, activation, expiry), computed once in _accrue.
        self.deferred: list[tuple[list[int], tuple[int, int], Lifetime | None, Lifetime | None]] = []
        self.defer = False
        # (line indices, factor as (num, den), activation, expiry)
        self.multipliers: list[tuple[tuple[int, ...], tuple[int, int], Lifetime | None, Lifetime | None]] = []
        self.caps: dict[int, Decimal] = {}  # line index -> max percent payable by points
        self.messages: list[tuple[str, int | None]] = []
        self.coupon_issues: list[tuple[int, int]] = []
        self.coupons_used: list[str] = []
        self._touched: frozenset[int] | None = None
        self._touched_mask = -1
        self._benefit: int | None = None

    def left(self, ev: "Evaluation", index: int) -> int:
        return ev.net[index] - self.discounts.get(index, 0)

    def add_discount(self, ev: "Evaluation", index: int, amount: int) -> None:
        amount = min(amount, self.left(ev, index))
        if amount > 0:
            self.discounts[index] = self.discounts.get(index, 0) + amount

    def add_bonus(self, index: int | None, amount: int, activation: Lifetime | None,
                  expiry: Lifetime | None, rate: tuple[int, int] | None = None) -> None:
        if amount > 0:
            self.bonuses.append((index, amount, activation, expiry, rate))

    @property
    def discount_total(self) -> int:
        return sum(self.discounts.values())

    @property
    def bonus_total(self) -> int:
        return sum(b[1] for b in self.bonuses)

    @property
    def benefit(self) -> int:
        """Money and points are weighed one to one when offers compete. Like `touched`, read only
        once the offer's actions and caps have run (then cached)."""
        if self._benefit is None:
            self._benefit = self.discount_total + self.bonus_total
        return self._benefit

    @property
    def touched(self) -> frozenset[int]:
        """Lines this offer has an effect on: those it takes from other non-cumulative offers.
        Computed once: an outcome is not changed after the offer's actions and caps ran."""
        if self._touched is None:
            lines = set(self.discounts) | set(self.caps) | {b[0] for b in self.bonuses if b[0] is not None}
            for indices, _, _, _ in self.multipliers:
                lines.update(indices)
            for indices, _, _, _ in self.deferred:
                lines.update(indices)
            self._touched = frozenset(lines)
        return self._touched

    @property
    def touched_mask(self) -> int:
        if self._touched_mask < 0:
            mask = 0
            for i in self.touched:
                mask |= 1 << i
            self._touched_mask = mask
        return self._touched_mask

    @property
    def empty(self) -> bool:
        return not (self.discounts or self.bonuses or self.deferred or self.multipliers or self.caps or self.messages
                    or self.coupon_issues)

    def cap_benefit(self, limit: int) -> None:
        """Reduce the effect to at most `limit` (discounts kept first, then bonuses)."""
        if self.benefit <= limit:
            return
        self._benefit, self._touched, self._touched_mask = None, None, -1  # recomputed after the cut
        discount_total = self.discount_total
        allowed = min(discount_total, limit)
        if allowed < discount_total:
            indices = sorted(self.discounts)
            self.discounts = distribute(allowed, indices, self.discounts, self.discounts)
        bonus_allowed = max(limit - allowed, 0)
        bonus_total = self.bonus_total
        if bonus_allowed < bonus_total:
            weights = {n: b[1] for n, b in enumerate(self.bonuses)}
            shares = distribute(bonus_allowed, list(weights), weights, weights)
            self.bonuses = [(b[0], shares[n], b[2], b[3], b[4]) for n, b in enumerate(self.bonuses) if shares.get(n)]


LIFETIME_HELP = "{days, months, round: none|day|month} or {date}"


class Action:
    TYPE: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    EXAMPLE: ClassVar[dict[str, Any]] = {}
    # Actions that act on lines take part in the per-line competition; the others do not.
    ON_LINES: ClassVar[bool] = True

    __slots__ = ("p",)

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = params
        self.validate()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> "Action":
        return cls(parse_params(data, cls.PARAMS, ignore=frozenset({"type"})))

    def validate(self) -> None:
        pass

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        raise NotImplementedError


DISCOUNT_MODES = ("percent", "amount", "amount_per_unit", "price_per_unit", "price_for_set", "amount_per_sum")


class Discount(Action):
    TYPE = "discount"
    TITLE = "Discount: percent, amount, amount per unit, fixed price per unit, fixed price for a set, X for every Y"
    PARAMS = (
        Param("mode", "choice", choices=DISCOUNT_MODES, required=True),
        Param("value", "decimal", required=True, min=Decimal(0)),
        Param("scope", "choice", choices=("line", "cheque"), default="line",
              help="percent/amount: per line, or once on the cheque spread over the lines"),
        Param("set_size", "int", min=1, help="price_for_set: units in a set"),
        Param("every", "decimal", min=Decimal("0.01"), help="amount_per_sum: value off for every `every` of the sum"),
    )
    EXAMPLE = {"type": "discount", "mode": "percent", "value": "10"}
    __slots__ = ("rate", "cents", "every")

    def validate(self) -> None:
        mode = self.p["mode"]
        if mode == "percent" and self.p["value"] > HUNDRED:
            raise SpecError("value", "a percentage is at most 100.")
        if mode == "price_for_set" and not self.p["set_size"]:
            raise SpecError("set_size", "is required for price_for_set.")
        if mode == "amount_per_sum" and not self.p["every"]:
            raise SpecError("every", "is required for amount_per_sum.")
        self.rate = fraction(self.p["value"])  # the percentage, exactly
        self.cents = to_cents(self.p["value"])
        self.every = to_cents(self.p["every"]) if self.p["every"] else 0

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        mode = self.p["mode"]
        if not lines:
            return
        cheque_wide = self.p["scope"] == "cheque" or mode in ("amount_per_sum", "price_for_set")
        if mode == "percent" and not cheque_wide:
            # The hot path (most offers are a percentage off some lines), inlined.
            discounts, net = out.discounts, ev.net
            num, den = self.rate
            scale = den * 100
            for i in lines:
                already = discounts.get(i, 0)
                left = net[i] - already
                if left <= 0:
                    continue
                amount = (2 * left * num + scale) // (2 * scale)
                if amount > left:
                    amount = left
                if amount > 0:
                    discounts[i] = already + amount
            return
        if not cheque_wide:
            for i in lines:
                left = out.left(ev, i)
                if left <= 0:
                    continue
                if mode == "amount":
                    amount = self.cents
                elif mode == "amount_per_unit":
                    amount = to_cents(self.p["value"] * ev.lines[i].quantity)
                else:  # price_per_unit
                    amount = left - to_cents(self.p["value"] * ev.lines[i].quantity)
                out.add_discount(ev, i, amount)
            return
        left = {i: out.left(ev, i) for i in lines}
        left = {i: cents for i, cents in left.items() if cents > 0}
        indices = sorted(left)
        base = sum(left.values())
        if mode == "percent":
            total = percent_of(base, *self.rate)
        elif mode == "amount":
            total = self.cents
        elif mode == "amount_per_sum":
            total = (base // self.every) * self.cents
        else:
            self._set_price(ev, indices, left, out)
            return
        for i, share in distribute(total, indices, left, left).items():
            out.add_discount(ev, i, share)

    def _set_price(self, ev: "Evaluation", indices: list[int], left: dict[int, int], out: Outcome) -> None:
        """N units of the lines for a fixed price: the dearest units fill the sets first."""
        size = self.p["set_size"]
        units: list[tuple[Decimal, int]] = []
        for i in indices:
            whole = int(ev.lines[i].quantity)
            if whole > 0:
                unit = from_cents(left[i]) / ev.lines[i].quantity
                units.extend((unit, i) for _ in range(whole))
        sets = len(units) // size
        if not sets:
            return
        units.sort(key=lambda u: (-u[0], u[1]))
        in_sets: dict[int, Decimal] = {}
        for unit, i in units[: sets * size]:
            in_sets[i] = in_sets.get(i, Decimal(0)) + unit
        cents = {i: min(to_cents(v), left[i]) for i, v in in_sets.items()}
        total = sum(cents.values()) - sets * self.cents
        if total > 0:
            for i, share in distribute(total, sorted(cents), cents, cents).items():
                out.add_discount(ev, i, share)


BONUS_MODES = ("percent", "fixed", "per_unit", "per_sum", "multiplier")


class Bonus(Action):
    TYPE = "bonus"
    TITLE = "Bonus accrual: percent of the amount, fixed, per unit, X for every Y, or a multiplier of other accruals"
    PARAMS = (
        Param("mode", "choice", choices=BONUS_MODES, required=True),
        Param("value", "decimal", required=True, min=Decimal(0)),
        Param("scope", "choice", choices=("line", "cheque"), default="line", help="fixed: per line or once per cheque"),
        Param("every", "decimal", min=Decimal("0.01"), help="per_sum: value for every `every` of the sum"),
        Param("activation", "object", fields=LIFETIME_PARAMS, help=f"when the points become spendable: {LIFETIME_HELP}"),
        Param("expiry", "object", fields=LIFETIME_PARAMS, help=f"when the points expire: {LIFETIME_HELP}"),
    )
    EXAMPLE = {"type": "bonus", "mode": "percent", "value": "5", "activation": {"days": 14, "round": "day"},
               "expiry": {"months": 12, "round": "month"}}
    __slots__ = ("rate", "cents", "every", "activation", "expiry")

    def validate(self) -> None:
        if self.p["mode"] == "per_sum" and not self.p["every"]:
            raise SpecError("every", "is required for per_sum.")
        if self.p["mode"] == "multiplier" and self.p["value"] < 1:
            raise SpecError("value", "a multiplier is at least 1.")
        self.rate = fraction(self.p["value"])
        self.cents = to_cents(self.p["value"])
        self.every = to_cents(self.p["every"]) if self.p["every"] else 0
        self.activation = _lifetime(self.p["activation"])
        self.expiry = _lifetime(self.p["expiry"])

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        mode = self.p["mode"]
        if mode == "multiplier":
            if lines:
                out.multipliers.append((tuple(lines), self.rate, self.activation, self.expiry))
            return
        if not lines:
            # A lineless event (registration, birthday): only fixed points make sense.
            if mode == "fixed" and ev.n == 0:
                out.add_bonus(None, self.cents, self.activation, self.expiry)
            return
        if mode == "percent" and out.defer:
            out.deferred.append((list(lines), self.rate, self.activation, self.expiry))
        elif mode == "percent":
            activation, expiry, net, discounts, bonuses = self.activation, self.expiry, ev.net, out.discounts, out.bonuses
            rate = self.rate
            num, den = rate
            scale = den * 100
            for i in lines:
                left = net[i] - discounts.get(i, 0)
                if left > 0:
                    amount = (2 * left * num + scale) // (2 * scale)
                    if amount > 0:
                        bonuses.append((i, amount, activation, expiry, rate))
        elif mode == "per_unit":
            for i in lines:
                out.add_bonus(i, to_cents(self.p["value"] * ev.lines[i].quantity), self.activation, self.expiry)
        elif mode == "fixed" and self.p["scope"] == "line":
            for i in lines:
                out.add_bonus(i, self.cents, self.activation, self.expiry)
        else:  # fixed once per cheque, or per_sum: spread over the lines
            left = {i: max(out.left(ev, i), 0) for i in lines}
            total = self.cents if mode == "fixed" else (sum(left.values()) // self.every) * self.cents
            for i, share in distribute(total, sorted(left), left).items():
                out.add_bonus(i, share, self.activation, self.expiry)


def _lifetime(values: dict[str, Any] | None) -> Lifetime | None:
    if not values:
        return None
    return Lifetime(days=values["days"], months=values["months"], round=values["round"], date=values["date"])


class BonusCap(Action):
    TYPE = "bonus_cap"
    TITLE = "Cap on payment by points: at most this percent of each line"
    PARAMS = (Param("percent", "decimal", required=True, min=Decimal(0), max=HUNDRED),)
    EXAMPLE = {"type": "bonus_cap", "percent": "50"}
    __slots__ = ()

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        percent = self.p["percent"]  # a Decimal: caps are compared, then applied once per line
        for i in lines:
            current = out.caps.get(i)
            out.caps[i] = percent if current is None else min(current, percent)


class CouponIssue(Action):
    TYPE = "coupon_issue"
    TITLE = "Issue coupons of an issue to the member (at confirm)"
    ON_LINES = False
    PARAMS = (Param("issue", "int", required=True, help="coupon issue id"), Param("count", "int", min=1, max=100, default=1))
    EXAMPLE = {"type": "coupon_issue", "issue": 1, "count": 1}
    __slots__ = ()

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        out.coupon_issues.append((self.p["issue"], self.p["count"]))


class Message(Action):
    TYPE = "message"
    TITLE = "A message printed on the cheque"
    ON_LINES = False
    PARAMS = (Param("text", "str", required=True),)
    EXAMPLE = {"type": "message", "text": "Happy birthday! Double points today."}
    __slots__ = ()

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        out.messages.append((self.p["text"], None))


class PersonalProducts(Action):
    TYPE = "personal_products"
    TITLE = "Preference on the member's personal products: a discount or bonus on the products they chose"
    PARAMS = (
        Param("set", "int", required=True, help="personal product set id"),
        Param("benefit", "choice", choices=("discount", "bonus"), default="discount"),
        Param("mode", "choice", choices=("percent", "amount_per_unit", "price_per_unit", "per_unit", "multiplier"),
              default="percent"),
        Param("value", "decimal", required=True, min=Decimal(0)),
        Param("activation", "object", fields=LIFETIME_PARAMS),
        Param("expiry", "object", fields=LIFETIME_PARAMS),
    )
    EXAMPLE = {"type": "personal_products", "set": 1, "benefit": "discount", "mode": "percent", "value": "15"}
    __slots__ = ("inner",)

    def validate(self) -> None:
        benefit, mode = self.p["benefit"], self.p["mode"]
        allowed = ("percent", "amount_per_unit", "price_per_unit") if benefit == "discount" else (
            "percent", "per_unit", "multiplier")
        if mode not in allowed:
            raise SpecError("mode", f"for a {benefit} use one of {', '.join(allowed)}.")
        if benefit == "discount":
            self.inner: Action = Discount.parse({"mode": mode, "value": str(self.p["value"])})
        else:
            data: dict[str, Any] = {"mode": mode, "value": str(self.p["value"])}
            for key in ("activation", "expiry"):
                if self.p[key]:
                    data[key] = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                 for k, v in self.p[key].items() if v is not None}
            self.inner = Bonus.parse(data)

    def apply(self, ev: "Evaluation", lines: Sequence[int], out: Outcome) -> None:
        chosen = ev.customer.personal_products.get(self.p["set"]) if ev.customer else None
        if not chosen:
            return
        mine = [i for i in lines if ev.lines[i].sku in chosen]
        if mine:
            self.inner.apply(ev, mine, out)


ACTIONS: dict[str, type[Action]] = {
    cls.TYPE: cls for cls in (Discount, Bonus, BonusCap, CouponIssue, PersonalProducts, Message)
}


def parse_action(data: Any) -> Action:
    if not isinstance(data, Mapping):
        raise SpecError("", "an action must be an object with a `type`.")
    cls = ACTIONS.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise SpecError("type", f"unknown action type {data.get('type')!r}; known: {', '.join(ACTIONS)}.")
    return cls.parse(data)
