"""Creating, migrating and dropping tenants' schemas and databases: always an explicit step.

Saving a tenant row never provisions anything. ``create_tenant`` writes the row, its domains
and the schema or database in one step that leaves nothing behind when it fails;
``provision_tenant`` does the schema or database part for an existing row.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any, TextIO

from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from omnitenant.context import TenantContext, validate_tenant_id
from omnitenant.exceptions import ProvisioningError
from omnitenant.isolation import DATABASE, isolation_of
from omnitenant.isolation import database as database_isolation
from omnitenant.isolation import schema as schema_isolation
from omnitenant.isolation._django_tenants import LinePrefixStream
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


def provision_tenant(
    tenant: Any, *, migrate: bool = True, verbosity: int = 0, stdout: TextIO | None = None
) -> bool:
    """Create ``tenant``'s schema or database and migrate its tenant apps; all or nothing.

    Returns False when the schema or database already existed (then it is only migrated and,
    should that fail, kept). One that this call created is dropped again on failure, and a
    ``ProvisioningError`` chained to the cause is raised. The tenant row is not touched.
    """
    strategy = _strategy(tenant)
    if strategy is database_isolation:
        _refuse_shared_alias(tenant)
    else:
        schema_isolation.require_schemas(tenant)
        schema_isolation.schema_name(tenant)
    created = False
    try:
        # On PostgreSQL the schema and its migrations are one transaction (DDL is
        # transactional); the explicit drop below covers databases, which cannot be.
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            created = strategy.create(tenant)
            if migrate:
                strategy.migrate(tenant, _migrate_options(verbosity), stdout or sys.stdout)
    except Exception as exc:
        if created:
            strategy.drop(tenant)
        msg = f"Provisioning tenant {tenant.tenant_id!r} failed ({type(exc).__name__}: {exc}); " + (
            "its new schema or database was dropped." if created else "nothing was created."
        )
        raise ProvisioningError(msg) from exc
    logger.info("Provisioned tenant %r (%s)", tenant.tenant_id, isolation_of(tenant))
    return created


def deprovision_tenant(tenant: Any, *, drop_data: bool = False) -> bool:
    """Drop ``tenant``'s schema or database, only with ``drop_data=True``; True when dropped.

    Without it the data stays where it is (a new row with the same tenant_id finds it again);
    a runtime database alias is forgotten either way.
    """
    strategy = _strategy(tenant)
    if drop_data:
        strategy.drop(tenant)
        logger.warning("Dropped the data of tenant %r", tenant.tenant_id)
    if strategy is database_isolation:
        database_isolation.unregister_alias(database_isolation.alias_of(tenant))
    return drop_data


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
    verbosity: int = 0,
    stdout: TextIO | None = None,
    **fields: Any,
) -> Any:
    """Create a tenant row, its domains (the first is primary) and its schema or database.

    All in one transaction on the default database: when validation or provisioning fails,
    no row, domain, schema or database is left behind.
    """
    validate_tenant_id(tenant_id)
    tenant_model, domain_model = get_tenant_model(), get_domain_model()
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        tenant = tenant_model(
            tenant_id=tenant_id,
            name=name,
            isolation_type=isolation_type,
            db_alias=db_alias,
            **fields,
        )
        tenant.full_clean()
        tenant.save()
        for index, domain in enumerate(domains):
            row = domain_model(domain=domain, tenant=tenant, is_primary=index == 0)
            row.full_clean()
            row.save()
        provision_tenant(tenant, migrate=migrate, verbosity=verbosity, stdout=stdout)
    return tenant
