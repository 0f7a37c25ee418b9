"""System checks for resolvers and URLconfs (omnitenant.E030-E039 / W030-W039)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from omnitenant.conf import DEFAULTS, RULES, raw_value, user_config


def _check_urlconf(raw: dict[str, Any], setting: str) -> CheckMessage | None:
    import importlib

    urlconf = raw.get(setting)
    if urlconf is None:
        return None
    reason = "it is not a module path"
    if isinstance(urlconf, str):
        try:
            module = importlib.import_module(urlconf)
        except ImportError as exc:
            reason = str(exc)
        else:
            if hasattr(module, "urlpatterns"):
                return None
            reason = "it has no urlpatterns"
    return Error(
        f"OMNITENANT_CONFIG[{setting!r}] = {urlconf!r} is not a URLconf module: {reason}.",
        hint=f"Set OMNITENANT_CONFIG[{setting!r}] to a module path with urlpatterns "
        "(like ROOT_URLCONF), or None to use ROOT_URLCONF.",
        id="omnitenant.E033",
    )


@register(Tags.compatibility)
def check_resolvers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E030-E033, W030: RESOLVERS name resolver classes; the urlconfs import."""
    from django.utils.module_loading import import_string

    from omnitenant.resolvers import BaseResolver, HeaderResolver

    raw = user_config()
    paths = raw.get("RESOLVERS", DEFAULTS["RESOLVERS"])
    if not RULES["RESOLVERS"].accepts(paths):
        return [
            Error(
                f"OMNITENANT_CONFIG['RESOLVERS'] = {paths!r} is not a non-empty list of "
                "import strings.",
                hint="Use e.g. ['omnitenant.resolvers.DomainResolver', "
                "'omnitenant.resolvers.SubdomainResolver', "
                "'omnitenant.resolvers.HeaderResolver'].",
                id="omnitenant.E030",
            )
        ]
    messages: list[CheckMessage] = []
    classes = []
    for path in paths:
        try:
            resolver = import_string(path)
        except ImportError as exc:
            messages.append(
                Error(
                    f"OMNITENANT_CONFIG['RESOLVERS'] entry {path!r} cannot be imported: {exc}.",
                    hint="Fix the dotted path, e.g. 'omnitenant.resolvers.SubdomainResolver'.",
                    id="omnitenant.E031",
                )
            )
            continue
        if not (isinstance(resolver, type) and issubclass(resolver, BaseResolver)):
            messages.append(
                Error(
                    f"OMNITENANT_CONFIG['RESOLVERS'] entry {path!r} is not a resolver class.",
                    hint="Name a subclass of omnitenant.resolvers.BaseResolver that "
                    "implements resolve(request).",
                    id="omnitenant.E032",
                )
            )
            continue
        classes.append(resolver)
    for setting in ("PUBLIC_URLCONF", "TENANT_URLCONF"):
        error = _check_urlconf(raw, setting)
        if error is not None:
            messages.append(error)
    header_resolver = any(issubclass(cls, HeaderResolver) for cls in classes)
    if raw.get("TENANT_HEADER") and len(classes) == len(paths) and not header_resolver:
        messages.append(
            Warning(
                "TENANT_HEADER is set but no HeaderResolver is in RESOLVERS: the header "
                "never selects a tenant, and requests that send it on a public host "
                "get a 404.",
                hint="Add 'omnitenant.resolvers.HeaderResolver' to "
                "OMNITENANT_CONFIG['RESOLVERS'], or set TENANT_HEADER to None.",
                id="omnitenant.W030",
            )
        )
    return messages


_PER_PROCESS_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches)
def check_resolution_cache_alias(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E034: RESOLUTION_CACHE_ALIAS names a configured cache."""
    alias = raw_value("RESOLUTION_CACHE_ALIAS")
    if not RULES["RESOLUTION_CACHE_ALIAS"].accepts(alias) or alias not in (
        getattr(settings, "CACHES", None) or {}
    ):
        return [
            Error(
                f"OMNITENANT_CONFIG['RESOLUTION_CACHE_ALIAS'] = {alias!r} is not in CACHES.",
                hint="Name a CACHES alias shared by all processes (e.g. Redis), where "
                "omnitenant keeps the version stamp of tenant and domain changes.",
                id="omnitenant.E034",
            )
        ]
    return []


@register(Tags.caches, deploy=True)
def check_resolution_cache_is_shared(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W031 (check --deploy): the lookup version stamp lives in a per-process cache."""
    alias = raw_value("RESOLUTION_CACHE_ALIAS")
    if not RULES["RESOLUTION_CACHE_ALIAS"].accepts(alias):
        return []  # E034
    backend = ((getattr(settings, "CACHES", None) or {}).get(alias) or {}).get("BACKEND")
    if backend in _PER_PROCESS_BACKENDS:
        return [
            Warning(
                f"CACHES[{alias!r}] ({backend.rsplit('.', 1)[-1]}) is not shared between "
                "processes: a tenant or domain saved in one process reaches the others only "
                "after RESOLUTION_CACHE_TTL.",
                hint="Point OMNITENANT_CONFIG['RESOLUTION_CACHE_ALIAS'] at a cache all "
                "processes share: Redis (changes are pushed to every process), or "
                "memcached, database or file (read on every request).",
                id="omnitenant.W031",
            )
        ]
    return []
