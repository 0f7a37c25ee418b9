"""OMNITENANT_CONFIG, merged with its defaults once and read through ``get_config()``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULT_RESOLVERS = (
    "omnitenant.resolvers.DomainResolver",
    "omnitenant.resolvers.SubdomainResolver",
    "omnitenant.resolvers.HeaderResolver",
)

DEFAULTS: dict[str, Any] = {
    "TENANT_MODEL": None,
    "DOMAIN_MODEL": None,
    "BASE_DOMAIN": None,
    "PUBLIC_HOSTS": (),
    "TENANT_HEADER": None,
    "PATCHES": {"cache": True},
    "CACHE_STRICT": False,
    "RESOLVERS": DEFAULT_RESOLVERS,
    "PUBLIC_URLCONF": None,
    "TENANT_URLCONF": None,
    "RESOLUTION_CACHE_SIZE": 10_000,
    "RESOLUTION_CACHE_TTL": 60,
    "RESOLUTION_CACHE_ALIAS": "default",
    "TENANT_APPS": (),
    # database isolation
    "SHARED_APPS": None,
    "TENANT_DATABASE": None,
}


@dataclass(frozen=True)
class Config:
    """OMNITENANT_CONFIG with defaults applied; see the README's configuration reference."""

    tenant_model: str | None
    domain_model: str | None
    base_domain: str | None
    public_hosts: tuple[str, ...]
    tenant_header: str | None
    patches: dict[str, bool]
    cache_strict: bool
    resolvers: tuple[str, ...]
    public_urlconf: str | None
    tenant_urlconf: str | None
    resolution_cache_size: int
    resolution_cache_ttl: float
    resolution_cache_alias: str
    tenant_apps: tuple[str, ...]
    # database isolation
    shared_apps: tuple[str, ...] | None = None
    tenant_database: dict[str, Any] | None = None


def user_config() -> dict[str, Any]:
    """The raw OMNITENANT_CONFIG dict (empty when unset)."""
    raw = getattr(settings, "OMNITENANT_CONFIG", None)
    return raw if isinstance(raw, dict) else {}


@functools.cache
def get_config() -> Config:
    """The merged configuration, built on first use and after each settings change."""
    raw = user_config()
    values = {key: raw.get(key, default) for key, default in DEFAULTS.items()}
    patches = dict(DEFAULTS["PATCHES"])
    if isinstance(raw.get("PATCHES"), dict):
        patches.update(raw["PATCHES"])
    values["PATCHES"] = patches
    for key in ("PUBLIC_HOSTS", "RESOLVERS", "TENANT_APPS"):
        if isinstance(values[key], (list, tuple)):
            values[key] = tuple(values[key])
    # database isolation
    if isinstance(values["SHARED_APPS"], list):
        values["SHARED_APPS"] = tuple(values["SHARED_APPS"])
    return Config(**{key.lower(): value for key, value in values.items()})


@receiver(setting_changed)
def _reset_config(*, setting: str, **kwargs: Any) -> None:
    if setting == "OMNITENANT_CONFIG":
        get_config.cache_clear()
