"""TenantRouter: tenant apps' rows go to the active tenant's schema or database.

Apps are split by ``OMNITENANT_CONFIG["TENANT_APPS"]``: their tables live in every tenant,
every other app's in the default database's public schema. An app listed in both
``TENANT_APPS`` and ``SHARED_APPS`` lives in both places and follows the active tenant, or the
public side with none. While ``TENANT_APPS`` is empty the router refuses to route
(``ConfigurationError``, check E044) rather than share every row between tenants.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from omnitenant.conf import Config, get_config
from omnitenant.context import TenantContext
from omnitenant.exceptions import ConfigurationError, NoTenantActive
from omnitenant.isolation import DATABASE, isolation_of
from omnitenant.isolation import database as database_isolation
from omnitenant.isolation import schema as schema_isolation

# Check E044 reports the same message and hint.
NO_TENANT_APPS = (
    "omnitenant.routers.TenantRouter is in DATABASE_ROUTERS but OMNITENANT_CONFIG['TENANT_APPS'] "
    "is empty: every app is shared, so all tenants read and write the same rows."
)
NO_TENANT_APPS_HINT = (
    "List the apps whose rows belong to each tenant in OMNITENANT_CONFIG['TENANT_APPS'], "
    "e.g. ['notes', 'billing']."
)

_split: tuple[Config, frozenset[str], frozenset[str] | None] | None = None


def app_label(entry: str) -> str:
    """The label of an installed app named by label or by dotted name (``entry`` if unknown)."""
    for config in apps.get_app_configs():
        if entry in (config.label, config.name):
            return config.label
    return entry


def _labels() -> tuple[frozenset[str], frozenset[str] | None]:
    global _split
    config = get_config()
    if _split is None or _split[0] is not config:
        tenant = frozenset(app_label(entry) for entry in config.tenant_apps)
        shared = None
        if config.shared_apps is not None:
            shared = frozenset(app_label(entry) for entry in config.shared_apps)
        _split = (config, tenant, shared)
    return _split[1], _split[2]


def is_tenant_app(label: str) -> bool:
    """True when app ``label`` has tables inside each tenant."""
    return label in _labels()[0]


def is_shared_app(label: str) -> bool:
    """True when app ``label`` has tables in the default database's public schema."""
    tenant, shared = _labels()
    return label not in tenant or (shared is not None and label in shared)


def is_tenant_model(model: type[Model]) -> bool:
    """True when ``model``'s rows live inside each tenant."""
    return is_tenant_app(model._meta.app_label)


def _in_tenant_place(db: str) -> bool:
    """True when ``db`` is a tenant's place now: another alias, or a tenant schema on default."""
    if db != DEFAULT_DB_ALIAS:
        return True
    from django_tenants.utils import get_public_schema_name

    schema = schema_isolation.current_schema(connections[db])
    return schema is not None and schema != get_public_schema_name()


class TenantRouter:
    """A Django database router (DATABASE_ROUTERS) that follows TenantContext.

    Routing picks the alias only: on ``default`` each statement carries the schema of the
    tenant active when it runs (``omnitenant.isolation.search_path``). Any alias other than
    ``default`` is treated as a tenant database by ``allow_migrate``.
    """

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return self._db_for(model)

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return self._db_for(model)

    def _db_for(self, model: type[Model]) -> str:
        tenant_labels, shared_labels = _labels()
        if not tenant_labels:
            # allow_migrate still answers, so migrate and check --database report E044.
            msg = f"{NO_TENANT_APPS} {NO_TENANT_APPS_HINT} See manage.py check (omnitenant.E044)."
            raise ConfigurationError(msg)
        label = model._meta.app_label
        if label not in tenant_labels:
            return DEFAULT_DB_ALIAS
        tenant = TenantContext.get_tenant()
        if tenant is None:
            if shared_labels is not None and label in shared_labels:
                return DEFAULT_DB_ALIAS
            msg = (
                f"{model._meta.label} is a tenant model and no tenant is active; run this "
                "code inside TenantContext.use_tenant(tenant) (or manage.py tenant_command)."
            )
            raise NoTenantActive(msg)
        if isolation_of(tenant) == DATABASE:
            return database_isolation.ensure_alias(tenant)
        schema_isolation.require_schemas(tenant)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Tenant rows relate only within one database and, both tenant rows, one tenant."""
        tenant1, tenant2 = is_tenant_model(type(obj1)), is_tenant_model(type(obj2))
        if not (tenant1 or tenant2):
            return None
        if obj1._state.db != obj2._state.db:
            return False
        from omnitenant import origin  # imports this module

        return not (tenant1 and tenant2) or origin.tenant_id_of(obj1) == origin.tenant_id_of(obj2)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        try:
            if _in_tenant_place(db):
                return is_tenant_app(app_label)
            return is_shared_app(app_label)
        except ConfigurationError:
            # Django's model checks ask this too (Django 6: on every check run), and must be
            # able to report the bad setting; migrate itself stops at those checks. Migrating
            # nothing is the closed answer for a run with --skip-checks.
            return False
