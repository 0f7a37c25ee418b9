"""Database isolation: a tenant's tables live in the database of its ``db_alias``.

The alias is taken from ``DATABASES`` when it is there. Otherwise it is registered at runtime,
once per process, from the tenant's stored connection settings: its ``db_settings`` attribute
(a dict, e.g. a property reading an encrypted field) or else
``OMNITENANT_CONFIG["TENANT_DATABASE"]``, a template whose strings may use ``{tenant_id}`` and
``{db_alias}``. Both are validated in ``register_alias``; no connection detail but the engine
is ever logged or put in an error message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

from omnitenant.conf import get_config
from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError
from omnitenant.isolation._django_tenants import LinePrefixStream

logger = logging.getLogger(__name__)

_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,100}")
# The keys Django reads from a DATABASES entry.
_KEYS = frozenset(
    {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS", "TEST", "ATOMIC_REQUESTS",
     "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TIME_ZONE", "DISABLE_SERVER_SIDE_CURSORS"}
)  # fmt: skip
_lock = threading.Lock()
_registered: dict[str, dict[str, Any]] = {}


def alias_of(tenant: Any) -> str:
    """``tenant``'s database alias, or IsolationError when it has none it could own."""
    alias = getattr(tenant, "db_alias", None)
    if not alias or alias == DEFAULT_DB_ALIAS:
        msg = (
            f"Tenant {tenant.tenant_id!r} uses database isolation but its db_alias is "
            f"{alias!r}: its rows would share the default database. Set db_alias to an "
            "alias of its own (in DATABASES, or see OMNITENANT_CONFIG['TENANT_DATABASE'])."
        )
        raise IsolationError(msg)
    return alias


def ensure_alias(tenant: Any) -> str:
    """The alias of ``tenant``'s database, registered from its settings when it is new."""
    alias = alias_of(tenant)
    if alias not in connections.settings:
        register_alias(alias, database_settings(tenant), tenant_id=tenant.tenant_id)
    return alias


def database_settings(tenant: Any) -> dict[str, Any]:
    """The DATABASES entry for ``tenant``: its ``db_settings``, else TENANT_DATABASE filled in."""
    alias = alias_of(tenant)
    stored = getattr(tenant, "db_settings", None)
    if stored:
        return dict(stored)
    template = get_config().tenant_database
    if not template:
        msg = (
            f"Tenant {tenant.tenant_id!r} has db_alias {alias!r}, which is not in DATABASES, "
            "and no connection settings: add the alias to DATABASES, give the tenant "
            "db_settings, or set OMNITENANT_CONFIG['TENANT_DATABASE']."
        )
        raise IsolationError(msg)
    values = {"tenant_id": tenant.tenant_id, "db_alias": alias}
    return {
        key: value.format(**values) if isinstance(value, str) else value
        for key, value in template.items()
    }


def validate_settings(alias: str, raw: Any) -> dict[str, Any]:
    """Check a DATABASES entry for ``alias``; the error names keys, never their values."""
    if not _ALIAS.fullmatch(alias):
        msg = f"Database alias {alias!r} is invalid: use 1-100 of A-Z a-z 0-9 _ -."
        raise IsolationError(msg)
    if not isinstance(raw, dict):
        msg = f"Connection settings for alias {alias!r} must be a dict like a DATABASES entry."
        raise IsolationError(msg)
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        msg = f"Connection settings for alias {alias!r} have unknown keys {unknown}."
        raise IsolationError(msg)
    if not raw.get("ENGINE") or not raw.get("NAME"):
        msg = f"Connection settings for alias {alias!r} need an ENGINE and a NAME."
        raise IsolationError(msg)
    try:
        load_backend(raw["ENGINE"])
    except ImproperlyConfigured as exc:
        msg = f"Connection settings for alias {alias!r}: ENGINE {raw['ENGINE']!r} is not usable."
        raise IsolationError(msg) from exc
    return dict(raw)


def register_alias(alias: str, raw: dict[str, Any], *, tenant_id: str = "") -> None:
    """Add ``alias`` to ``django.db.connections`` for this process (idempotent)."""
    entry = validate_settings(alias, raw)
    with _lock:
        if alias in connections.settings:
            if _registered.get(alias) not in (None, entry):
                msg = (
                    f"Database alias {alias!r} is already registered with other connection "
                    "settings; two tenants cannot share an alias."
                )
                raise IsolationError(msg)
            return
        configured = connections.configure_settings(
            {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], alias: dict(entry)}
        )
        connections.settings[alias] = configured[alias]
        _registered[alias] = entry
    logger.info(
        "Registered database alias %r (%s) for tenant %r", alias, entry["ENGINE"], tenant_id
    )


def unregister_alias(alias: str) -> None:
    """Forget an alias registered at runtime (this thread's connection is closed)."""
    with _lock:
        if _registered.pop(alias, None) is None:
            return
        if hasattr(connections._connections, alias):
            connections[alias].close()
            delattr(connections._connections, alias)
        connections.settings.pop(alias, None)


# --- provisioning ------------------------------------------------------------------------


def _sqlite_path(connection: Any) -> str | None:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        return None
    return name


def exists(tenant: Any) -> bool:
    """True when ``tenant``'s database exists (SQLite: a non-empty file)."""
    connection = connections[ensure_alias(tenant)]
    if connection.vendor == "sqlite":
        path = _sqlite_path(connection)
        # An empty file (SQLite creates one on connect) holds nothing to keep.
        return path is None or (os.path.exists(path) and os.path.getsize(path) > 0)
    if connection.vendor == "postgresql":
        with connection._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [connection.settings_dict["NAME"]]
            )
            return cursor.fetchone() is not None
    return True


def create(tenant: Any) -> bool:
    """Create ``tenant``'s database; False when it already existed (or cannot be created here)."""
    if exists(tenant):
        return False
    connection = connections[ensure_alias(tenant)]
    if connection.vendor == "postgresql":
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
    # SQLite creates the file on first connect.
    connection.ensure_connection()
    return True


def drop(tenant: Any) -> None:
    """Drop ``tenant``'s database (SQLite: delete its file) and close this thread's connection."""
    connection = connections[ensure_alias(tenant)]
    connection.close()
    if connection.vendor == "sqlite":
        path = _sqlite_path(connection)
        for suffix in ("", "-journal", "-wal", "-shm"):
            if path and os.path.exists(path + suffix):
                os.remove(path + suffix)
    elif connection.vendor == "postgresql":
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        msg = f"Cannot drop a {connection.vendor} database; drop it by hand."
        raise IsolationError(msg)


def migrate(tenant: Any, options: dict[str, Any], stdout: Any, *, label: str = "database") -> None:
    """Run ``migrate`` on ``tenant``'s database (tenant apps only), output prefixed per tenant."""
    alias = ensure_alias(tenant)
    stream = LinePrefixStream(stdout, lambda line: f"[{label}:{tenant.tenant_id}] {line}")
    with TenantContext.use_tenant(tenant):
        try:
            call_command("migrate", **{**options, "database": alias, "stdout": stream})
        finally:
            stream.flush()
