"""Celery tasks of crm (autodiscovered as crm.tasks): one module per area."""
from crm.tasks.customers import *  # noqa: F401,F403
from crm.tasks.ledger import *  # noqa: F401,F403
