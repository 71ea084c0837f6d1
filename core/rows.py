"""Model instances from raw rows, for the few hot reads written in SQL (the till's API): what the
ORM's select_related/only would build, without compiling a query per request."""
from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import DEFERRED, Model


def instance_from(model: type[Model], values: dict[str, Any], *, db: str = DEFAULT_DB_ALIAS) -> Model:
    """An instance as loaded from the database with `values` by attname (e.g. "store_id"); fields
    not given are deferred (read on first access, as with `.only()`). JSON fields must be given
    decoded (a raw cursor returns jsonb as text)."""
    row = [values.get(f.attname, DEFERRED) for f in model._meta.concrete_fields]
    return model.from_db(db, None, row)


def cache_related(instance: Model, name: str, related: Model | None) -> None:
    """As select_related leaves it: `instance.<name>` answers `related` without a query (None: a
    reverse one-to-one raises DoesNotExist, a nullable foreign key gives None)."""
    instance._state.fields_cache[name] = related
