"""Try an offer on a sample cheque before activating it: the result and the trace, nothing written."""
from __future__ import annotations

from offers.engine import Cheque, Result, evaluate
from offers.models import Offer
from offers.snapshot import offer_specs_load, snapshot_build


def offer_dry_run(*, offer: Offer, cheque: Cheque, with_running: bool = True) -> Result:
    """Evaluate `offer` (whatever its state) on `cheque`, alone or among the running offers.

    Compiled fresh from the database (a handful of queries), so it shows the offer as saved now.
    """
    states = (Offer.State.ACTIVE,) if with_running else ()
    specs = offer_specs_load(states=states, offer_ids=[offer.pk])
    return evaluate(snapshot_build(specs, version=f"dry-run:{offer.pk}"), cheque)
