"""The tenant-aware key function and the namespace generations of backends that cannot list keys.

Every Django cache backend (and django-redis' client) builds each key through
``backend.key_func(key, key_prefix, version)``, so the tenant goes in there: one
ContextVar read per key and nothing else on the per-operation path.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import default_key_func

from omnitenant.conf import get_config
from omnitenant.context import current, without_tenant
from omnitenant.exceptions import InvalidCacheVersion, NoTenantActive

KeyFunc = Callable[[Any, str, Any], str]

RESERVED_PREFIX = "_omnitenant:"
GENERATION_KEY = "_omnitenant:cache-generation:{tenant_id}"
# One generation per tenant and namespace (backend, LOCATION, KEY_PREFIX), whatever the
# alias or VERSION: aliases sharing a server and prefix see the same entries.
GENERATION_VERSION = 1
# How long a process trusts the generation it last read; a clear() made by another
# process is seen here after at most this many seconds.
GENERATION_TTL = 1.0

_generations: dict[tuple[Any, str], tuple[str, float]] = {}
_generations_lock = threading.Lock()


def _refuse(key: Any, alias: str) -> None:
    if get_config().cache_strict and not (isinstance(key, str) and key.startswith(RESERVED_PREFIX)):
        msg = (
            f"Cache key {key!r} used on alias {alias!r} with no active tenant while "
            "OMNITENANT_CONFIG['CACHE_STRICT'] is on. Run the code inside "
            "TenantContext.use_tenant(tenant), or put data shared by all tenants in a cache "
            "alias with 'TENANT_ISOLATION': False."
        )
        raise NoTenantActive(msg)


def refuse_version(version: Any, alias: str) -> None:
    """Raise InvalidCacheVersion: ``version`` contains the key separator."""
    msg = (
        f"Cache version {version!r} on alias {alias!r} contains ':', which would move the "
        "key into another tenant's segment. Use an integer version (or a string without ':')."
    )
    raise InvalidCacheVersion(msg)


def tenant_key_func(inner: KeyFunc, alias: str) -> KeyFunc:
    """A key function storing ``k`` as the logical key ``"{tenant_id}:k"`` inside a tenant."""
    get = current
    if inner is default_key_func:
        # Same output as default_key_func, built in one step: no extra call per key.
        def key_func(key: Any, key_prefix: str, version: Any) -> str:
            tenant = get()
            if tenant is not None:
                if version.__class__ is not int and ":" in str(version):
                    refuse_version(version, alias)
                return f"{key_prefix}:{version}:{tenant.tenant_id}:{key}"
            _refuse(key, alias)
            return f"{key_prefix}:{version}:{key}"

    else:

        def key_func(key: Any, key_prefix: str, version: Any) -> str:
            tenant = get()
            if tenant is not None:
                if version.__class__ is not int and ":" in str(version):
                    refuse_version(version, alias)
                return inner(f"{tenant.tenant_id}:{key}", key_prefix, version)
            _refuse(key, alias)
            return inner(key, key_prefix, version)

    return key_func


def generation_key_func(inner: KeyFunc, alias: str, backend: Any, namespace: Any) -> KeyFunc:
    """Like ``tenant_key_func``, with the tenant's generation: ``"{tenant_id}.{gen}:k"``."""
    get = current
    monotonic = time.monotonic

    def key_func(key: Any, key_prefix: str, version: Any) -> str:
        tenant = get()
        if tenant is not None:
            if version.__class__ is not int and ":" in str(version):
                refuse_version(version, alias)
            entry = _generations.get((namespace, tenant.tenant_id))
            if entry is None or entry[1] < monotonic():
                segment = load_generation(backend, namespace, tenant.tenant_id)
            else:
                segment = entry[0]
            return inner(f"{segment}:{key}", key_prefix, version)
        _refuse(key, alias)
        return inner(key, key_prefix, version)

    return key_func


def _remember(namespace: Any, tenant_id: str, generation: str) -> str:
    segment = f"{tenant_id}.{generation}"
    _generations[(namespace, tenant_id)] = (segment, time.monotonic() + GENERATION_TTL)
    return segment


def load_generation(backend: Any, namespace: Any, tenant_id: str) -> str:
    """Read (or start) the tenant's generation from the backend itself; return its key segment."""
    key = GENERATION_KEY.format(tenant_id=tenant_id)
    version = GENERATION_VERSION
    with without_tenant():
        generation = backend.get(key, version=version)
        if generation is None:
            # add() so that processes starting a generation at once agree on one.
            backend.add(key, secrets.token_hex(6), None, version=version)
            generation = backend.get(key, version=version) or secrets.token_hex(6)
    return _remember(namespace, tenant_id, generation)


def bump_generation(backend: Any, namespace: Any, tenant_id: str) -> None:
    """Start a new generation: the tenant's existing entries become unreachable at once."""
    generation = secrets.token_hex(6)
    with without_tenant():
        key = GENERATION_KEY.format(tenant_id=tenant_id)
        backend.set(key, generation, None, version=GENERATION_VERSION)
    _remember(namespace, tenant_id, generation)


def refresh_generation(backend: Any) -> None:
    """Before a write on the generation layout: re-read the active tenant's generation.

    The generation this process remembers may be up to GENERATION_TTL old; a write made
    with it after another process's clear() would go to entries that are already gone.
    """
    tenant = current()
    if tenant is not None:
        load_generation(backend, backend._omnitenant_namespace, tenant.tenant_id)


def forget_generations(namespace: Any = None) -> None:
    """Drop the generations this process remembers (for one namespace, or all)."""
    with _generations_lock:
        for entry in [entry for entry in _generations if namespace in (None, entry[0])]:
            _generations.pop(entry, None)
