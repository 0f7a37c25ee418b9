"""Where a tenant's rows live: a PostgreSQL schema or a database alias of its own."""

from __future__ import annotations

from typing import Any

SCHEMA = "schema"
DATABASE = "database"


def isolation_of(tenant: Any) -> str:
    """``"schema"`` or ``"database"`` for ``tenant``.

    Model instances say so in ``isolation_type``. A lightweight tenant without one uses its
    ``db_alias`` when it has one (as ``TenantContext.get_db_alias()`` does), else a schema.
    """
    isolation_type = getattr(tenant, "isolation_type", None)
    if isolation_type in (SCHEMA, DATABASE):
        return isolation_type
    return DATABASE if getattr(tenant, "db_alias", None) else SCHEMA
