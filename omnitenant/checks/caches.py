"""System checks for the cache patch settings (omnitenant.E020-E029)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from omnitenant.conf import RULES, raw_value


@register(Tags.caches)
def check_cache_isolation_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E020-E022: TENANT_ISOLATION and CACHE_STRICT are booleans; no VERSION contains ':'."""
    messages: list[CheckMessage] = []
    caches = getattr(settings, "CACHES", None) or {}
    for alias, params in caches.items():
        version = params.get("VERSION", 1) if isinstance(params, dict) else 1
        if not isinstance(version, int) and ":" in str(version):
            messages.append(
                Error(
                    f"CACHES[{alias!r}]['VERSION'] = {version!r} contains ':', which would "
                    "move keys into another tenant's segment; every cache operation inside a "
                    "tenant refuses it.",
                    hint="Use an integer VERSION (or a string without ':').",
                    id="omnitenant.E022",
                )
            )
        value = params.get("TENANT_ISOLATION", True) if isinstance(params, dict) else True
        if not isinstance(value, bool):
            messages.append(
                Error(
                    f"CACHES[{alias!r}]['TENANT_ISOLATION'] = {value!r} is not a boolean.",
                    hint="Use False for a cache shared by all tenants, or remove the key "
                    "(tenant isolation is on by default).",
                    id="omnitenant.E020",
                )
            )
    strict = raw_value("CACHE_STRICT")
    if not RULES["CACHE_STRICT"].accepts(strict):
        messages.append(
            Error(
                f"OMNITENANT_CONFIG['CACHE_STRICT'] = {strict!r} is not a boolean.",
                hint="Set OMNITENANT_CONFIG['CACHE_STRICT'] to True (cache use with no tenant "
                "raises NoTenantActive) or False.",
                id="omnitenant.E021",
            )
        )
    return messages
