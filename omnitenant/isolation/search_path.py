"""The schema switch: each statement carries its own search path, local to its transaction.

On every django-tenants connection a psycopg cursor sends ``SELECT set_config('search_path',
'"acme", "public"', true), '"acme"'::regnamespace; <statement>`` as one packet, with the
tenant read from TenantContext when the statement is executed. PostgreSQL runs a packet as
one transaction (or inside the open one), so the path holds for exactly that transaction:
behind PgBouncer in transaction pooling mode both parts reach the same server connection, a
cursor kept across a switch follows the switch, and a path another client left on a pooled
connection never matters. The cast, added while ``public`` holds tenant tables (an app in
both TENANT_APPS and SHARED_APPS), fails the statement when the schema does not exist instead
of falling through to them; ``require_provisioned`` checks the tables once per tenant.
Transaction control, and anything sent in an aborted transaction, goes without the path.
``executemany``, ``copy``, ``stream`` and named cursors cannot carry a second statement: they
get the path as a statement of its own in the same transaction.

django-tenants' own switch (``set_schema``, ``schema_context``...) is honoured only where it
names the schema TenantContext would use (its migration executor does so); any other schema
raises IsolationError at the next statement.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import psycopg
from django.db.backends.postgresql.base import Cursor, ServerSideCursor
from django.db.backends.postgresql.introspection import DatabaseIntrospection
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantsDatabaseWrapper
from django_tenants.postgresql_backend.base import is_valid_schema_name
from psycopg import sql

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, TenantNotProvisioned
from omnitenant.isolation import SCHEMA, isolation_of
from omnitenant.isolation.schema import extra_search_paths, follows_context, public_schema_name

_INERROR = psycopg.pq.TransactionStatus.INERROR

# Comments and blanks before a statement's first keyword.
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)

# Statements PostgreSQL refuses inside a transaction block, which a multi-statement packet is.
_OUTSIDE_TRANSACTIONS = re.compile(
    r"(?:(?:CREATE|DROP|ALTER)\s+DATABASE|VACUUM|(?:CREATE|DROP)\s+TABLESPACE|ALTER\s+SYSTEM"
    r"|(?:CREATE|DROP)\s+SUBSCRIPTION|CLUSTER\s*(?:;|$)"
    r"|(?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX\s+CONCURRENTLY"
    r"|REINDEX\b(?:.*\bCONCURRENTLY\b|\s*(?:\([^)]*\))?\s*(?:SCHEMA|DATABASE|SYSTEM)\b)"
    r"|ALTER\s+TABLE\b.*\bDETACH\s+PARTITION\b.*\bCONCURRENTLY\b)",
    re.IGNORECASE | re.DOTALL,
)

# Transaction control touches no table: it needs no path, and after an error PostgreSQL
# accepts nothing else (a prefixed ROLLBACK TO SAVEPOINT would be refused).
_TRANSACTION_CONTROL = re.compile(
    r"(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE)\b",
    re.IGNORECASE,
)

# (alias, schema) -> (monotonic time until which its tables are known complete, whether the
# public schema holds tenant tables at all: only then can a missing schema expose them).
_provisioned: dict[tuple[str, str], tuple[float, bool]] = {}
# (alias, schema) -> (monotonic time until which it is known incomplete, the error message).
_not_provisioned: dict[tuple[str, str], tuple[float, str]] = {}
# A complete schema is checked again after this long, however it changed in another process.
PROVISIONED_TTL = 300.0
# An incomplete one answers from memory this long: one catalog query a second, not a request.
NOT_PROVISIONED_TTL = 1.0

_MISSING_TABLES_SQL = """
SELECT to_regnamespace(%(schema)s) IS NOT NULL, ARRAY(
    SELECT DISTINCT c.relname::text FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%(shared)s::text[]) AND c.relname = ANY(%(tables)s::text[])
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_class t
          WHERE t.relname = c.relname AND t.relnamespace = to_regnamespace(%(schema)s)
      )
    ORDER BY 1
), EXISTS(
    SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%(shared)s::text[]) AND c.relname = ANY(%(tables)s::text[])
)
"""


def install(wrapper: Any) -> None:
    """Make every statement of django-tenants connection ``wrapper`` carry its search path.

    Called on each ``connection_created``: the raw connection is new each time.
    """
    if wrapper.settings_dict["OPTIONS"].get("server_side_binding") is True:
        msg = (
            f"DATABASES[{wrapper.alias!r}]['OPTIONS']['server_side_binding'] = True cannot "
            "carry each statement's tenant schema (one statement per execute): remove it."
        )
        raise IsolationError(msg)
    switch = vars(wrapper).get("omnitenant_switch")
    if switch is None:
        switch = wrapper.omnitenant_switch = Switch(wrapper)
        wrapper._cursor = functools.partial(_cursor, wrapper)
        wrapper.create_cursor = functools.partial(_create_cursor, wrapper, wrapper.create_cursor)
        wrapper.introspection = TenantIntrospection(wrapper)
    wrapper.connection.cursor_factory = switch.cursor_class


def release(wrapper: Any) -> None:
    """Hand ``wrapper`` back to TenantContext after omnitenant drove django-tenants' switch."""
    wrapper.set_schema_to_public()
    forget_provisioned()  # migrations may have removed tables: check each tenant again
    switch = vars(wrapper).get("omnitenant_switch")
    if switch is not None:
        switch.own = wrapper.tenant


