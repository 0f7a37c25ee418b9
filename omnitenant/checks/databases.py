"""System checks for database isolation (omnitenant.E040-E049 / W040-W049)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from omnitenant.checks.settings import ROUTER_PATH
from omnitenant.conf import RULES, user_config

SCHEMA_ENGINE = "django_tenants.postgresql_backend"


def _app_list_errors(setting: str, value: object, error_id: str) -> list[CheckMessage]:
    if value is None and setting == "SHARED_APPS":
        return []
    if not RULES[setting].accepts(value):
        return [
            Error(
                f"OMNITENANT_CONFIG[{setting!r}] = {value!r} is not a list of app labels.",
                hint=f"Set OMNITENANT_CONFIG[{setting!r}] to a list such as ['notes', 'billing'].",
                id=error_id,
            )
        ]
    installed = {config.label for config in apps.get_app_configs()} | {
        config.name for config in apps.get_app_configs()
    }
    return [
        Error(
            f"OMNITENANT_CONFIG[{setting!r}] names {entry!r}, which is not an installed app.",
            hint="Use the label (or dotted name) of an app in INSTALLED_APPS.",
            id=error_id,
        )
        for entry in value
        if entry not in installed
    ]


@register(Tags.compatibility)  # settings only: "database" checks need --database
def check_database_isolation(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E040-E043, E045, W040: the tenant/shared app split and the database settings it needs."""
    from omnitenant.routers import app_label

    raw = user_config()
    messages = _app_list_errors("TENANT_APPS", raw.get("TENANT_APPS", ()), "omnitenant.E040")
    messages += _app_list_errors("SHARED_APPS", raw.get("SHARED_APPS"), "omnitenant.E041")
    if messages:
        return messages
    # The raw lists, not get_config(): a check must report, not raise on another key.
    tenant = {app_label(entry) for entry in raw.get("TENANT_APPS", ())}
    shared = {app_label(entry) for entry in raw.get("SHARED_APPS") or ()}
    for setting in ("TENANT_MODEL", "DOMAIN_MODEL"):
        value = raw.get(setting)
        if isinstance(value, str) and "." in value:
            label = value.split(".", 1)[0]
            if label in tenant and label not in shared:
                messages.append(
                    Error(
                        f"{setting} {value!r} belongs to app {label!r}, which is a tenant app: "
                        "tenants must be found before any tenant is active.",
                        hint=f"Remove {label!r} from OMNITENANT_CONFIG['TENANT_APPS'] (or add "
                        "it to OMNITENANT_CONFIG['SHARED_APPS'] too).",
                        id="omnitenant.E042",
                    )
                )
    template = raw.get("TENANT_DATABASE")
    if not RULES["TENANT_DATABASE"].accepts(template):
        messages.append(
            Error(
                "OMNITENANT_CONFIG['TENANT_DATABASE'] must be a DATABASES entry with ENGINE "
                "and NAME.",
                hint="E.g. {'ENGINE': 'django.db.backends.sqlite3', 'NAME': "
                "'tenants/{tenant_id}.sqlite3'}; strings may use {tenant_id} and {db_alias}.",
                id="omnitenant.E043",
            )
        )
    engine = (getattr(settings, "DATABASES", None) or {}).get("default", {}).get("ENGINE")
    if engine == "django.db.backends.postgresql":
        messages.append(
            Warning(
                "The default database is PostgreSQL without django-tenants' backend: tenants "
                "with isolation_type='schema' (the default) cannot be activated for tenant "
                "models.",
                hint=f"Set DATABASES['default']['ENGINE'] = {SCHEMA_ENGINE!r}, or use only "
                "isolation_type='database' tenants.",
                id="omnitenant.W040",
            )
        )
    # TENANT_LIMIT_SET_CALLS no longer matters: omnitenant never lets django-tenants send its
    # session-level SET search_path; each statement carries its own path.
    for alias, database in (getattr(settings, "DATABASES", None) or {}).items():
        options = database.get("OPTIONS") or {}
        if database.get("ENGINE") == SCHEMA_ENGINE and options.get("server_side_binding"):
            messages.append(
                Error(
                    f"DATABASES[{alias!r}] uses server_side_binding, which sends one statement "
                    "per execute: statements cannot carry their tenant's search path.",
                    hint=f"Remove 'server_side_binding' from DATABASES[{alias!r}]['OPTIONS'].",
                    id="omnitenant.E045",
                )
            )
    return messages


@register(Tags.compatibility)  # settings only: "database" checks need --database
def check_tenant_apps_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E044: TenantRouter installed with no TENANT_APPS, so every row is shared by all tenants."""
    from omnitenant.routers import NO_TENANT_APPS, NO_TENANT_APPS_HINT

    if ROUTER_PATH not in list(getattr(settings, "DATABASE_ROUTERS", None) or []):
        return []
    tenant_apps = user_config().get("TENANT_APPS", ())
    if isinstance(tenant_apps, (list, tuple)) and not tenant_apps:  # other values: E040
        return [Error(NO_TENANT_APPS, hint=NO_TENANT_APPS_HINT, id="omnitenant.E044")]
    return []
