"""OMNITENANT_CONFIG, merged with its defaults once and read through ``get_config()``.

``RULES`` says what each key accepts. The system checks report a value a rule refuses, and
``get_config()`` never uses one as given: a lone string where a list is meant is read as a
one-element list (exact matches only, never a substring); any other refused value is replaced
by the value that keeps tenants apart (``Rule.fallback``) and a warning names it; where no
such value exists (``TENANT_APPS``: no reading says which apps are tenant apps; ``RESOLVERS``:
any default list resolves more than the one meant) ``get_config()`` raises
``ConfigurationError``, as it does for an OMNITENANT_CONFIG that is not a dict. Run-time
behaviour is never looser than the checks.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from omnitenant.exceptions import ConfigurationError
from omnitenant.hosts import is_valid_hostname

logger = logging.getLogger(__name__)

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
    # Celery (omnitenant.celery): "fail" raises TenantNotFound, "reject" drops the message.
    "CELERY_TENANT_NOT_FOUND": "fail",
}

CELERY_TENANT_NOT_FOUND_CHOICES = ("fail", "reject")
# RFC 7230 token characters; Django exposes such a header as HTTP_<NAME> in request.META.
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_NO_SAFE_VALUE = object()


def is_host(value: object) -> bool:
    """A bare, normalised host name such as ``www.example.com``."""
    return isinstance(value, str) and is_valid_hostname(value)


def is_header_name(value: object) -> bool:
    """An HTTP header name such as ``X-Tenant-ID``."""
    return isinstance(value, str) and HEADER_NAME.fullmatch(value) is not None


def is_list_of(entry: Callable[[object], bool]) -> Callable[[object], bool]:
    """A list or tuple whose every entry ``entry`` accepts (a string is not a list)."""
    return lambda value: isinstance(value, (list, tuple)) and all(map(entry, value))


def is_str(value: object) -> bool:
    return isinstance(value, str) and value != ""


def is_bool(value: object) -> bool:
    return isinstance(value, bool)


def optional(accepts: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or accepts(value)


def is_count(value: object) -> bool:
    """A whole number of at least 1 (``True`` is not a number here)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_seconds(value: object) -> bool:
    """A number of seconds, zero or more."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def is_patches(value: object) -> bool:
    return isinstance(value, dict) and all(map(is_bool, value.values()))


def is_database_template(value: object) -> bool:
    return isinstance(value, dict) and all(value.get(key) for key in ("ENGINE", "NAME"))


@dataclass(frozen=True)
class Rule:
    """What one OMNITENANT_CONFIG key accepts, the check reporting it, and what replaces it."""

    accepts: Callable[[object], bool]
    check_id: str
    # What get_config() reads instead of a refused value; _NO_SAFE_VALUE raises.
    fallback: Any = None
    # A lone string where a list is meant is read as [value] when the entry accepts it.
    entry: Callable[[object], bool] | None = None

    def read(self, value: Any) -> Any:
        """``value`` as get_config() uses it: as given, as a one-element list, or the fallback."""
        if self.accepts(value):
            return tuple(value) if isinstance(value, list) else value
        if self.entry is not None and self.entry(value):
            return (value,)
        return self.fallback


RULES: dict[str, Rule] = {
    "TENANT_MODEL": Rule(optional(is_str), "omnitenant.E001"),  # as if unset: no lookups
    "DOMAIN_MODEL": Rule(optional(is_str), "omnitenant.E002"),
    "BASE_DOMAIN": Rule(optional(is_host), "omnitenant.E009"),  # no subdomain resolution
    "PUBLIC_HOSTS": Rule(is_list_of(is_host), "omnitenant.E010", (), entry=is_host),
    "TENANT_HEADER": Rule(optional(is_header_name), "omnitenant.E011"),  # no header resolution
    "PATCHES": Rule(is_patches, "omnitenant.E013", DEFAULTS["PATCHES"]),  # the cache patched
    "CACHE_STRICT": Rule(is_bool, "omnitenant.E021", True),
    "RESOLVERS": Rule(
        lambda value: bool(value) and is_list_of(is_str)(value),
        "omnitenant.E030",
        _NO_SAFE_VALUE,
        entry=is_str,
    ),
    # No safe reading: ROOT_URLCONF in its place could serve tenant URLs on public hosts.
    "PUBLIC_URLCONF": Rule(optional(is_str), "omnitenant.E033", _NO_SAFE_VALUE),
    "TENANT_URLCONF": Rule(optional(is_str), "omnitenant.E033", _NO_SAFE_VALUE),
    "RESOLUTION_CACHE_SIZE": Rule(is_count, "omnitenant.E014", DEFAULTS["RESOLUTION_CACHE_SIZE"]),
    "RESOLUTION_CACHE_TTL": Rule(is_seconds, "omnitenant.E015", DEFAULTS["RESOLUTION_CACHE_TTL"]),
    "RESOLUTION_CACHE_ALIAS": Rule(is_str, "omnitenant.E034", "default"),
    "TENANT_APPS": Rule(is_list_of(is_str), "omnitenant.E040", _NO_SAFE_VALUE, entry=is_str),
    "SHARED_APPS": Rule(optional(is_list_of(is_str)), "omnitenant.E041", entry=is_str),
    "TENANT_DATABASE": Rule(optional(is_database_template), "omnitenant.E043"),
    "CELERY_TENANT_NOT_FOUND": Rule(
        lambda value: value in CELERY_TENANT_NOT_FOUND_CHOICES, "omnitenant.E060", "fail"
    ),
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
    shared_apps: tuple[str, ...] | None
    tenant_database: dict[str, Any] | None
    # Celery (omnitenant.celery)
    celery_tenant_not_found: str


def user_config() -> dict[str, Any]:
    """The raw OMNITENANT_CONFIG dict, empty when unset or not a dict (E012) for the checks."""
    raw = getattr(settings, "OMNITENANT_CONFIG", None)
    return raw if isinstance(raw, dict) else {}


def raw_value(key: str) -> Any:
    """What the user set for ``key``, or its default: the value the checks judge."""
    return user_config().get(key, DEFAULTS[key])


def read_value(key: str) -> Any:
    """``key`` as get_config() reads it (see the module docstring)."""
    value = raw_value(key)
    rule = RULES[key]
    used = rule.read(value)
    if rule.accepts(value):
        return used
    if used is _NO_SAFE_VALUE:
        msg = (
            f"OMNITENANT_CONFIG[{key!r}] = {value!r} is invalid and has no safe reading; "
            f"run manage.py check for the fix ({rule.check_id})."
        )
        raise ConfigurationError(msg)
    logger.warning(
        "OMNITENANT_CONFIG[%r] = %r is invalid (%s, see manage.py check); using %r instead.",
        key,
        value,
        rule.check_id,
        used,
    )
    return used


@functools.cache
def get_config() -> Config:
    """The merged configuration, built on first use and after each settings change."""
    raw = getattr(settings, "OMNITENANT_CONFIG", None)
    if raw is not None and not isinstance(raw, dict):
        msg = (
            f"OMNITENANT_CONFIG = {raw!r} is a {type(raw).__name__}, not a dict; run "
            "manage.py check for the fix (omnitenant.E012)."
        )
        raise ConfigurationError(msg)
    values = {key: read_value(key) for key in DEFAULTS}
    values["PATCHES"] = {**DEFAULTS["PATCHES"], **values["PATCHES"]}
    return Config(**{key.lower(): value for key, value in values.items()})


@receiver(setting_changed)
def _reset_config(*, setting: str, **kwargs: Any) -> None:
    if setting == "OMNITENANT_CONFIG":
        get_config.cache_clear()
