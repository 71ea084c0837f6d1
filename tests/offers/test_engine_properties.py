"""Properties that hold for any cheque and any mix of offers (hypothesis)."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offers.engine import evaluate
from tests.offers.engine_kit import CATALOGUE, cheque, line, offer, rule, snap

SKUS = sorted(CATALOGUE)
GROUPS = ["dairy", "kids", "coffee-tea", "deli"]

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
quantity = st.sampled_from(["1", "2", "3", "0.5", "1.25", "10"])

actions = st.one_of(
    st.builds(lambda v, s: {"type": "discount", "mode": "percent", "value": str(v), "scope": s},
              st.integers(0, 100), st.sampled_from(["line", "cheque"])),
    st.builds(lambda v, s: {"type": "discount", "mode": "amount", "value": str(v), "scope": s},
              money, st.sampled_from(["line", "cheque"])),
    st.builds(lambda v: {"type": "discount", "mode": "amount_per_unit", "value": str(v)}, money),
    st.builds(lambda v: {"type": "discount", "mode": "price_per_unit", "value": str(v)}, money),
    st.builds(lambda v, n: {"type": "discount", "mode": "price_for_set", "value": str(v), "set_size": n},
              money, st.integers(1, 4)),
    st.builds(lambda v, e: {"type": "discount", "mode": "amount_per_sum", "value": str(v), "every": str(e)},
              money, money),
    st.builds(lambda v: {"type": "bonus", "mode": "percent", "value": str(v)}, st.integers(0, 50)),
    st.builds(lambda v: {"type": "bonus", "mode": "multiplier", "value": str(v)}, st.integers(1, 5)),
    st.builds(lambda v: {"type": "bonus_cap", "percent": str(v)}, st.integers(0, 100)),
)
filters = st.lists(st.builds(lambda g: {"type": "product_group", "groups": [g]}, st.sampled_from(GROUPS)), max_size=1)


@st.composite
def offers(draw):
    count = draw(st.integers(1, 6))
    specs = []
    for index in range(count):
        rules = [rule(*draw(filters), actions=draw(st.lists(actions, min_size=1, max_size=3)), id=index * 10 + n)
                 for n in range(draw(st.integers(1, 2)))]
        specs.append(offer(index + 1, *rules, priority=draw(st.integers(0, 2)), cumulative=draw(st.booleans()),
                           exclusive=draw(st.booleans())))
    return specs


@st.composite
def lines(draw):
    rows = draw(st.lists(st.tuples(st.sampled_from(SKUS), money, quantity), min_size=1, max_size=8))
    return [line(i + 1, sku, str(amount), qty) for i, (sku, amount, qty) in enumerate(rows)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers(), lines())
def test_discounts_stay_within_lines_and_totals_add_up(specs, cheque_lines):
    result = evaluate(snap(*specs), cheque(*cheque_lines))
    for out, original in zip(result.lines, cheque_lines, strict=True):
        assert Decimal("0") <= out.discount <= original.amount
        assert out.discount == out.discount.quantize(Decimal("0.01"))
        assert out.bonus >= 0 and out.bonus == sum((e.value for e in out.offers if e.effect == "bonus"), Decimal("0"))
        assert 0 <= out.bonus_payment_max <= out.payable
        line_discounts = sum((e.value for e in out.offers if e.effect == "discount"), Decimal("0"))
        assert line_discounts == out.discount
    assert result.amount == sum(item.amount for item in cheque_lines)
    assert result.discount == sum(out.discount for out in result.lines)
    assert result.bonus == sum(out.bonus for out in result.lines) == sum(lot.amount for lot in result.lots)
    assert result.bonus_payment_max == sum(out.bonus_payment_max for out in result.lines)
    # At most one non-cumulative offer per line.
    non_cumulative = {spec.id for spec in specs if not spec.cumulative}
    for out in result.lines:
        givers = {e.offer_id for e in out.offers if e.offer_id in non_cumulative}
        assert len(givers) <= 1
    # Every applied offer's benefit is what the lines show of it.
    for entry in result.trace:
        if entry.applied:
            shown = sum((e.value for out in result.lines for e in out.offers
                         if e.offer_id == entry.offer_id and e.effect in ("discount", "bonus")), Decimal("0"))
            assert shown == entry.benefit
