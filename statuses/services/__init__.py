"""Writes of the statuses app: one function per use case, one transaction, audited."""
from statuses.services.manual import status_assign_manual
from statuses.services.recalculation import (
    customer_ranges,
    status_recalculate_chunk,
    status_recalculate_chunk_failed,
    status_recalculate_now,
    status_recalculation_start,
    status_recalculations_start_due,
    status_upgrade_for_customer,
    status_upgrade_receiver,
)
from statuses.services.systems import (
    StatusSpec,
    conditions_check,
    status_delete,
    status_save,
    status_system_define,
    status_system_save,
)

__all__ = [
    "StatusSpec",
    "conditions_check",
    "customer_ranges",
    "status_assign_manual",
    "status_delete",
    "status_recalculate_chunk",
    "status_recalculate_chunk_failed",
    "status_recalculate_now",
    "status_recalculation_start",
    "status_recalculations_start_due",
    "status_save",
    "status_system_define",
    "status_system_save",
    "status_upgrade_for_customer",
    "status_upgrade_receiver",
]