def _cursor(wrapper: Any, name: str | None = None) -> Any:
    # Skips django-tenants' _cursor, which sends a session-level SET search_path as a
    # statement of its own: behind a transaction pooler the next statement may run on
    # another server connection. Each statement carries its own path instead.
    return super(TenantsDatabaseWrapper, wrapper)._cursor(name)


def _create_cursor(wrapper: Any, create: Any, name: str | None = None) -> Any:
    cursor = create(name)
    if name is not None:
        # Django builds named cursors itself, not through server_cursor_factory; the
        # subclass adds no state, so only the class changes.
        cursor.__class__ = wrapper.omnitenant_switch.server_cursor_class
    return cursor


@functools.lru_cache(maxsize=4096)
def _prefix(
    schema: str, include_public: bool, public: str, extra: tuple[str, ...], guard: bool = False
) -> str:
    names = [schema, public] if include_public and schema != public else [schema]
    names += [name for name in extra if name not in names]
    for name in names:
        if not is_valid_schema_name(name) or "%" in name or "'" in name:
            msg = f"Schema name {name!r} cannot be put on the search path; rename it."
            raise IsolationError(msg)
    path = ", ".join(f'"{name}"' for name in names)
    check = f", '\"{schema}\"'::regnamespace" if guard else ""
    return f"SELECT set_config('search_path', '{path}', true){check}; "


_shared_only: ContextVar[bool] = ContextVar("omnitenant_shared_only", default=False)


@contextlib.contextmanager
def shared_tables_only() -> Iterator[None]:
    """Statements in the block see the public schema only, whatever tenant is active.

    For omnitenant's own work on shared tables for a tenant that may have no schema (yet or
    any more), e.g. clearing its entries in the database cache while it is provisioned.
    """
    token = _shared_only.set(True)
    try:
        yield
    finally:
        _shared_only.reset(token)


class Switch:
    """Decides, per statement, the search path of one django-tenants connection."""

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper
        # django-tenants' tenant object while nobody else switched the connection; meanwhile
        # omnitenant keeps wrapper.schema_name equal to the schema statements run in.
        self.own = wrapper.tenant if follows_context(wrapper) else None
        self.schema_only = 0
        attrs = {"switch": self}
        self.cursor_class = type("TenantCursor", (TenantCursor,), attrs)
        self.server_cursor_class = type("TenantServerCursor", (TenantServerCursor,), attrs)

    def prefix(self) -> tuple[str, str]:
        """The statement setting the path for the next one (from TenantContext now), and
        the schema it names first."""
        tenant = TenantContext.get_tenant()
        public = public_schema_name()
        schema = public
        if tenant is not None and isolation_of(tenant) == SCHEMA and not _shared_only.get():
            schema = tenant.tenant_id
        wrapper = self.wrapper
        extra = extra_search_paths()
        if wrapper.tenant is not self.own:
            if wrapper.tenant.schema_name == schema:
                # django-tenants' migration executor: without public, django_migrations is
                # found in the schema only. The caller is migrating it: no table check.
                include = wrapper.include_public_schema and not self.schema_only
                return _prefix(schema, include, public, extra), schema
            if schema != public or not _is_public(wrapper):
                raise _foreign_switch(wrapper, tenant)
            self.own = wrapper.tenant  # django-tenants' reset, seen with no tenant: ours again
        if wrapper.schema_name != schema:
            wrapper.schema_name = schema
        guard = schema != public and require_provisioned(wrapper, schema)
        return _prefix(schema, not self.schema_only, public, extra, guard), schema

    @contextlib.contextmanager
    def own_statement(self, connection: psycopg.Connection[Any]) -> Iterator[None]:
        """Set the path as a statement of its own, in one transaction with the block."""
        prefix, schema = self.prefix()
        block = connection.transaction() if connection.autocommit else contextlib.nullcontext()
        with block:
            with psycopg.ClientCursor(connection) as cursor, _not_provisioned_on_drop(schema):
                cursor.execute(prefix)
            yield

    @contextlib.contextmanager
    def only_schema(self) -> Iterator[None]:
        """Statements in the block see the tenant's schema alone (introspection)."""
        self.schema_only += 1
        try:
            yield
        finally:
            self.schema_only -= 1


