"""Database isolation: a tenant's tables live in the database of its ``db_alias``.

The alias is taken from ``DATABASES`` when it is there. Otherwise it is registered at runtime,
once per process, from the tenant's stored connection settings: its ``db_settings`` attribute
(a dict, e.g. a property reading an encrypted field) or else
``OMNITENANT_CONFIG["TENANT_DATABASE"]``, a template whose strings may use ``{tenant_id}`` and
``{db_alias}``. Both are validated in ``register_alias``; no connection detail but the engine
is ever logged or put in an error message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

from omnitenant.conf import get_config
from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, TenantNotProvisioned
from omnitenant.isolation import aside
from omnitenant.isolation.migration_executors import LinePrefixStream

logger = logging.getLogger(__name__)

_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,100}")
# The keys Django reads from a DATABASES entry.
_KEYS = frozenset(
    {"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS", "TEST", "ATOMIC_REQUESTS",
     "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TIME_ZONE", "DISABLE_SERVER_SIDE_CURSORS"}
)  # fmt: skip
_lock = threading.Lock()
_registered: dict[str, dict[str, Any]] = {}
_owners: dict[str, tuple[str, Any]] = {}  # alias -> (tenant_id, pk) of the tenant it serves
_provisioned: dict[str, float] = {}  # alias -> monotonic time until which it needs no check
_MISSING_RECHECK = 1.0


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
    """The alias of ``tenant``'s database, registered when new; TenantNotProvisioned if missing.

    Whether the database exists is checked once per process (again after a second while it
    is missing), so routing to a tenant whose database was never created fails with
    TenantNotProvisioned (503), not with a database error, nor with a new empty SQLite file.
    """
    alias = register(tenant)
    if _provisioned.get(alias, 0.0) < time.monotonic():
        if not exists(tenant):
            _provisioned[alias] = time.monotonic() + _MISSING_RECHECK
            msg = (
                f"Tenant {tenant.tenant_id!r} is not provisioned: its database (alias "
                f"{alias!r}) does not exist. Run manage.py provision_tenant {tenant.tenant_id}."
            )
            raise TenantNotProvisioned(msg)
        _provisioned[alias] = math.inf
    return alias


def register(tenant: Any) -> str:
    """``tenant``'s alias, registered from its settings when new; refused if another tenant's.

    An alias serves one tenant per process: the first tenant that uses it owns it, and
    another tenant_id routed to it is refused with IsolationError (two tenants' rows would
    share one database).
    """
    alias = alias_of(tenant)
    key = (tenant.tenant_id, getattr(tenant, "pk", None))
    if _owners.get(alias) == key:
        return alias
    if alias not in connections.settings:
        register_alias(alias, database_settings(tenant), tenant_id=tenant.tenant_id)
    with _lock:
        owner = _owners.get(alias)
        if owner is not None and owner[0] != tenant.tenant_id:
            msg = (
                f"Database alias {alias!r} already serves tenant {owner[0]!r} in this process; "
                f"tenant {tenant.tenant_id!r} cannot use it too. Give each tenant a db_alias "
                "of its own."
            )
            raise IsolationError(msg)
        # Another row with this tenant_id (the old one was deleted): check its database anew.
        _owners[alias] = key
        _provisioned.pop(alias, None)
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
    """Add ``alias`` to ``django.db.connections`` for this process (idempotent).

    Refused when the alias is registered already with other settings, or for another tenant.
    """
    entry = validate_settings(alias, raw)
    with _lock:
        owner = _owners.get(alias)
        if tenant_id and owner is not None and owner[0] != tenant_id:
            msg = (
                f"Database alias {alias!r} already serves tenant {owner[0]!r} in this process; "
                f"tenant {tenant_id!r} cannot use it too. Give each tenant a db_alias of its own."
            )
            raise IsolationError(msg)
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
    """Forget a runtime alias and the tenant it served (this thread's connection is closed)."""
    with _lock:
        _owners.pop(alias, None)
        _provisioned.pop(alias, None)
        if _registered.pop(alias, None) is None:
            return
        if hasattr(connections._connections, alias):
            connections[alias].close()
            delattr(connections._connections, alias)
        connections.settings.pop(alias, None)


# --- provisioning ------------------------------------------------------------------------
#
# A database that omnitenant registered at runtime (from db_settings or TENANT_DATABASE) is
# created under an aside name, migrated there and renamed into place only once the tenant row
# is committed; on deletion it is renamed aside, never left where a new tenant with the same
# tenant_id would find it. An alias the operator configured in DATABASES names a database
# omnitenant did not create and cannot rename: it is used in place.

_SQLITE_FILES = ("", "-journal", "-wal", "-shm")
_APPLICATION_ID = 0x6F6D6E74  # "omnt": PRAGMA application_id of SQLite files omnitenant marked


def configured(tenant: Any) -> bool:
    """True when ``tenant``'s alias is one of DATABASES (the operator's, not omnitenant's)."""
    return register(tenant) not in _registered


def exists(tenant: Any) -> bool:
    """True when ``tenant``'s database exists (SQLite: a non-empty file).

    For an alias configured in DATABASES: when it holds tables (it always "exists").
    """
    connection = connections[register(tenant)]
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        path = _sqlite_path(connection)
        # An empty file (SQLite creates one on connect) holds nothing to keep.
        if path is not None and not (os.path.exists(path) and os.path.getsize(path) > 0):
            return False
    elif connection.vendor == "postgresql" and _pg_comment(connection, name) is None:
        return False
    if configured(tenant):
        return bool(connection.introspection.table_names())
    return True


def owned(tenant: Any) -> bool:
    """True when ``tenant``'s database was provisioned (or adopted) for this very tenant row."""
    connection = connections[register(tenant)]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA application_id")
            application_id = cursor.fetchone()[0]
            cursor.execute("PRAGMA user_version")
            pk = cursor.fetchone()[0]
        return application_id == _APPLICATION_ID and str(pk or None) == str(
            getattr(tenant, "pk", None)
        )
    if connection.vendor == "postgresql":
        comment = _pg_comment(connection, connection.settings_dict["NAME"])
        return aside.owns(aside.read_marker(comment or ""), tenant)
    return False


def mark(tenant: Any) -> None:
    """Record in ``tenant``'s database that it belongs to this tenant row."""
    connection = connections[register(tenant)]
    if connection.vendor == "sqlite":
        pk = sqlite_pk(tenant)
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            cursor.execute(f"PRAGMA user_version = {pk}")
    elif connection.vendor == "postgresql":
        _pg_run(
            connection, "COMMENT ON DATABASE {} IS %s", _name(connection), [aside.marker(tenant)]
        )


def sqlite_pk(tenant: Any) -> int:
    """``tenant``'s pk as SQLite's ``user_version`` records it: 1 to 2**31-1 (0: no pk)."""
    pk = getattr(tenant, "pk", None)
    if pk is None:
        return 0  # a tenant object without a row (scripts, tests)
    if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk < 2**31:
        msg = (
            f"Tenant {tenant.tenant_id!r} has pk {pk!r}: a SQLite tenant database records its "
            "owner row's pk in PRAGMA user_version, an integer from 1 to 2**31-1. Give the "
            "tenant model an integer primary key, or keep such tenants on PostgreSQL."
        )
        raise IsolationError(msg)
    return pk


def stages(tenant: Any) -> bool:
    """True when ``tenant``'s database is created under an aside name and renamed into place."""
    connection = connections[register(tenant)]
    return not configured(tenant) and connection.vendor in ("sqlite", "postgresql")


def create(tenant: Any) -> bool:
    """Create ``tenant``'s database where it is configured; False when it already existed."""
    if exists(tenant):
        return False
    connection = connections[register(tenant)]
    if connection.vendor == "postgresql" and _pg_comment(connection, _name(connection)) is None:
        _pg_run(connection, "CREATE DATABASE {}", _name(connection))
    connection.ensure_connection()  # SQLite creates the file on first connect
    return True


def create_staged(tenant: Any) -> str:
    """Create ``tenant``'s database under an aside name; returns that name (see ``pointed_at``)."""
    connection = connections[register(tenant)]
    staged = _aside_of(connection, aside.NEW, tenant.tenant_id)
    if connection.vendor == "postgresql":
        _pg_run(connection, "CREATE DATABASE {}", staged)
        _pg_run(
            connection, "COMMENT ON DATABASE {} IS %s", staged, [aside.marker(tenant, aside.NEW)]
        )
    return staged


@contextlib.contextmanager
def pointed_at(tenant: Any, name: str) -> Iterator[None]:
    """Make ``tenant``'s alias name database (or file) ``name`` meanwhile, in this process."""
    alias = register(tenant)
    settings_dict = connections.settings[alias]
    real = settings_dict["NAME"]
    connections[alias].close()
    settings_dict["NAME"] = name
    _provisioned[alias] = math.inf  # being created: routing to it is expected
    try:
        yield
    finally:
        connections[alias].close()
        settings_dict["NAME"] = real
        _provisioned.pop(alias, None)


def publish(tenant: Any, staged: str) -> None:
    """Rename a staged database into place (it becomes the tenant's database)."""
    connection = connections[register(tenant)]
    rename(connection, staged, _name(connection))
    if connection.vendor == "postgresql":
        mark(tenant)
    _provisioned.pop(connection.alias, None)


def set_aside_from(tenant: Any, entry: aside.Aside) -> bool:
    """False when SQLite aside ``entry`` was set aside from another file than ``tenant``'s."""
    connection = connections[register(tenant)]
    if connection.vendor != "sqlite":
        return True
    return entry.rest.partition(".")[2] == os.path.basename(_sqlite_path(connection) or "")


def move_aside(tenant: Any, state: str = aside.KEPT) -> str:
    """Rename ``tenant``'s database out of every tenant's reach; returns the new name."""
    connection = connections[register(tenant)]
    if configured(tenant):
        msg = (
            f"Tenant {tenant.tenant_id!r} keeps its rows in DATABASES[{connection.alias!r}], "
            "a database omnitenant did not create and cannot rename. Delete the tenant with "
            "--drop-data, or move that database aside yourself and give the alias another one."
        )
        raise IsolationError(msg)
    name = _aside_of(connection, state, tenant.tenant_id)
    rename(connection, _name(connection), name)
    if connection.vendor == "postgresql":
        _pg_run(connection, "COMMENT ON DATABASE {} IS %s", name, [aside.marker(tenant, state)])
    _provisioned.pop(connection.alias, None)
    return name


def move_back(tenant: Any, name: str) -> None:
    """Undo ``move_aside``: the database named ``name`` goes back to ``tenant``'s name."""
    publish(tenant, name)


def drop(tenant: Any) -> None:
    """Drop ``tenant``'s database (SQLite: delete its file) and close this thread's connection."""
    connection = connections[register(tenant)]
    _provisioned.pop(connection.alias, None)
    drop_named(connection, _name(connection))


def drop_named(connection: Any, name: str) -> None:
    """Drop the database (or SQLite file) ``name`` on ``connection``'s server."""
    connection.close()
    if connection.vendor == "sqlite":
        for suffix in _SQLITE_FILES:
            if name and os.path.exists(name + suffix):
                os.remove(name + suffix)
    elif connection.vendor == "postgresql":
        _pg_run(connection, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    else:
        msg = f"Cannot drop a {connection.vendor} database; drop it by hand."
        raise IsolationError(msg)


def rename(connection: Any, old: str, new: str) -> None:
    """Rename database (or SQLite file) ``old`` on ``connection``'s server to ``new``."""
    connection.close()
    if connection.vendor == "sqlite":
        if not os.path.exists(old):
            msg = f"Cannot rename SQLite file {old!r}: it does not exist."
            raise IsolationError(msg)
        targets = [new + suffix for suffix in _SQLITE_FILES if os.path.exists(new + suffix)]
        for target in targets:
            if os.path.getsize(target) > 0:
                raise _target_exists(old, target)
        for target in targets:  # empty files SQLite made on connecting: they hold nothing
            os.remove(target)
        for suffix in _SQLITE_FILES:
            if os.path.exists(old + suffix):
                _move_file(old + suffix, new + suffix)
        return
    with connection._nodb_cursor() as cursor:
        # Renaming needs the database idle: other sessions of the tenant are ended first.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [old],
        )
    _pg_run(connection, "ALTER DATABASE {} RENAME TO " + connection.ops.quote_name(new), old)


def _target_exists(old: str, new: str) -> IsolationError:
    msg = (
        f"Cannot rename database {old!r} to {new!r}: {new!r} exists already and may be a live "
        "tenant's. Nothing was renamed; move one of them away by hand."
    )
    return IsolationError(msg)


def _move_file(old: str, new: str) -> None:
    """Rename file ``old`` to ``new``, refusing (never replacing) an existing ``new``."""
    try:
        os.link(old, new)  # fails when ``new`` exists, unlike os.replace
    except FileExistsError:
        raise _target_exists(old, new) from None
    except OSError:  # no hard links on this file system: checked just before
        if os.path.exists(new):
            raise _target_exists(old, new) from None
        os.rename(old, new)
        return
    os.unlink(old)


def places() -> list[Any]:
    """One connection per place omnitenant creates tenant databases in (folder or server).

    The place of TENANT_DATABASE and those of the current database tenants' databases.
    """
    from omnitenant.lookup import get_tenant_model

    found: dict[tuple[str, str], Any] = {}
    template = get_config().tenant_database
    if template:
        entry = {
            **template,
            "NAME": str(template.get("NAME", "")).replace("{", "").replace("}", ""),
        }
        settings_dict = connections.configure_settings(
            {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], "_omnitenant_place": entry}
        )["_omnitenant_place"]
        connection = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
            settings_dict, "_omnitenant_place"
        )
        found[_place_key(connection)] = connection
    rows = get_tenant_model()._default_manager.filter(isolation_type="database")
    for row in rows:
        try:
            if not stages(row):
                continue
        except IsolationError:
            logger.warning(
                "Tenant %r: its database cannot be reached to list aside databases", row.tenant_id
            )
            continue
        connection = connections[register(row)]
        found.setdefault(_place_key(connection), connection)
    return list(found.values())


