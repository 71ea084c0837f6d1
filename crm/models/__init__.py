from crm.models.cards import Card, CardAccount, CardCategory, CardGroup
from crm.models.customers import (
    Customer,
    CustomerToken,
    Notifier,
    ProgramSettings,
    VerificationCode,
)
from crm.models.ledger import Account, Currency, Hold, LedgerEntry, Lot, LotConsumption
from crm.models.purchases import Purchase, PurchaseLine, PurchaseLineOffer

__all__ = [
    "Account",
    "Card",
    "CardAccount",
    "CardCategory",
    "CardGroup",
    "Currency",
    "Customer",
    "CustomerToken",
    "Hold",
    "LedgerEntry",
    "Lot",
    "LotConsumption",
    "Notifier",
    "ProgramSettings",
    "Purchase",
    "PurchaseLine",
    "PurchaseLineOffer",
    "VerificationCode",
]
