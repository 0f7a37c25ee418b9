"""The tenant-aware cache: inside tenant ``acme``, key ``k`` is stored as ``acme:k``.

``patch_django_cache()`` swaps the class of Django's ``caches`` handler and ``cache``
proxy (the objects themselves stay, so references taken earlier follow) and drops the
connections made so far, so every backend is re-created tenant-aware.
``unpatch_django_cache()`` puts Django's classes back and drops the connections again.
"""

from __future__ import annotations

from typing import Any

from asgiref.local import Local
from django.core.signals import setting_changed
from django.dispatch import receiver

from omnitenant.patches.cache._backends import TenantCacheMixin, redis_clients
from omnitenant.patches.cache._handler import TenantAwareCacheWrapper
from omnitenant.patches.cache._handler import TenantCacheProxy as TenantCacheProxyType
from omnitenant.patches.cache._keys import GENERATION_TTL, RESERVED_PREFIX, forget_generations

__all__ = [
    "GENERATION_TTL",
    "RESERVED_PREFIX",
    "TenantAwareCacheWrapper",
    "TenantCacheMixin",
    "TenantCacheProxyType",
    "is_patched",
    "patch_django_cache",
    "redis_clients",
    "unpatch_django_cache",
]


def is_patched() -> bool:
    """Whether ``django.core.cache.caches`` is tenant-aware now."""
    from django.core import cache as cache_module

    return isinstance(cache_module.caches, TenantAwareCacheWrapper)


def _reset_connections(handler: Any) -> None:
    handler.close_all()
    handler._connections = Local(handler.thread_critical)
    forget_generations()


def patch_django_cache() -> None:
    """Make ``django.core.cache.caches`` and ``cache`` tenant-aware; patching twice is harmless."""
    from django.core import cache as cache_module

    handler = cache_module.caches
    if isinstance(handler, TenantAwareCacheWrapper):
        return
    _reset_connections(handler)
    handler._omnitenant_original_class = type(handler)
    handler.__class__ = TenantAwareCacheWrapper
    proxy = cache_module.cache
    # ConnectionProxy forwards attribute writes to the connection: set on the proxy itself.
    object.__setattr__(proxy, "_omnitenant_original_class", type(proxy))
    object.__setattr__(proxy, "__class__", TenantCacheProxyType)


def unpatch_django_cache() -> None:
    """Restore Django's cache objects exactly; a no-op when not patched."""
    from django.core import cache as cache_module

    handler = cache_module.caches
    if not isinstance(handler, TenantAwareCacheWrapper):
        return
    _reset_connections(handler)
    handler.__class__ = handler.__dict__.pop("_omnitenant_original_class")
    proxy = cache_module.cache
    object.__setattr__(proxy, "__class__", proxy.__dict__.pop("_omnitenant_original_class"))


@receiver(setting_changed)
def _forget_generations_on_caches_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        forget_generations()
