"""Tenants for the isolation tests, one per strategy, named after OMNITENANT_TEST_DB."""

import os
from types import SimpleNamespace

from django.conf import settings

PREFIX = os.environ.get("OMNITENANT_TEST_DB", "omnitenant")


def schema_tenant(tenant_id):
    """A tenant whose rows live in PostgreSQL schema ``tenant_id``."""
    return SimpleNamespace(
        tenant_id=tenant_id, isolation_type="schema", db_alias=None, cache_alias=None
    )


def sqlite_tenant(tenant_id):
    """A database tenant on a SQLite file (from OMNITENANT_CONFIG['TENANT_DATABASE'])."""
    return SimpleNamespace(
        tenant_id=tenant_id,
        isolation_type="database",
        db_alias=f"{PREFIX}_{tenant_id}",
        cache_alias=None,
    )


def postgres_tenant(tenant_id):
    """A database tenant with a PostgreSQL database of its own (its stored db_settings)."""
    default = settings.DATABASES["default"]
    return SimpleNamespace(
        tenant_id=tenant_id,
        isolation_type="database",
        db_alias=f"{PREFIX}_{tenant_id}",
        cache_alias=None,
        db_settings={
            "ENGINE": "django.db.backends.postgresql",
            "HOST": default["HOST"],
            "PORT": default["PORT"],
            "USER": default["USER"],
            "PASSWORD": default["PASSWORD"],
            "NAME": f"{PREFIX}_{tenant_id}",
        },
    )