def _is_public(wrapper: Any) -> bool:
    public = public_schema_name()
    return wrapper.tenant.schema_name == public and wrapper.include_public_schema


def _foreign_switch(wrapper: Any, tenant: Any) -> IsolationError:
    active = "no tenant" if tenant is None else f"tenant {tenant.tenant_id!r}"
    msg = (
        f"Database connection {wrapper.alias!r} was switched to schema "
        f"{wrapper.tenant.schema_name!r} through django-tenants (schema_context, tenant_context, "
        f"connection.set_schema or set_tenant) while {active} is active. omnitenant runs "
        "every statement in TenantContext's tenant: use TenantContext.use_tenant(tenant) "
        "instead, and leave django-tenants' connection state alone."
    )
    return IsolationError(msg)


@contextlib.contextmanager
def _not_provisioned_on_drop(schema: str) -> Iterator[None]:
    """Report the tenant's schema vanishing under a statement as TenantNotProvisioned."""
    try:
        yield
    except psycopg.errors.InvalidSchemaName as exc:
        if f'schema "{schema}" does not exist' not in str(exc):
            raise
        forget_provisioned()
        raise TenantNotProvisioned(_not_provisioned_message(schema, ())) from exc


def _not_provisioned_message(schema: str, tables: tuple[str, ...] | list[str]) -> str:
    if not tables:
        return (
            f"Tenant {schema!r} is not provisioned: its schema {schema!r} does not exist. "
            f"Run manage.py provision_tenant {schema}."
        )
    return (
        f"Tenant {schema!r} is not migrated: its schema lacks {', '.join(tables)}, which "
        f"the public schema has (its rows would be read instead). Run manage.py "
        f"tenant_command migrate --tenant {schema} (or provision_tenant {schema})."
    )


def require_provisioned(wrapper: Any, schema: str) -> bool:
    """Raise TenantNotProvisioned unless schema ``schema`` has every tenant table public has.

    One catalog query per tenant and process, kept until this process provisions, migrates
    or drops a schema (``forget_provisioned``), at most PROVISIONED_TTL seconds; an
    incomplete schema is remembered for NOT_PROVISIONED_TTL seconds. True when public holds
    tenant tables: then statements must fail if the schema vanishes. Without any, a missing
    schema cannot expose another's rows ("relation does not exist").
    """
    key = (wrapper.alias, schema)
    now = time.monotonic()
    known = _provisioned.get(key)
    if known is not None and known[0] > now:
        return known[1]
    refused = _not_provisioned.get(key)
    if refused is not None and refused[0] > now:
        raise TenantNotProvisioned(refused[1])
    shared = [public_schema_name(), *extra_search_paths()]
    wrapper.ensure_connection()
    with psycopg.ClientCursor(wrapper.connection) as cursor:
        cursor.execute(
            _MISSING_TABLES_SQL,
            {"schema": f'"{schema}"', "shared": shared, "tables": _tenant_tables()},
        )
        exists, missing, guard = cursor.fetchone()
    if missing:
        message = _not_provisioned_message(schema, missing if exists else ())
        _not_provisioned[key] = (now + NOT_PROVISIONED_TTL, message)
        raise TenantNotProvisioned(message)
    _not_provisioned.pop(key, None)
    _provisioned[key] = (now + PROVISIONED_TTL, guard)
    return guard


