"""Creating, migrating and dropping tenants' schemas and databases: always an explicit step.

Saving a tenant row never provisions anything. ``create_tenant`` writes the row, its domains
and the schema or database in one step that leaves nothing behind when it fails;
``provision_tenant`` does the schema or database part for an existing row.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from omnitenant.context import TenantContext, validate_tenant_id
from omnitenant.exceptions import IsolationError, ProvisioningError
from omnitenant.isolation import DATABASE, aside, isolation_of, search_path
from omnitenant.isolation import database as database_isolation
from omnitenant.isolation import schema as schema_isolation
from omnitenant.isolation.migration_executors import LinePrefixStream
from omnitenant.lookup import get_domain_model, get_tenant_model

logger = logging.getLogger(__name__)


def _strategy(tenant: Any) -> ModuleType:
    return database_isolation if isolation_of(tenant) == DATABASE else schema_isolation


def _migrate_options(verbosity: int, **overrides: Any) -> dict[str, Any]:
    """Every option of ``migrate`` at its default, as its parser would give them."""
    from django.core.management.commands.migrate import Command

    options = vars(Command().create_parser("manage.py", "migrate").parse_args([]))
    options.update(verbosity=verbosity, interactive=False, skip_checks=True)
    options.update(overrides)
    return options


def _refuse_shared_alias(tenant: Any) -> None:
    alias = database_isolation.alias_of(tenant)
    pk = getattr(tenant, "pk", None)
    others = get_tenant_model()._default_manager.filter(db_alias=alias).exclude(pk=pk)
    other = others.values_list("tenant_id", flat=True).first()
    if other is not None and other != tenant.tenant_id:
        msg = (
            f"Tenant {tenant.tenant_id!r} cannot use db_alias {alias!r}: tenant {other!r} "
            "already keeps its rows there. Give each tenant an alias of its own."
        )
        raise ProvisioningError(msg)


def describe(tenant: Any) -> str:
    """Where ``tenant``'s rows live, in words: ``schema 'acme'``, ``database of alias 'x'``."""
    if _strategy(tenant) is schema_isolation:
        return f"schema {schema_isolation.schema_name(tenant)!r}"
    alias = database_isolation.register(tenant)
    return f"database {connections[alias].settings_dict['NAME']!s} (alias {alias!r})"


def _check_existing(tenant: Any, adopt_existing: bool, stdout: TextIO | None) -> None:
    """Refuse data found at ``tenant``'s name that is not this row's, unless adopting it."""
    strategy = _strategy(tenant)
    if strategy.owned(tenant):
        return
    where = describe(tenant)
    if not adopt_existing:
        msg = (
            f"Tenant {tenant.tenant_id!r}: the {where} already exists and was not provisioned "
            "for this tenant row (it has no owner mark of this row); it may hold another "
            "tenant's data. Move it away, or pass --adopt-existing (adopt_existing=True) to "
            "make it this tenant's data, e.g. once per tenant provisioned before owner marks."
        )
        raise ProvisioningError(msg)
    strategy.mark(tenant)
    tables = _tables(tenant)
    message = (
        f"Adopted the existing {where} as tenant {tenant.tenant_id!r}'s data "
        f"({len(tables)} table(s): {', '.join(tables) or 'none'})."
    )
    logger.warning("%s", message)
    if stdout is not None:
        stdout.write(message + "\n")


def _tables(tenant: Any) -> list[str]:
    if _strategy(tenant) is schema_isolation:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
                [schema_isolation.schema_name(tenant)],
            )
            return [row[0] for row in cursor.fetchall()]
    connection = connections[database_isolation.register(tenant)]
    return sorted(connection.introspection.table_names())


