"""Schema isolation: a tenant's tables live in PostgreSQL schema ``tenant_id`` on ``default``.

The connection is django-tenants' PostgreSQL backend (ENGINE ``django_tenants.postgresql_backend``);
the switch is omnitenant's own (``search_path``): every statement carries the search path of
the tenant active when it is executed, so nothing has to follow TenantContext eagerly.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend
from django.dispatch import receiver
from django_tenants.utils import get_public_schema_name, quote_schema_name, schema_exists

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError
from omnitenant.isolation import SCHEMA, aside, isolation_of

ENGINE = "django_tenants.postgresql_backend"
_RESERVED = ("information_schema",)


@functools.cache
def public_schema_name() -> str:
    """django-tenants' public schema name, read once (it is asked for on every statement)."""
    return get_public_schema_name()


@functools.cache
def extra_search_paths() -> tuple[str, ...]:
    """django-tenants' ``PG_EXTRA_SEARCH_PATHS``, put after the schemas on every path."""
    return tuple(getattr(settings, "PG_EXTRA_SEARCH_PATHS", ()))


@receiver(setting_changed)
def _forget_schema_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in ("PUBLIC_SCHEMA_NAME", "PG_EXTRA_SEARCH_PATHS"):
        public_schema_name.cache_clear()
        extra_search_paths.cache_clear()


def schema_name(tenant: Any) -> str:
    """The schema holding ``tenant``'s tables: its ``tenant_id`` (reserved names refused)."""
    name = tenant.tenant_id
    if name == public_schema_name() or name in _RESERVED:
        msg = (
            f"Tenant {name!r} cannot use schema isolation: PostgreSQL schema {name!r} holds "
            "the shared tables. Give the tenant another tenant_id."
        )
        raise IsolationError(msg)
    return name


def supports_schemas(connection: BaseDatabaseWrapper) -> bool:
    """True when ``connection`` is django-tenants' PostgreSQL backend."""
    return hasattr(connection, "set_tenant") and hasattr(connection, "schema_name")


def require_schemas(tenant: Any, alias: str = DEFAULT_DB_ALIAS) -> BaseDatabaseWrapper:
    """The connection of ``alias``, or IsolationError if it cannot switch schemas."""
    connection = connections[alias]
    if not supports_schemas(connection):
        msg = (
            f"Tenant {tenant.tenant_id!r} uses schema isolation, which needs PostgreSQL with "
            f"DATABASES[{alias!r}]['ENGINE'] = {ENGINE!r}; the engine is "
            f"{connection.settings_dict['ENGINE']!r}. Change the engine or give the tenant "
            "isolation_type='database' and a db_alias."
        )
        raise IsolationError(msg)
    return connection


def follow_tenant(tenant: Any) -> None:
    """TenantContext subscriber: refuse a schema tenant named like the public schema, and
    keep django-tenants' ``connection.schema_name`` telling the tenant's schema.

    Only an attribute: statements take their schema from TenantContext when they run.
    """
    schema = public_schema_name()
    if tenant is not None and isolation_of(tenant) == SCHEMA:
        schema = schema_name(tenant)
    settings_dict = connections.settings.get(DEFAULT_DB_ALIAS)
    if settings_dict is None or not _engine_switches_schemas(settings_dict["ENGINE"]):
        return
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.schema_name != schema and follows_context(connection):
        connection.schema_name = schema


def current_schema(connection: BaseDatabaseWrapper) -> str | None:
    """The schema the next statement on ``connection`` runs in; None if it has no schemas."""
    if not supports_schemas(connection):
        return None
    if not follows_context(connection):
        return connection.tenant.schema_name
    tenant = TenantContext.get_tenant()
    if tenant is not None and isolation_of(tenant) == SCHEMA:
        return tenant.tenant_id
    return public_schema_name()


def follows_context(connection: BaseDatabaseWrapper) -> bool:
    """False while django-tenants' own switch (``set_schema``...) holds ``connection``."""
    switch = vars(connection).get("omnitenant_switch")  # see search_path.install
    if switch is None:  # never connected: django-tenants' initial state is public
        return connection.tenant.schema_name == public_schema_name()
    return connection.tenant is switch.own


@functools.cache
def _engine_switches_schemas(engine: str) -> bool:
    return hasattr(load_backend(engine).DatabaseWrapper, "set_tenant")


