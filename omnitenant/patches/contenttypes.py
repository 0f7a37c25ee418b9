"""Django's ContentType cache, kept per tenant when contenttypes is a tenant app.

``ContentType.objects`` caches content types per process in ``_cache[db_alias]``. With
``contenttypes`` in ``TENANT_APPS`` every schema tenant has its own ``django_content_type``
table on the same alias, with its own ids, so one thread would read ids another tenant's
thread cached. ``patch_contenttypes_cache()`` replaces that mapping with one keyed by the
alias and the active tenant (by the alias alone while contenttypes is not a tenant app).
It never relies on the cache being cleared when the tenant changes.
"""

from __future__ import annotations

from typing import Any

from omnitenant.context import TenantContext
from omnitenant.routers import is_tenant_app

LABEL = "contenttypes"


class TenantContentTypeCache(dict):  # type: ignore[type-arg]
    """``{alias: {key: ContentType}}`` as the manager uses it, stored per (alias, tenant_id).

    The manager reads ``cache[alias]``, ``cache.setdefault(alias, {})`` and ``clear()``
    (which drops every tenant's entries); those, ``get`` and ``in`` follow the tenant.
    """

    def _key(self, alias: str) -> tuple[str, str | None]:
        tenant = TenantContext.get_tenant()
        if tenant is None or not is_tenant_app(LABEL):
            return (alias, None)
        return (alias, tenant.tenant_id)

    def __getitem__(self, alias: str) -> dict[Any, Any]:
        return super().__getitem__(self._key(alias))

    def __setitem__(self, alias: str, value: dict[Any, Any]) -> None:
        super().__setitem__(self._key(alias), value)

    def __contains__(self, alias: object) -> bool:
        return isinstance(alias, str) and super().__contains__(self._key(alias))

    def get(self, alias: str, default: Any = None) -> Any:
        return super().get(self._key(alias), default)

    def setdefault(self, alias: str, default: Any = None) -> Any:
        return super().setdefault(self._key(alias), default)


def _managers() -> list[Any]:
    from django.contrib.contenttypes.models import ContentType

    # Options.managers hands out shallow copies of the manager: each has its own attribute.
    return [ContentType.objects, *ContentType._meta.managers, *ContentType._meta.local_managers]


def patch_contenttypes_cache() -> None:
    """Key ContentType.objects' cache by alias and tenant (idempotent)."""
    managers = _managers()
    if all(isinstance(manager._cache, TenantContentTypeCache) for manager in managers):
        return
    shared = TenantContentTypeCache()  # one mapping for every copy, as Django shares its dict
    for manager in managers:
        manager._cache = shared


def unpatch_contenttypes_cache() -> None:
    """Give ContentType.objects Django's plain per-alias cache back (a no-op when unpatched)."""
    plain: dict[str, Any] = {}
    for manager in _managers():
        if isinstance(manager._cache, TenantContentTypeCache):
            manager._cache = plain
