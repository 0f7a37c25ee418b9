"""Making one backend instance tenant-aware: its key function, dict access and scoped clear()."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.memcached import BaseMemcachedCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from omnitenant.context import current
from omnitenant.patches.cache._keys import (
    _refuse,
    bump_generation,
    forget_generations,
    generation_key_func,
    refresh_generation,
    tenant_key_func,
)

try:
    from django_redis.cache import RedisCache as DjangoRedisRedisCache
    from django_redis.util import CacheKey
except ImportError:  # django-redis is optional
    DjangoRedisRedisCache = None
    CacheKey = None

_BATCH = 500
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_tenant_classes: dict[tuple[type, bool], type] = {}
# True while a write on the generation layout runs: its inner calls need no second re-read.
_writing: ContextVar[bool] = ContextVar("omnitenant_cache_writing", default=False)
# The characters django.core.cache.backends.base.memcache_key_warnings objects to.
_UNUSUAL_KEY_CHAR = re.compile(r"[\x00-\x20\x7f]")
_DJANGO_VALIDATE_KEY = (BaseCache.validate_key, BaseMemcachedCache.validate_key)


class TenantCacheMixin:
    """What a tenant-aware backend adds to its class: dict-style access and a scoped clear()."""

    _omnitenant_alias: str
    _omnitenant_isolated: bool
    _omnitenant_layout: str  # "exact" (lists its keys) or "generation"
    _omnitenant_namespace: tuple[Any, ...]

    def __getitem__(self, key: Any) -> Any:
        return self.get(key)  # type: ignore[attr-defined]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.set(key, value)  # type: ignore[attr-defined]

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):  # type: ignore[attr-defined]
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return bool(self.has_key(key))  # type: ignore[attr-defined]

    def clear(self) -> None:
        """Inside a tenant remove only its entries; with no tenant, clear everything."""
        if not self._omnitenant_isolated:
            return super().clear()  # type: ignore[misc]
        tenant = current()
        if tenant is None:
            _refuse(None, self._omnitenant_alias)
            forget_generations(self._omnitenant_namespace)
            return super().clear()  # type: ignore[misc]
        if self._omnitenant_layout == "generation":
            return bump_generation(self, self._omnitenant_namespace, tenant.tenant_id)
        return _clear_tenant(self, tenant.tenant_id)

    async def aclear(self) -> None:
        return await sync_to_async(self.clear, thread_sensitive=True)()


def _fresh_write(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a write with the active tenant's generation re-read first (once per operation)."""

    @functools.wraps(method)
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _writing.get():
            return method(self, *args, **kwargs)
        refresh_generation(self)
        token = _writing.set(True)
        try:
            return method(self, *args, **kwargs)
        finally:
            _writing.reset(token)

    return write


class GenerationWritesMixin:
    """Writes on the generation layout (memcached, file) use the generation as it is now.

    Reads trust the generation this process remembers for up to GENERATION_TTL; a write
    made with an outdated one after another process's clear() would be lost, so every write
    re-reads it (one more round trip to the cache per write).
    """

    @_fresh_write
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return super().add(key, value, timeout, version)  # type: ignore[misc]

    @_fresh_write
    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None, **kw: Any
    ) -> Any:
        return super().set(key, value, timeout, version, **kw)  # type: ignore[misc]

    @_fresh_write
    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return super().touch(key, timeout, version)  # type: ignore[misc]

    @_fresh_write
    def delete(self, key: Any, version: Any = None) -> Any:
        return super().delete(key, version)  # type: ignore[misc]

    @_fresh_write
    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return super().incr(key, delta, version)  # type: ignore[misc]

    @_fresh_write
    def decr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return super().decr(key, delta, version)  # type: ignore[misc]

    @_fresh_write
    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return super().set_many(data, timeout, version)  # type: ignore[misc]

    @_fresh_write
    def delete_many(self, keys: Any, version: Any = None) -> Any:
        return super().delete_many(keys, version)  # type: ignore[misc]

    @_fresh_write
    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return super().incr_version(key, delta, version)  # type: ignore[misc]

    @_fresh_write
    def decr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return super().decr_version(key, delta, version)  # type: ignore[misc]


def _quick_validate_key(django_validate_key: Any) -> Any:
    # Django checks every character of every key in a Python loop, and the tenant segment
    # makes each key longer. One regex search finds exactly the keys that loop would flag;
    # only those go through Django's own method, which warns or raises as it always does.
    def validate_key(self: BaseCache, key: Any) -> None:
        if (
            not isinstance(key, str)
            or len(key) > MEMCACHE_MAX_KEY_LENGTH
            or _UNUSUAL_KEY_CHAR.search(key)
        ):
            django_validate_key(self, key)

    return validate_key


def tenant_class(cls: type, fresh_writes: bool = False) -> type:
    """The tenant-aware subclass of a backend class (made once per class and write mode)."""
    if issubclass(cls, TenantCacheMixin):
        return cls
    if (cls, fresh_writes) not in _tenant_classes:
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__doc__": f"{cls.__name__}, tenant-aware.",
        }
        if cls.validate_key in _DJANGO_VALIDATE_KEY:  # a backend's own check is left alone
            namespace["validate_key"] = _quick_validate_key(cls.validate_key)
        bases: tuple[type, ...] = (TenantCacheMixin, cls)
        if fresh_writes:
            bases = (GenerationWritesMixin, *bases)
        _tenant_classes[(cls, fresh_writes)] = type(f"TenantAware{cls.__name__}", bases, namespace)
    return _tenant_classes[(cls, fresh_writes)]


