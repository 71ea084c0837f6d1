"""crm reads, one module per area (customers.py, ledger.py, purchases.py)."""