def _provision(
    tenant: Any,
    state: dict[str, Any],
    *,
    migrate: bool,
    adopt_existing: bool,
    verbosity: int,
    stdout: TextIO | None,
) -> None:
    """Provision inside the caller's transaction; ``state`` records "created" and "staged".

    A staged database is renamed into place when the transaction commits (see
    ``database.create_staged``); the caller drops it if the transaction fails.
    """
    strategy = _strategy(tenant)
    if strategy is not database_isolation:
        schema_isolation.require_schemas(tenant)
        schema_isolation.schema_name(tenant)
    else:
        _refuse_shared_alias(tenant)
        if _connection_of(tenant).vendor == "sqlite":
            database_isolation.sqlite_pk(tenant)  # refused before anything is created
    options = _migrate_options(verbosity)
    stream = stdout or sys.stdout
    if strategy.exists(tenant):
        _check_existing(tenant, adopt_existing, stdout)
        if migrate:
            strategy.migrate(tenant, options, stream)
        return
    clear_caches(tenant)  # entries a previous tenant with this id left
    if strategy is database_isolation and database_isolation.stages(tenant):
        staged = database_isolation.create_staged(tenant)
        state["created"] = True
        try:
            with database_isolation.pointed_at(tenant, staged):
                database_isolation.mark(tenant)  # SQLite: creates the file
                if migrate:
                    strategy.migrate(tenant, options, stream)
        except BaseException:
            database_isolation.drop_named(_connection_of(tenant), staged)
            raise
        state["staged"] = staged
        transaction.on_commit(
            lambda: database_isolation.publish(tenant, staged), using=DEFAULT_DB_ALIAS
        )
        return
    created = state["created"] = strategy.create(tenant)
    try:
        strategy.mark(tenant)
        if migrate:
            strategy.migrate(tenant, options, stream)
    except BaseException:
        if created and strategy is database_isolation:
            strategy.drop(tenant)  # a database is not transactional
        raise


def _connection_of(tenant: Any) -> Any:
    return connections[database_isolation.register(tenant)]


def _provisioned_atomically(tenant: Any, body: Any, **options: Any) -> bool:
    """Run ``body()`` then ``_provision`` in one transaction on default; all or nothing."""
    state: dict[str, Any] = {"created": False, "staged": None}
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            body()
            _provision(tenant, state, **options)
    except Exception as exc:
        if state["staged"] is not None:
            database_isolation.drop_named(_connection_of(tenant), state["staged"])
        if isinstance(exc, ProvisioningError):
            raise
        msg = f"Provisioning tenant {tenant.tenant_id!r} failed ({type(exc).__name__}: {exc}); " + (
            "its new schema or database was dropped."
            if state["created"]
            else "nothing was created."
        )
        raise ProvisioningError(msg) from exc
    logger.info("Provisioned tenant %r (%s)", tenant.tenant_id, isolation_of(tenant))
    return bool(state["created"])


def provision_tenant(
    tenant: Any,
    *,
    migrate: bool = True,
    adopt_existing: bool = False,
    verbosity: int = 0,
    stdout: TextIO | None = None,
) -> bool:
    """Create ``tenant``'s schema or database and migrate its tenant apps; all or nothing.

    Returns False when the schema or database already existed for this tenant row (then it is
    only migrated and, should that fail, kept). Found at the tenant's name but not
    provisioned for this row, it is refused with ProvisioningError unless ``adopt_existing``.
    One that this call created is dropped again on failure, and a ``ProvisioningError``
    chained to the cause is raised. The tenant row is not touched.
    """
    return _provisioned_atomically(
        tenant,
        lambda: None,
        migrate=migrate,
        adopt_existing=adopt_existing,
        verbosity=verbosity,
        stdout=stdout,
    )


def is_provisioned(tenant: Any) -> bool:
    """True when ``tenant``'s schema or database exists and is this row's (False if unknown).

    For display only (``list_tenants``): an error reads as False, so never decide on it.
    """
    strategy = _strategy(tenant)
    try:
        return strategy.exists(tenant) and strategy.owned(tenant)
    except (IsolationError, DatabaseError):
        logger.warning(
            "Cannot tell whether tenant %r is provisioned", tenant.tenant_id, exc_info=True
        )
        return False


def clear_caches(tenant: Any) -> list[str]:
    """Clear ``tenant``'s entries on every tenant-isolated cache alias; the aliases cleared.

    Aliases with ``"TENANT_ISOLATION": False`` (e.g. a shared sessions cache) are left alone.
    Without the cache patch nothing is tenant-scoped, so nothing is cleared.
    """
    from django.conf import settings
    from django.core.cache import DEFAULT_CACHE_ALIAS, caches

    from omnitenant.patches.cache import is_patched

    if not is_patched():
        return []
    cleared = []
    # The tenant's schema may not exist: a database cache's table is shared (public) anyway.
    with TenantContext.use_tenant(tenant), search_path.shared_tables_only():
        for alias, options in settings.CACHES.items():
            if options.get("TENANT_ISOLATION", True) is False:
                continue
            # caches["default"] would be routed to the tenant's cache_alias: clear each alias's
            # own backend, then the routed one (isolated keys on a shared alias, see CACHES).
            _clear(tenant, alias, caches.unrouted(alias))
            cleared.append(alias)
        if getattr(tenant, "cache_alias", None):
            _clear(tenant, tenant.cache_alias, caches[DEFAULT_CACHE_ALIAS])
    return cleared