def _lists_keys(backend: BaseCache) -> bool:
    known: tuple[type, ...] = (LocMemCache, DatabaseCache, DjangoRedisCache, DummyCache)
    if DjangoRedisRedisCache is not None:
        known += (DjangoRedisRedisCache,)
    return isinstance(backend, known) and backend.key_func is default_key_func


def make_tenant_aware(backend: BaseCache, alias: str, params: dict[str, Any]) -> BaseCache:
    """Give a freshly created backend the tenant-aware class and key function."""
    isolated = params.get("TENANT_ISOLATION", True) is not False
    layout = "exact" if _lists_keys(backend) else "generation"
    backend.__class__ = tenant_class(type(backend), isolated and layout == "generation")
    backend._omnitenant_alias = alias  # type: ignore[attr-defined]
    backend._omnitenant_isolated = isolated  # type: ignore[attr-defined]
    backend._omnitenant_layout = layout  # type: ignore[attr-defined]
    namespace = (params.get("BACKEND"), repr(params.get("LOCATION")), backend.key_prefix)
    backend._omnitenant_namespace = namespace  # type: ignore[attr-defined]
    if not isolated:
        return backend
    inner = backend.key_func
    if layout == "generation":
        backend.key_func = generation_key_func(inner, alias, backend, namespace)
    else:
        backend.key_func = tenant_key_func(inner, alias)
    if DjangoRedisRedisCache is not None and isinstance(backend, DjangoRedisRedisCache):
        client = backend.client  # creating the client opens no connection
        client.reverse_key = _tenant_reverse_key(client.reverse_key)
        client.make_key = _tenant_made_key(client.make_key)
        client.make_pattern = _tenant_made_key(client.make_pattern)
    return backend


if CacheKey is not None:

    class TenantCacheKey(CacheKey):
        """A django-redis CacheKey that remembers the tenant it was made in."""

        tenant_id: str | None


def _tenant_made_key(inner: Any) -> Any:
    """django-redis' make_key/make_pattern, where a CacheKey passes only in its own tenant.

    django-redis returns any CacheKey unchanged ("already made"), so a CacheKey built by
    hand or in another tenant would skip the tenant segment. Inside a tenant such a key
    is made again from its text, like any string; keys this client made in the same
    tenant (django-redis passes them back to itself) are used as they are.
    """

    def make_key(key: Any, version: Any = None, prefix: str | None = None) -> Any:
        tenant = current()
        tenant_id = None if tenant is None else tenant.tenant_id
        if isinstance(key, CacheKey):
            if tenant_id is None or (type(key) is TenantCacheKey and key.tenant_id == tenant_id):
                return key
            key = str(key)
        made = TenantCacheKey(inner(key, version, prefix))
        made.tenant_id = tenant_id
        return made

    return make_key


def _tenant_reverse_key(inner: Any) -> Any:
    """django-redis' keys()/iter_keys() return the caller's keys, without the tenant segment."""

    def reverse_key(key: str) -> str:
        key = inner(key)
        tenant = current()
        if tenant is not None and key.startswith(head := f"{tenant.tenant_id}:"):
            return key[len(head) :]
        return key

    return reverse_key


# Scoped clear() on backends that list their keys (default key layout
# "{prefix}:{version}:{tenant_id}:{key}"). The version segment is matched exactly,
# so acme's clear() never takes globex's key "acme:x" ("p:1:globex:acme:x").


def _owned(key: str | bytes, head: str, tenant_id: str) -> bool:
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    if not key.startswith(head):
        return False
    _version, sep, rest = key[len(head) :].partition(":")
    return bool(sep) and rest.startswith(f"{tenant_id}:")


def _clear_tenant(backend: Any, tenant_id: str) -> None:
    head = f"{backend.key_prefix}:"
    if isinstance(backend, LocMemCache):
        with backend._lock:
            for key in [k for k in backend._cache if _owned(k, head, tenant_id)]:
                backend._delete(key)
    elif isinstance(backend, DatabaseCache):
        _clear_database(backend, head, tenant_id)
    elif (clients := redis_clients(backend)) is not None:
        _clear_redis(clients, backend.key_prefix, tenant_id)
    # DummyCache stores nothing.


def redis_clients(backend: Any) -> list[Any] | None:
    """The redis-py clients behind a Redis backend (one per shard); None for other backends."""
    # Each backend keeps its clients (and connection options) behind a private attribute;
    # going through it reuses the pools and settings the project configured.
    if isinstance(backend, DjangoRedisCache):
        return [backend._cache.get_client(write=True)]
    if DjangoRedisRedisCache is not None and isinstance(backend, DjangoRedisRedisCache):
        servers = getattr(backend.client, "_serverdict", None)  # ShardClient
        return list(servers.values()) if servers else [backend.client.get_client(write=True)]
    return None


def _clear_redis(clients: Iterable[Any], prefix: str, tenant_id: str) -> None:
    head = f"{prefix}:"
    pattern = _GLOB_SPECIAL.sub(r"[\1]", prefix) + f":*:{tenant_id}:*"
    for client in clients:
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            if _owned(key, head, tenant_id):
                batch.append(key)
            if len(batch) >= _BATCH:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)


def _clear_database(backend: DatabaseCache, head: str, tenant_id: str) -> None:
    from django.db import connections, router, transaction

    db = router.db_for_write(backend.cache_model_class)
    connection = connections[db]
    table = connection.ops.quote_name(backend._table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT cache_key FROM {table} WHERE cache_key {connection.operators['startswith']}",
            [connection.ops.prep_for_like_query(head) + "%"],
        )
        keys = [row[0] for row in cursor.fetchall() if _owned(row[0], head, tenant_id)]
    with transaction.atomic(using=db), connection.cursor() as cursor:
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            cursor.execute(
                f"DELETE FROM {table} WHERE cache_key IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
