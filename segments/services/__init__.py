"""Writes of the segments app (one module per area); import from here."""
from segments.services.rfm import rfm_recompute, rfm_settings_update
from segments.services.segments import (
    Materialised,
    segment_create,
    segment_delete,
    segment_members_add,
    segment_members_apply_upload,
    segment_members_remove,
    segment_refresh,
    segment_update,
)
from segments.services.stats import customer_stats_rebuild, customer_stats_refresh

__all__ = [
    "Materialised",
    "customer_stats_rebuild",
    "customer_stats_refresh",
    "rfm_recompute",
    "rfm_settings_update",
    "segment_create",
    "segment_delete",
    "segment_members_add",
    "segment_members_apply_upload",
    "segment_members_remove",
    "segment_refresh",
    "segment_update",
]