def _clear(tenant: Any, alias: str, backend: Any) -> None:
    try:
        backend.clear()
    except Exception as exc:
        msg = (
            f"Could not clear tenant {tenant.tenant_id!r}'s entries on cache alias {alias!r} "
            f"({type(exc).__name__}: {exc}); nothing was deleted or created. Bring the cache "
            "back and try again."
        )
        raise ProvisioningError(msg) from exc


def _clear_caches_on_commit(tenant: Any) -> None:
    """Clear ``tenant``'s cache entries again once the transaction commits (requests refill)."""

    def clear() -> None:
        try:
            clear_caches(tenant)
        except ProvisioningError:
            logger.exception(
                "Tenant %r is deleted but its cache entries could not be cleared after the "
                "commit; clear them by hand",
                tenant.tenant_id,
            )

    transaction.on_commit(clear, using=DEFAULT_DB_ALIAS)


def delete_tenant(tenant: Any, *, drop_data: bool = False) -> str | None:
    """Delete ``tenant``'s row and domains, clear its cache entries, keep or drop its data.

    The data is the schema or database at the tenant's name, marked or not (data from before
    owner marks), unless another tenant row claims the same database alias. Kept data is
    renamed out of reach (``_kept_<utc time>_<tenant_id>``, see ``kept_data``). Dropped
    data goes only once the row's deletion has committed: a schema is dropped in the same
    transaction, a database is renamed aside first, dropped on commit and renamed back if
    the transaction fails. Returns the kept name, or with ``drop_data`` the name the data
    was dropped under; None when the tenant had no data.
    """
    strategy = _strategy(tenant)
    clear_caches(tenant)
    present = _has_data(tenant)
    if strategy is schema_isolation:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            tenant.delete()
            _clear_caches_on_commit(tenant)
            if not present:
                return None
            if drop_data:
                schema_isolation.drop(tenant)
                return schema_isolation.schema_name(tenant)
            return schema_isolation.move_aside(tenant)
    connection = _connection_of(tenant)
    if not present or database_isolation.configured(tenant):
        if present and not drop_data:
            database_isolation.move_aside(tenant)  # raises: explains the choice
        name = str(connection.settings_dict["NAME"])
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            tenant.delete()
            _clear_caches_on_commit(tenant)
            if present:
                transaction.on_commit(
                    lambda: _drop_after_commit(tenant, connection, name), using=DEFAULT_DB_ALIAS
                )
        database_isolation.unregister_alias(connection.alias)
        return name if present else None
    name = database_isolation.move_aside(tenant, aside.DROP if drop_data else aside.KEPT)
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            tenant.delete()
            _clear_caches_on_commit(tenant)
            if drop_data:
                transaction.on_commit(
                    lambda: _drop_after_commit(tenant, connection, name), using=DEFAULT_DB_ALIAS
                )
    except BaseException:
        database_isolation.move_back(tenant, name)
        logger.warning("Deleting tenant %r failed: its database is back in place", tenant.tenant_id)
        raise
    database_isolation.unregister_alias(connection.alias)
    return name


def _has_data(tenant: Any) -> bool:
    """True when data sits at ``tenant``'s name and no other tenant row claims it."""
    try:
        if not _strategy(tenant).exists(tenant):
            return False
    except DatabaseError as exc:
        msg = (
            f"Cannot tell whether tenant {tenant.tenant_id!r}'s schema or database exists "
            f"({type(exc).__name__}: {exc}); nothing was deleted. Bring it back and try again."
        )
        raise ProvisioningError(msg) from exc
    if _strategy(tenant) is schema_isolation:
        return True
    others = get_tenant_model()._default_manager.filter(db_alias=tenant.db_alias)
    other = others.exclude(pk=tenant.pk).values_list("tenant_id", flat=True).first()
    if other is not None:
        logger.warning(
            "Tenant %r: its database alias %r is claimed by tenant %r too; its data is left alone",
            tenant.tenant_id,
            tenant.db_alias,
            other,
        )
        return False
    return True