def forget_provisioned() -> None:
    """Check every schema again at its next statement: one was created, migrated or dropped."""
    _provisioned.clear()
    _not_provisioned.clear()


def _tenant_tables() -> list[str]:
    from django.apps import apps

    from omnitenant.routers import is_tenant_model

    return sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if is_tenant_model(model) and not model._meta.proxy
        }
    )


def _join(prefix: str, query: Any) -> Any:
    if isinstance(query, str):
        return prefix + query
    if isinstance(query, bytes):
        return prefix.encode() + query
    if isinstance(query, sql.Composable):
        return sql.Composed([sql.SQL(prefix), query])
    return prefix + str(query)


def _statement_start(query: Any) -> str | None:
    if isinstance(query, bytes):
        query = query.decode(errors="replace")
    if not isinstance(query, str):
        return None
    return query[_LEADING.match(query).end() :]


def _needs_no_path(connection: psycopg.Connection[Any], query: Any) -> bool:
    if connection.info.transaction_status == _INERROR:
        return True  # refused anyway until the rollback, which must reach the server
    start = _statement_start(query)
    return start is not None and _TRANSACTION_CONTROL.match(start) is not None


def _outside_transactions(query: Any) -> bool:
    start = _statement_start(query)
    return start is not None and _OUTSIDE_TRANSACTIONS.match(start) is not None


# --- cursors ---------------------------------------------------------------------------------


class TenantCursor(Cursor):
    """Django's psycopg cursor; every statement runs in TenantContext's schema at execute."""

    switch: Switch

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if _needs_no_path(self.connection, query):
            return super().execute(query, params, **kwargs)
        prefix, schema = self.switch.prefix()
        if _outside_transactions(query):
            return self._outside_transaction(prefix, query, params, **kwargs)
        with _not_provisioned_on_drop(schema):
            super().execute(_join(prefix, query), params, **kwargs)
        self.nextset()  # the caller sees its own statement's result and rowcount
        return self

    def _outside_transaction(self, prefix: str, query: Any, params: Any, **kwargs: Any) -> Any:
        # Cannot share a packet: a session-level path, the statement, then a path naming no
        # tenant, so that the server session never keeps the tenant's.
        super().execute(prefix.replace("', true)", "', false)"))
        try:
            return super().execute(query, params, **kwargs)
        finally:
            if self.connection.info.transaction_status != _INERROR:
                # Otherwise the rollback undoes the session-level path anyway.
                public = public_schema_name()
                reset = _prefix(public, True, public, extra_search_paths())
                super().execute(reset.replace("', true)", "', false)"))

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        with self.switch.own_statement(self.connection):
            super().executemany(query, params_seq, **kwargs)

    @contextlib.contextmanager
    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
        with (
            self.switch.own_statement(self.connection),
            super().copy(statement, params, **kwargs) as copy,
        ):
            yield copy

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
        with self.switch.own_statement(self.connection):
            yield from super().stream(query, params, **kwargs)


class TenantServerCursor(ServerSideCursor):
    """Django's named cursor; DECLARE runs in one transaction with the tenant's path.

    In autocommit Django declares it WITH HOLD, so it outlives that transaction; its table
    names were resolved when it was declared.
    """

    switch: Switch

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        with self.switch.own_statement(self.connection):
            return super().execute(query, params, **kwargs)


class TenantIntrospection(DatabaseIntrospection):
    """Django's introspection limited to the tenant's schema, as django-tenants' is.

    django-tenants' version sends session-level ``SET search_path`` statements; here the
    statements' own path leaves ``public`` out instead.
    """

    def get_table_list(self, cursor: Any) -> Any:
        with self.connection.omnitenant_switch.only_schema():
            return super().get_table_list(cursor)

    def get_table_description(self, cursor: Any, table_name: str) -> Any:
        with self.connection.omnitenant_switch.only_schema():
            return super().get_table_description(cursor, table_name)

    def get_sequences(self, cursor: Any, table_name: str, table_fields: Any = ()) -> Any:
        with self.connection.omnitenant_switch.only_schema():
            return super().get_sequences(cursor, table_name, table_fields)

    def get_constraints(self, cursor: Any, table_name: str) -> Any:
        with self.connection.omnitenant_switch.only_schema():
            return super().get_constraints(cursor, table_name)
