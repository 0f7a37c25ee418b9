"""System checks for OMNITENANT_CONFIG and the settings every part relies on (E001-E015, W001).

Each value is judged by its rule in ``omnitenant.conf.RULES``, the predicates
``get_config()`` reads the value with, so a check and the running code cannot disagree.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from omnitenant.conf import DEFAULTS, RULES, is_host, raw_value, user_config

MIDDLEWARE_PATH = "omnitenant.middleware.TenantMiddleware"
ROUTER_PATH = "omnitenant.routers.TenantRouter"


@register(Tags.compatibility)
def check_config_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W001: keys in OMNITENANT_CONFIG that omnitenant does not know (likely typos)."""
    raw = getattr(settings, "OMNITENANT_CONFIG", None)
    if raw is None:
        return [
            Error(
                "OMNITENANT_CONFIG is not set.",
                hint="Add OMNITENANT_CONFIG = {'TENANT_MODEL': ..., 'DOMAIN_MODEL': ...} "
                "to your settings (see the README).",
                id="omnitenant.E012",
            )
        ]
    if not isinstance(raw, dict):
        return [
            Error(
                f"OMNITENANT_CONFIG must be a dict, not {type(raw).__name__}.",
                hint="Set OMNITENANT_CONFIG = {...} with the keys listed in the README.",
                id="omnitenant.E012",
            )
        ]
    messages: list[CheckMessage] = []
    for key in sorted(set(raw) - set(DEFAULTS)):
        close = difflib.get_close_matches(key, DEFAULTS, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else "Remove it; the README lists the keys."
        messages.append(
            Warning(f"Unknown OMNITENANT_CONFIG key {key!r}.", hint=hint, id="omnitenant.W001")
        )
    return messages


def _check_model(setting: str, base_path: str, ids: tuple[str, str]) -> list[CheckMessage]:
    value = user_config().get(setting)
    missing_id, base_id = ids
    if not value:
        return [
            Error(
                f"OMNITENANT_CONFIG[{setting!r}] is not set.",
                hint=f"Set OMNITENANT_CONFIG[{setting!r}] to the 'app_label.ModelName' of a "
                f"model subclassing {base_path}.",
                id=missing_id,
            )
        ]
    try:
        if not RULES[setting].accepts(value):
            raise LookupError(value)
        model = apps.get_model(value, require_ready=False)
    except (ValueError, LookupError):
        return [
            Error(
                f"OMNITENANT_CONFIG[{setting!r}] = {value!r} does not name an installed model.",
                hint=f"Set OMNITENANT_CONFIG[{setting!r}] to 'app_label.ModelName' (e.g. "
                "'customers.Tenant') and add that app to INSTALLED_APPS.",
                id=missing_id,
            )
        ]
    from omnitenant import models as base_models

    base = getattr(base_models, base_path.rsplit(".", 1)[1])
    if not issubclass(model, base):
        return [
            Error(
                f"{value} does not subclass {base_path}.",
                hint=f"Make {model.__name__} inherit from {base_path}.",
                id=base_id,
            )
        ]
    return []


@register(Tags.models)
def check_models(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001-E004: TENANT_MODEL and DOMAIN_MODEL exist and subclass the bases."""
    return _check_model(
        "TENANT_MODEL", "omnitenant.models.BaseTenant", ("omnitenant.E001", "omnitenant.E003")
    ) + _check_model(
        "DOMAIN_MODEL", "omnitenant.models.BaseDomain", ("omnitenant.E002", "omnitenant.E004")
    )


@register(Tags.compatibility)
def check_middleware_and_router(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E005-E007: TenantMiddleware installed first, TenantRouter installed."""
    messages: list[CheckMessage] = []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE.",
                hint=f"Add {MIDDLEWARE_PATH!r} as the first entry of MIDDLEWARE.",
                id="omnitenant.E005",
            )
        )
    elif middleware[0] != MIDDLEWARE_PATH:
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH} is not the first entry of MIDDLEWARE.",
                hint="Move it to the top: middleware above it (e.g. UpdateCacheMiddleware, "
                "sessions) would run with no tenant and share data between tenants.",
                id="omnitenant.E006",
            )
        )
    if ROUTER_PATH not in list(getattr(settings, "DATABASE_ROUTERS", None) or []):
        messages.append(
            Error(
                f"{ROUTER_PATH} is not in DATABASE_ROUTERS.",
                hint=f"Add {ROUTER_PATH!r} to DATABASE_ROUTERS.",
                id="omnitenant.E007",
            )
        )
    return messages