def _drop_after_commit(tenant: Any, connection: Any, name: str) -> None:
    try:
        database_isolation.drop_named(connection, name)
    except (IsolationError, DatabaseError, OSError):
        logger.exception(
            "Tenant %r is deleted but its database %r could not be dropped; "
            "manage.py provision_tenant --cleanup retries it",
            tenant.tenant_id,
            name,
        )
    else:
        logger.warning("Dropped the data of tenant %r", tenant.tenant_id)


def deprovision_tenant(tenant: Any, *, drop_data: bool = False) -> bool:
    """Drop ``tenant``'s schema or database (``drop_data=True``) or move it aside; True if dropped.

    For a tenant whose row is gone or never existed (scripts, tests); ``delete_tenant``
    deletes a row and its data together. A runtime database alias is forgotten either way.
    """
    strategy = _strategy(tenant)
    if drop_data:
        strategy.drop(tenant)
        logger.warning("Dropped the data of tenant %r", tenant.tenant_id)
    elif strategy.exists(tenant):  # a deleted row has no pk any more: no owner check
        strategy.move_aside(tenant)
    if strategy is database_isolation:
        database_isolation.unregister_alias(database_isolation.alias_of(tenant))
    return drop_data


# --- kept and orphaned data -----------------------------------------------------------------


def kept_data() -> list[dict[str, Any]]:
    """The data of deleted tenants, kept aside: name, original tenant_id, deleted_at, kind."""
    rows = []
    for place, entries in _asides():
        for entry, record in entries:
            if entry.state != aside.KEPT:
                continue
            rows.append(
                {
                    "name": entry.name,
                    "tenant_id": (record or {}).get("tenant_id") or entry.rest,
                    "deleted_at": entry.at.isoformat(timespec="seconds"),
                    "kind": place,
                }
            )
    return rows


def _asides() -> list[tuple[str, list[tuple[aside.Aside, dict[str, Any] | None]]]]:
    found = []
    if schema_isolation.supports_schemas(connections[DEFAULT_DB_ALIAS]):
        found.append(("schema", schema_isolation.asides()))
    for connection in database_isolation.places():
        kind = "sqlite file" if connection.vendor == "sqlite" else f"{connection.vendor} database"
        found.append((kind, database_isolation.asides_at(connection)))
    return found


def cleanup_orphans(*, min_age: float = 300.0) -> list[str]:
    """Finish or undo database steps a killed process left half done; each one is logged.

    Each staged (``_new_``) or to-be-dropped (``_drop_``) database names its owner row's pk.
    When that row is still there and its database is missing, the aside is renamed into
    place; when the row is gone, it is dropped. Any other entry (no readable owner, or the
    row's database exists) is left alone and logged, never published to another row with
    the same tenant_id. Kept data is never touched, nor entries younger than ``min_age``
    seconds, which may belong to a process still running.
    """
    done = []
    now = time.time()
    for connection in database_isolation.places():
        for entry, record in database_isolation.asides_at(connection):
            if entry.state == aside.KEPT or now - entry.at.timestamp() < min_age:
                continue
            tenant_id = (record or {}).get("tenant_id") or entry.rest.partition(".")[0]
            action = _settle(connection, entry, tenant_id, (record or {}).get("pk"))
            if action is None:
                continue
            logger.warning("Orphaned database %r of tenant %r: %s", entry.name, tenant_id, action)
            done.append(f"{entry.name}: {action}")
    return done


def _settle(connection: Any, entry: aside.Aside, tenant_id: str, pk: Any) -> str | None:
    """Publish or drop one orphaned aside database; what was done, or None when left alone."""
    if pk is None:
        logger.warning(
            "Orphaned database %r of tenant %r names no owner row; left alone, drop it by hand "
            "once you know whose it is",
            entry.name,
            tenant_id,
        )
        return None
    try:
        row = get_tenant_model()._default_manager.filter(pk=pk).first()
    except (ValueError, ValidationError):
        row = None  # a pk this tenant model cannot have: its row is gone
    if row is None:
        database_isolation.drop_named(connection, entry.name)
        return "dropped"
    if (
        row.tenant_id == tenant_id
        and isolation_of(row) == DATABASE
        and database_isolation.set_aside_from(row, entry)
        and not database_isolation.exists(row)
    ):
        database_isolation.publish(row, entry.name)
        return "renamed back into place" if entry.state == aside.DROP else "completed"
    logger.warning(
        "Orphaned database %r of tenant %r: its row (pk %r) has a database already; left "
        "alone, compare the two and drop one by hand",
        entry.name,
        tenant_id,
        pk,
    )
    return None


