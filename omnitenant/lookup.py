"""Tenant lookups by id and by domain, cached in-process and invalidated in every process.

Requests, commands and Celery tasks find their tenant here. Results (including misses,
briefly) are kept in a bounded in-process LRU, so a warm lookup makes no database query.
Saving or deleting a tenant or domain bumps a version stamp kept in the Django cache
(``RESOLUTION_CACHE_ALIAS``); every lookup compares the stamp it knows with the shared one
and drops its entries when they differ, so the next request in any process sees the
change. ``RESOLUTION_CACHE_TTL`` bounds staleness when the stamp cannot be shared (a
per-process cache such as locmem) or a row changed without signals (``QuerySet.update``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.apps import apps
from django.core.cache import caches
from django.db import transaction
from django.db.models import Model

from omnitenant.conf import get_config
from omnitenant.context import _current, without_tenant

STAMP_KEY = "_omnitenant:tenants-version"
NEGATIVE_TTL = 5.0
_MISSING = object()
# Inside ``stamp_read_once()``: a list that is empty until the first lookup of the block
# has compared the stamp; the later ones skip reading it.
_stamp_scope: ContextVar[list[bool] | None] = ContextVar("omnitenant_stamp_scope", default=None)


def get_tenant_model() -> type[Model]:
    """The model named by OMNITENANT_CONFIG['TENANT_MODEL']."""
    return apps.get_model(get_config().tenant_model)


def get_domain_model() -> type[Model]:
    """The model named by OMNITENANT_CONFIG['DOMAIN_MODEL']."""
    return apps.get_model(get_config().domain_model)


class _ResolutionCache:
    """A thread-safe LRU of lookup results, each with an expiry time."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._stamp: object = _MISSING

    def get(self, key: tuple[str, str], load: Callable[[], Any]) -> Any:
        scope = _stamp_scope.get()
        if not scope:
            self.check_stamp()
            if scope is not None:
                scope.append(True)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] > now:
                self._entries.move_to_end(key)
                return entry[0]
        stamp_before_load = self._stamp
        value = load()
        config = get_config()
        ttl = config.resolution_cache_ttl if value is not None else NEGATIVE_TTL
        with self._lock:
            if self._stamp is not stamp_before_load:
                # A change was seen while this row was being read: it may be the old row.
                return value
            self._entries[key] = (value, now + min(ttl, config.resolution_cache_ttl))
            self._entries.move_to_end(key)
            while len(self._entries) > config.resolution_cache_size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def check_stamp(self) -> None:
        stamp = _read_stamp()
        if stamp != self._stamp:
            with self._lock:
                self._entries.clear()
                self._stamp = stamp


_cache = _ResolutionCache()


def _stamp_cache() -> Any:
    return caches[get_config().resolution_cache_alias]


def _read_stamp() -> Any:
    # The stamp is cross-tenant bookkeeping: read it as "no tenant" whatever is active,
    # so that a lookup made inside a tenant sees the same stamp as one made outside.
    if _current.get() is None:  # the common case (requests resolve before entering one)
        return _stamp_cache().get(STAMP_KEY)
    with without_tenant():
        return _stamp_cache().get(STAMP_KEY)


class stamp_read_once:  # used like a function: ``with stamp_read_once():``
    """Lookups made in the block compare the shared stamp once, at the first of them.

    For a burst of lookups answering one question (the resolvers of one request): one
    read of the shared store instead of one per lookup, none when nothing is looked up.
    A change made meanwhile is seen by the next block, as it would be by the next request.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _stamp_scope.set([])

    def __exit__(self, *exc_info: object) -> None:
        _stamp_scope.reset(self._token)


def invalidate() -> None:
    """Forget every cached lookup here and, through the shared stamp, in other processes."""
    with without_tenant():
        _stamp_cache().set(STAMP_KEY, uuid.uuid4().hex, None)
    _cache.clear()


def _invalidate_on_change(**kwargs: Any) -> None:
    invalidate()
    # A process that looks the row up before the transaction commits would cache the old
    # value under the new stamp; bump again once the change is visible to everyone.
    transaction.on_commit(invalidate, using=kwargs.get("using"))


def connect_invalidation() -> None:
    """Invalidate lookups whenever a tenant or domain row is saved or deleted."""
    from django.db.models.signals import post_delete, post_save

    config = get_config()
    if not (config.tenant_model and config.domain_model):
        return
    for model in (get_tenant_model(), get_domain_model()):
        post_save.connect(_invalidate_on_change, sender=model, dispatch_uid=f"omnitenant-{model}")
        post_delete.connect(_invalidate_on_change, sender=model, dispatch_uid=f"omnitenant-{model}")


def tenant_by_id(tenant_id: str) -> Any:
    """The tenant with this ``tenant_id`` (active or not), or None."""
    return _cache.get(
        ("id", tenant_id),
        lambda: get_tenant_model()._default_manager.filter(tenant_id=tenant_id).first(),
    )


def tenant_by_domain(domain: str) -> Any:
    """The tenant serving the normalised host ``domain`` (active or not), or None."""

    def load() -> Any:
        rows = get_domain_model()._default_manager.select_related("tenant")
        row = rows.filter(domain=domain).first()
        return None if row is None else row.tenant

    return _cache.get(("domain", domain), load)