def follow_context(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: every statement of a schema connection follows the context.

    Also reached by Django's short-lived ``"__no_db__"`` connections (to the ``postgres``
    database, which holds no tenant), which are left alone.
    """
    if not supports_schemas(connection) or connection.alias == "__no_db__":
        return
    from omnitenant.isolation import search_path

    search_path.install(connection)


def ensure_provisioned(tenant: Any, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Raise TenantNotProvisioned unless schema tenant ``tenant`` is complete (cached).

    Needs the database only when not cached: SynchronousOnlyOperation in an event loop then.
    """
    if tenant is None or isolation_of(tenant) != SCHEMA:
        return
    settings_dict = connections.settings.get(alias)
    if settings_dict is None or not _engine_switches_schemas(settings_dict["ENGINE"]):
        return
    from omnitenant.isolation import search_path

    search_path.require_provisioned(connections[alias], schema_name(tenant))


@contextlib.contextmanager
def _driving_django_tenants(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Around django-tenants' migration executor, which switches the connection itself."""
    try:
        yield
    finally:
        from omnitenant.isolation import search_path

        search_path.release(connections[alias])


# --- provisioning ------------------------------------------------------------------------


def exists(tenant: Any) -> bool:
    """True when ``tenant``'s schema exists."""
    require_schemas(tenant)
    return schema_exists(schema_name(tenant), database=DEFAULT_DB_ALIAS)


def owned(tenant: Any) -> bool:
    """True when ``tenant``'s schema was provisioned (or adopted) for this very tenant row."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            [schema_name(tenant)],
        )
        row = cursor.fetchone()
    return row is not None and aside.owns(aside.read_marker(row[0]), tenant)


def mark(tenant: Any) -> None:
    """Record on ``tenant``'s schema that it belongs to this tenant row."""
    _comment(schema_name(tenant), aside.marker(tenant))


def create(tenant: Any) -> bool:
    """Create ``tenant``'s schema, marked as this row's; False when it already existed."""
    if exists(tenant):
        return False
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_schema_name(schema_name(tenant))}")
    _forget_provisioned()
    mark(tenant)
    return True


def drop(tenant: Any) -> None:
    """Drop ``tenant``'s schema and everything in it."""
    require_schemas(tenant)
    drop_named(schema_name(tenant))


def drop_named(name: str) -> None:
    """Drop schema ``name`` (a tenant's or an aside one) and everything in it."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote_schema_name(name)} CASCADE")
    _forget_provisioned()


def move_aside(tenant: Any, state: str = aside.KEPT) -> str:
    """Rename ``tenant``'s schema out of every tenant's reach; returns the new name.

    Transactional like any DDL on PostgreSQL: rolled back with the deletion it belongs to.
    """
    require_schemas(tenant)
    name = aside.aside_name(state, tenant.tenant_id)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            f"ALTER SCHEMA {quote_schema_name(schema_name(tenant))} "
            f"RENAME TO {quote_schema_name(name)}"
        )
    _forget_provisioned()
    _comment(name, aside.marker(tenant, state))
    return name


def asides() -> list[tuple[aside.Aside, dict[str, Any] | None]]:
    """Every aside schema on the default database, with its marker."""
    if not supports_schemas(connections[DEFAULT_DB_ALIAS]):
        return []
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
            "WHERE starts_with(nspname, '_') ORDER BY nspname"
        )
        rows = cursor.fetchall()
    found = []
    for name, comment in rows:
        parsed = aside.parse(name)
        if parsed is not None:
            found.append((parsed, aside.read_marker(comment)))
    return found


def _forget_provisioned() -> None:
    from omnitenant.isolation import search_path

    search_path.forget_provisioned()


def _comment(name: str, text: str) -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"COMMENT ON SCHEMA {quote_schema_name(name)} IS %s", [text])


def migrate(tenant: Any, options: dict[str, Any], stdout: Any, *, label: str = "schema") -> None:
    """Migrate ``tenant``'s schema with django-tenants' ``run_migrations`` (tenant apps only).

    django-tenants creates ``django_migrations`` inside the schema first and prefixes every
    output line with ``[schema:acme]``. It writes to ``sys.stdout``, hence the redirect. The
    tenant is active meanwhile so data migrations' queries are routed to it.
    """
    from omnitenant.isolation.migration_executors import run_migrations

    require_schemas(tenant)
    with (
        _driving_django_tenants(),
        TenantContext.use_tenant(tenant),
        contextlib.redirect_stdout(stdout or io.StringIO()),
    ):
        run_migrations((), options, label, schema_name(tenant))


def migrate_public(options: dict[str, Any], stdout: Any) -> None:
    """Migrate the public schema (shared apps) with django-tenants' ``run_migrations``."""
    from omnitenant.isolation.migration_executors import run_migrations

    with (
        _driving_django_tenants(),
        TenantContext.use_tenant(None),
        contextlib.redirect_stdout(stdout or io.StringIO()),
    ):
        run_migrations((), options, "shared", get_public_schema_name())