def _place_key(connection: Any) -> tuple[str, str]:
    if connection.vendor == "sqlite":
        return "sqlite", os.path.dirname(_sqlite_path(connection) or "")
    sd = connection.settings_dict
    return connection.vendor, f"{sd.get('HOST')}:{sd.get('PORT')}"


def asides_at(connection: Any) -> list[tuple[aside.Aside, dict[str, Any] | None]]:
    """The aside databases (or SQLite files) at ``connection``'s place, with their markers."""
    found = []
    if connection.vendor == "sqlite":
        folder = os.path.dirname(_sqlite_path(connection) or "")
        for entry in sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []:
            parsed = aside.parse(entry)
            if parsed is None or entry.endswith(_SQLITE_FILES[1:]):
                continue
            tenant_id = parsed.rest.partition(".")[0]
            path = os.path.join(folder, entry)
            record = {"tenant_id": tenant_id, "pk": _sqlite_owner_pk(path)}
            found.append((dataclasses.replace(parsed, name=path), record))
    elif connection.vendor == "postgresql":
        with connection._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE starts_with(datname, '_') ORDER BY datname"
            )
            rows = cursor.fetchall()
        for name, comment in rows:
            parsed = aside.parse(name)
            if parsed is not None:
                found.append((parsed, aside.read_marker(comment)))
    return found


