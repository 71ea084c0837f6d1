"""Catalogue changes move which SKUs belong to the groups offers name: invalidate compiled offers.

offers sits above catalogue, so it listens to catalogue's model signals (a lower app never calls
up). Set-based membership rewrites send no signal; the snapshot's maximum age covers them.
"""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from catalogue.models import Product, ProductGroup, ProductGroupMembership


def _changed(sender, **kwargs) -> None:  # noqa: ARG001
    from offers.snapshot import version_bump

    version_bump()


def connect() -> None:
    for model in (ProductGroupMembership, ProductGroup, Product):
        post_save.connect(_changed, sender=model, dispatch_uid=f"offers-snapshot-{model.__name__}-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"offers-snapshot-{model.__name__}-delete")