@register(Tags.caches)
def check_cache_patch(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E008: the cache patch is enabled but there is no default cache to patch."""
    raw_patches = raw_value("PATCHES")
    if not RULES["PATCHES"].accepts(raw_patches):
        return [
            Error(
                f"OMNITENANT_CONFIG['PATCHES'] = {raw_patches!r} is not a dict of booleans.",
                hint="Use e.g. 'PATCHES': {'cache': True}.",
                id="omnitenant.E013",
            )
        ]
    caches = getattr(settings, "CACHES", None) or {}
    if {**DEFAULTS["PATCHES"], **raw_patches}.get("cache") and "default" not in caches:
        return [
            Error(
                "The cache patch is enabled but CACHES has no 'default' alias.",
                hint="Define CACHES['default'], or set OMNITENANT_CONFIG['PATCHES'] = "
                "{'cache': False}.",
                id="omnitenant.E008",
            )
        ]
    return []


def _host_error(setting: str, value: object, example: str) -> Error:
    return Error(
        f"OMNITENANT_CONFIG[{setting!r}] = {value!r} is not a valid host name.",
        hint=f"Use a bare lower-case host such as {example!r}: no scheme, port, path, "
        "wildcard or trailing dot.",
        id="omnitenant.E009" if setting == "BASE_DOMAIN" else "omnitenant.E010",
    )


@register(Tags.compatibility)
def check_hosts_and_header(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E009-E011: BASE_DOMAIN, PUBLIC_HOSTS and TENANT_HEADER are well-formed."""
    messages: list[CheckMessage] = []
    base_domain = raw_value("BASE_DOMAIN")
    if not RULES["BASE_DOMAIN"].accepts(base_domain):
        messages.append(_host_error("BASE_DOMAIN", base_domain, "example.com"))
    public_hosts = raw_value("PUBLIC_HOSTS")
    if not isinstance(public_hosts, (list, tuple)):
        messages.append(
            Error(
                f"OMNITENANT_CONFIG['PUBLIC_HOSTS'] = {public_hosts!r} is not a list.",
                hint="Use a list of host names, e.g. ['example.com', 'www.example.com'].",
                id="omnitenant.E010",
            )
        )
    else:
        messages.extend(
            _host_error("PUBLIC_HOSTS", host, "www.example.com")
            for host in public_hosts
            if not is_host(host)
        )
    header = raw_value("TENANT_HEADER")
    if not RULES["TENANT_HEADER"].accepts(header):
        messages.append(
            Error(
                f"OMNITENANT_CONFIG['TENANT_HEADER'] = {header!r} is not a valid HTTP header name.",
                hint="Use a header name such as 'X-Tenant-ID', or None to disable header "
                "resolution.",
                id="omnitenant.E011",
            )
        )
    return messages


@register(Tags.compatibility)
def check_resolution_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E014-E015: RESOLUTION_CACHE_SIZE and RESOLUTION_CACHE_TTL are numbers."""
    messages: list[CheckMessage] = []
    size = raw_value("RESOLUTION_CACHE_SIZE")
    if not RULES["RESOLUTION_CACHE_SIZE"].accepts(size):
        messages.append(
            Error(
                f"OMNITENANT_CONFIG['RESOLUTION_CACHE_SIZE'] = {size!r} is not a whole number "
                "of at least 1.",
                hint="Set it to how many host lookups each process keeps, e.g. 10000.",
                id="omnitenant.E014",
            )
        )
    ttl = raw_value("RESOLUTION_CACHE_TTL")
    if not RULES["RESOLUTION_CACHE_TTL"].accepts(ttl):
        messages.append(
            Error(
                f"OMNITENANT_CONFIG['RESOLUTION_CACHE_TTL'] = {ttl!r} is not a number of seconds.",
                hint="Set it to the longest a process may serve a lookup without reading it "
                "again, e.g. 60 (an int or float, 0 or more).",
                id="omnitenant.E015",
            )
        )
    return messages