def _sqlite_owner_pk(path: str) -> int | None:
    """The owner row's pk marked in SQLite file ``path``; None when unmarked or unreadable."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            pk = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        logger.warning("Cannot read the owner mark of SQLite file %r", path, exc_info=True)
        return None
    return pk if application_id == _APPLICATION_ID and pk else None


def _name(connection: Any) -> str:
    return str(connection.settings_dict["NAME"])


def _aside_of(connection: Any, state: str, tenant_id: str) -> str:
    if connection.vendor == "sqlite":
        folder, base = os.path.split(_sqlite_path(connection) or "")
        return os.path.join(folder, f"{aside.aside_name(state, tenant_id, limit=None)}.{base}")
    return aside.aside_name(state, tenant_id)


def _pg_comment(connection: Any, name: str) -> str | None:
    """The comment on database ``name`` ("" without one), or None when it does not exist."""
    with connection._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
            "WHERE datname = %s",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def _pg_run(connection: Any, template: str, name: str, params: Any = None) -> None:
    """Run ``template`` with database ``name`` quoted in, from the server's maintenance database."""
    with connection._nodb_cursor() as cursor:
        cursor.execute(template.format(connection.ops.quote_name(name)), params)


def _sqlite_path(connection: Any) -> str | None:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        return None
    return name


def migrate(tenant: Any, options: dict[str, Any], stdout: Any, *, label: str = "database") -> None:
    """Run ``migrate`` on ``tenant``'s database (tenant apps only), output prefixed per tenant."""
    alias = register(tenant)
    stream = LinePrefixStream(stdout, lambda line: f"[{label}:{tenant.tenant_id}] {line}")
    with TenantContext.use_tenant(tenant):
        try:
            call_command("migrate", **{**options, "database": alias, "stdout": stream})
        finally:
            stream.flush()
