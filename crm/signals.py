"""Signals crm sends so that higher apps can react without crm importing them.

customer_merged(sender=Customer, source, target, actor): sent inside the merge transaction, after
crm moved its own rows; a receiver moves the rows its app keeps per customer (attribute values,
status history, coupons, ...) with set-based UPDATEs. A receiver that raises aborts the merge.
"""
from __future__ import annotations

from django.dispatch import Signal

customer_merged = Signal()
