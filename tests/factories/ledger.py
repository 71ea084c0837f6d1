"""Ledger test helpers: accounts with points, always booked through the ledger services (so the
cached balances, lots and entries agree, as in production)."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from core.actors import Actor
from crm.models import Account, LedgerEntry
from crm.services.ledger import ledger_accrue
from tests.factories.crm import AccountFactory

TEST_ACTOR = Actor.system("test")
_keys = itertools.count(1)


def next_key(prefix: str = "test") -> str:
    return f"{prefix}-{next(_keys)}"


def accrue(account: Account, amount: str | Decimal, *, expire_at: dt.datetime | None = None,
           activate_at: dt.datetime | None = None, source: str = "test") -> LedgerEntry:
    return ledger_accrue(account=account, amount=Decimal(amount), source=source, idempotency_key=next_key(),
                         activate_at=activate_at, expire_at=expire_at, actor=TEST_ACTOR)


def funded_account(points: str | Decimal = "100.00", *, expire_at: dt.datetime | None = None, **kwargs) -> Account:
    """A new account (AccountFactory, kwargs go to it) holding `points` activated points in one lot."""
    account = AccountFactory(**kwargs)
    if Decimal(points):
        accrue(account, points, expire_at=expire_at)
    return account
