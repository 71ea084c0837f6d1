"""crm admin, one module per area."""
from crm.admin import cards, customers, ledger, purchases  # noqa: F401  (registers the ModelAdmins)
