"""Schema isolation: a tenant's tables live in PostgreSQL schema ``tenant_id`` on ``default``.

The switch is django-tenants' PostgreSQL backend (ENGINE ``django_tenants.postgresql_backend``):
``connection.set_tenant()`` records the schema and the backend issues
``SET search_path = "acme", "public"`` before the next query (once per switch with
``TENANT_LIMIT_SET_CALLS = True``). django-tenants keeps "the tenant" on each connection,
omnitenant keeps it in TenantContext; ``sync_connection`` makes the connection of the calling
thread follow the context, and is a no-op (no query) when the schema is already right.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend
from django_tenants.utils import get_public_schema_name, quote_schema_name, schema_exists

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError
from omnitenant.isolation import SCHEMA, aside, isolation_of

ENGINE = "django_tenants.postgresql_backend"
_RESERVED = ("information_schema",)


class SchemaTenant:
    """The tenant object django-tenants' ``set_tenant`` expects, wrapping any omnitenant tenant.

    django-tenants reads ``schema_name`` (and ``get_tenant_type()``); users' tenant models need
    not subclass its ``TenantMixin``. Other attributes are read from the wrapped tenant.
    """

    tenant_type = None

    def __init__(self, tenant: Any) -> None:
        self.tenant = tenant
        self.schema_name = schema_name(tenant)

    def get_tenant_type(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        if name == "tenant":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.tenant, name)


def schema_name(tenant: Any) -> str:
    """The schema holding ``tenant``'s tables: its ``tenant_id`` (reserved names refused)."""
    name = tenant.tenant_id
    if name == get_public_schema_name() or name in _RESERVED:
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


def sync_connection(tenant: Any, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Point this thread's ``alias`` connection at ``tenant``'s schema (public for the rest).

    Subscribed to TenantContext, so the calling thread's connection follows the context.
    Costs an attribute comparison when the schema is already right; otherwise django-tenants
    sends one ``SET search_path`` with the next query. Connections that cannot switch schemas
    are left alone (the router refuses tenant models on them).
    """
    # Runs on every tenant change and query routing: skip the per-thread connection
    # lookup when the alias' engine cannot switch schemas at all.
    settings_dict = connections.settings.get(alias)
    if settings_dict is not None and not _engine_switches_schemas(settings_dict["ENGINE"]):
        return
    _point_at(connections[alias], tenant)


def _point_at(connection: BaseDatabaseWrapper, tenant: Any) -> None:
    current = getattr(connection, "schema_name", None)
    if current is None:
        return
    if tenant is not None and isolation_of(tenant) == SCHEMA:
        if current != tenant.tenant_id:
            connection.set_tenant(SchemaTenant(tenant))
        elif current == get_public_schema_name():
            schema_name(tenant)  # raises: a tenant may not be the public schema
    elif current != get_public_schema_name():
        connection.set_schema_to_public()


def follow_context(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: every cursor of a schema connection follows the context.

    The subscriber above syncs the connection of the thread that changes the tenant. A thread
    that inherits the tenant instead (asgiref's ``sync_to_async`` runs a sync view on a worker
    thread with a copy of the event loop's context) is never told: its connection may still
    point at the schema of the last request it served. The router syncs ORM queries; this
    syncs raw ``connection.cursor()`` too, before django-tenants sets the search path.
    """
    if not supports_schemas(connection):
        return
    # Also reached by django's short-lived "__no_db__" connections: work on this very
    # connection, never on the one registered for its alias.
    _point_at(connection, TenantContext.get_tenant())  # this first cursor
    if "_cursor" in vars(connection):  # reconnected: already wrapped
        return
    open_cursor = connection._cursor

    def _cursor(name: str | None = None) -> Any:
        _point_at(connection, TenantContext.get_tenant())
        return open_cursor(name)

    connection._cursor = _cursor  # type: ignore[method-assign]


@functools.cache
def _engine_switches_schemas(engine: str) -> bool:
    return hasattr(load_backend(engine).DatabaseWrapper, "set_tenant")


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


def _comment(name: str, text: str) -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"COMMENT ON SCHEMA {quote_schema_name(name)} IS %s", [text])


def migrate(tenant: Any, options: dict[str, Any], stdout: Any, *, label: str = "schema") -> None:
    """Migrate ``tenant``'s schema with django-tenants' ``run_migrations`` (tenant apps only).

    django-tenants creates ``django_migrations`` inside the schema first and prefixes every
    output line with ``[schema:acme]``. It writes to ``sys.stdout``, hence the redirect. The
    tenant is active meanwhile so data migrations' queries are routed to it.
    """
    from omnitenant.isolation._django_tenants import run_migrations

    require_schemas(tenant)
    with TenantContext.use_tenant(tenant), contextlib.redirect_stdout(stdout or io.StringIO()):
        run_migrations((), options, label, schema_name(tenant))


def migrate_public(options: dict[str, Any], stdout: Any) -> None:
    """Migrate the public schema (shared apps) with django-tenants' ``run_migrations``."""
    from omnitenant.isolation._django_tenants import run_migrations

    with TenantContext.use_tenant(None), contextlib.redirect_stdout(stdout or io.StringIO()):
        run_migrations((), options, "shared", get_public_schema_name())
