"""The offers engine: pure Python, no Django. A cheque context in, per-line results and a trace out.

    snapshot = compile_snapshot(offer_specs, sku_groups, version="42")
    result = evaluate(snapshot, Cheque(purchased_at=..., lines=(Line(...), ...), ...))

The app side (offers.snapshot) reads offers from the database into specs and caches the compiled
snapshot per process, keyed by a version number kept in Redis.
"""
from offers.engine.compile import (
    CompiledOffer,
    OfferSpec,
    RuleSpec,
    Snapshot,
    compile_snapshot,
    validate_rule,
)
from offers.engine.evaluate import evaluate
from offers.engine.schema import SpecError
from offers.engine.types import (
    CardFacts,
    Cheque,
    CustomerFacts,
    Line,
    PresentedCoupon,
    Result,
    UsageFacts,
)

__all__ = [
    "CardFacts",
    "Cheque",
    "CompiledOffer",
    "CustomerFacts",
    "Line",
    "OfferSpec",
    "PresentedCoupon",
    "Result",
    "RuleSpec",
    "Snapshot",
    "SpecError",
    "UsageFacts",
    "compile_snapshot",
    "evaluate",
    "validate_rule",
]
