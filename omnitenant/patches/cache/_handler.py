"""``caches`` and ``cache`` while patched: tenant-aware connections and alias routing."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, CacheHandler
from django.utils.connection import ConnectionProxy

from omnitenant.context import current
from omnitenant.patches.cache._backends import make_tenant_aware

logger = logging.getLogger("omnitenant.patches.cache")

_warned_aliases: set[str] = set()
_warned_shared: set[str] = set()
# Attribute name, in the per-thread connections, of a shared alias's routed (isolated) backend.
_ROUTED = "\x00routed:"


class TenantAwareCacheWrapper(CacheHandler):
    """Django's CacheHandler with tenant-aware connections.

    Each backend is made tenant-aware once, when created. ``caches["default"]`` (and so
    ``cache``) is routed to the active tenant's ``cache_alias`` when CACHES has it; an
    alias missing from CACHES falls back to ``"default"`` with one logged warning per
    alias. A routed alias with ``"TENANT_ISOLATION": False`` is reached through an isolated
    backend of its own (same server, tenant-prefixed keys), so a tenant never lands in the
    shared namespace by routing. Other aliases are used as named.
    """

    def __init__(self, settings: CacheHandler | dict[str, Any] | None = None) -> None:
        # Also accept the handler being wrapped (``TenantAwareCacheWrapper(caches)``).
        if isinstance(settings, CacheHandler):
            settings = settings.settings
        super().__init__(settings)

    def create_connection(self, alias: str) -> Any:
        return make_tenant_aware(super().create_connection(alias), alias, self.settings[alias])

    def __getitem__(self, alias: str) -> Any:
        if alias == DEFAULT_CACHE_ALIAS:
            tenant = current()
            if tenant is not None and getattr(tenant, "cache_alias", None):
                alias = self._route(tenant.cache_alias)
                if self.settings[alias].get("TENANT_ISOLATION", True) is False:
                    return self._routed_to_shared(alias, tenant)
        # BaseConnectionHandler.__getitem__, inlined: this runs on every `cache.<op>`.
        try:
            return getattr(self._connections, alias)
        except AttributeError:
            if alias not in self.settings:
                msg = f"The connection '{alias}' doesn't exist."
                raise self.exception_class(msg) from None
        connection = self.create_connection(alias)
        setattr(self._connections, alias, connection)
        return connection

    def unrouted(self, alias: str) -> Any:
        """The tenant-aware backend of ``alias`` itself, never routed to a tenant's cache_alias."""
        return super().__getitem__(alias)

    def _route(self, alias: str) -> str:
        if alias in self.settings:
            return alias
        if alias not in _warned_aliases:
            _warned_aliases.add(alias)
            logger.warning(
                "Tenant cache alias %r is not in CACHES; using %r. Add it to CACHES or "
                "clear the tenant's cache_alias.",
                alias,
                DEFAULT_CACHE_ALIAS,
            )
        return DEFAULT_CACHE_ALIAS

    def _routed_to_shared(self, alias: str, tenant: Any) -> Any:
        """An isolated backend on shared ``alias``, for tenants whose cache_alias names it."""
        name = _ROUTED + alias
        try:
            return getattr(self._connections, name)
        except AttributeError:
            pass
        if alias not in _warned_shared:
            _warned_shared.add(alias)
            logger.warning(
                "Tenant %r has cache_alias %r, whose CACHES entry has 'TENANT_ISOLATION': "
                "False; its keys there are prefixed with the tenant all the same. Give "
                "tenants an isolated alias (explicit caches[%r] stays shared).",
                tenant.tenant_id,
                alias,
                alias,
            )
        params = {**self.settings[alias], "TENANT_ISOLATION": True}
        connection = make_tenant_aware(super().create_connection(alias), alias, params)
        setattr(self._connections, name, connection)
        return connection

    def close_all(self) -> None:
        super().close_all()
        for alias in self:
            connection = getattr(self._connections, _ROUTED + alias, None)
            if connection is not None:
                connection.close()

    def all(self, initialized_only: bool = False) -> list[Any]:
        """Every configured connection once, by its own alias (no routing)."""
        return [
            super(TenantAwareCacheWrapper, self).__getitem__(alias)
            for alias in self
            if not initialized_only or hasattr(self._connections, alias)
        ]


class TenantCacheProxy(ConnectionProxy):
    """``django.core.cache.cache`` while patched: ConnectionProxy plus dict-style access."""

    def __getitem__(self, key: Any) -> Any:
        return self._connections[self._alias][key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._connections[self._alias][key] = value

    def __delitem__(self, key: Any) -> None:
        del self._connections[self._alias][key]