def migrate_tenant(
    tenant: Any, *, verbosity: int = 1, stdout: TextIO | None = None, **migrate_options: Any
) -> None:
    """Run ``migrate`` for ``tenant``'s tenant apps; each output line names the tenant.

    ``migrate_options`` are those of ``manage.py migrate`` (``app_label``, ``migration_name``,
    ``fake``, ``plan``...). The schema or database must be provisioned already.
    """
    strategy = _strategy(tenant)
    if not strategy.exists(tenant):
        msg = (
            f"Tenant {tenant.tenant_id!r} is not provisioned (its schema or database does not "
            "exist); run omnitenant.provisioning.provision_tenant(tenant) first."
        )
        raise ProvisioningError(msg)
    options = _migrate_options(verbosity, **migrate_options)
    try:
        strategy.migrate(tenant, options, stdout or sys.stdout)
    except Exception as exc:
        msg = f"Migrating tenant {tenant.tenant_id!r} failed: {type(exc).__name__}: {exc}"
        raise ProvisioningError(msg) from exc


def migrate_shared(
    *, verbosity: int = 1, stdout: TextIO | None = None, **migrate_options: Any
) -> None:
    """Run ``migrate`` for the shared apps on the default database (its public schema)."""
    options = _migrate_options(verbosity, **migrate_options)
    stream = stdout or sys.stdout
    if schema_isolation.supports_schemas(connections[DEFAULT_DB_ALIAS]):
        schema_isolation.migrate_public(options, stream)
        return
    prefixed = LinePrefixStream(stream, lambda line: f"[shared:{DEFAULT_DB_ALIAS}] {line}")
    with TenantContext.use_tenant(None):
        try:
            call_command("migrate", **{**options, "stdout": prefixed})
        finally:
            prefixed.flush()


def migrate_all_tenants(
    *,
    verbosity: int = 1,
    stdout: TextIO | None = None,
    tenants: Iterable[Any] | None = None,
    **migrate_options: Any,
) -> list[str]:
    """``migrate_tenant`` for every tenant (or ``tenants``) in tenant_id order; stops at a failure.

    Returns the tenant_ids migrated.
    """
    if tenants is None:
        tenants = get_tenant_model()._default_manager.order_by("tenant_id")
    stream = stdout or sys.stdout
    done: list[str] = []
    for tenant in tenants:
        migrate_tenant(tenant, verbosity=verbosity, stdout=stream, **migrate_options)
        done.append(tenant.tenant_id)
    if verbosity >= 1:
        stream.write(f"Migrated {len(done)} tenant(s).\n")
    return done


def create_tenant(
    tenant_id: str,
    name: str,
    *,
    isolation_type: str = "schema",
    domains: Iterable[str] = (),
    db_alias: str | None = None,
    migrate: bool = True,
    adopt_existing: bool = False,
    verbosity: int = 0,
    stdout: TextIO | None = None,
    **fields: Any,
) -> Any:
    """Create a tenant row, its domains (the first is primary) and its schema or database.

    All in one transaction on the default database: when validation or provisioning fails,
    no row, domain, schema or database is left behind. A schema or database already at the
    tenant's name is refused (ProvisioningError) unless ``adopt_existing``.
    """
    validate_tenant_id(tenant_id)
    tenant_model, domain_model = get_tenant_model(), get_domain_model()
    tenant = tenant_model(
        tenant_id=tenant_id, name=name, isolation_type=isolation_type, db_alias=db_alias, **fields
    )

    def rows() -> None:
        tenant.full_clean()
        tenant.save()
        for index, domain in enumerate(domains):
            row = domain_model(domain=domain, tenant=tenant, is_primary=index == 0)
            row.full_clean()
            row.save()

    clear_caches(tenant)  # entries a tenant with this id left, e.g. deleted by the ORM alone
    try:
        _provisioned_atomically(
            tenant,
            rows,
            migrate=migrate,
            adopt_existing=adopt_existing,
            verbosity=verbosity,
            stdout=stdout,
        )
    except ProvisioningError as exc:
        if isinstance(exc.__cause__, (ValidationError, IsolationError)):
            raise exc.__cause__ from None
        raise
    return tenant
