"""crm writes, one module per area: customers.py (profile, notifiers, codes, cards, merge) and ledger.py
(accounts, ledger, adjustments). Import from the module, e.g. `from crm.services.ledger import ledger_accrue`."""
