"""Tenant lookups by id and by domain, cached in-process and invalidated in every process.

Requests, commands and Celery tasks find their tenant here. Results (including misses,
briefly) are kept in a bounded in-process LRU, so a warm lookup makes no database query.
Saving or deleting a tenant or domain clears this process' entries at once and moves a
version stamp shared with the other processes (``_stamp``: pushed to them over Redis,
read by them from other shared caches). ``RESOLUTION_CACHE_TTL`` bounds staleness where
the stamp cannot reach a process, and for rows changed without signals
(``QuerySet.update``).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Model

from omnitenant.conf import get_config
from omnitenant.lookup import _stamp
from omnitenant.lookup._stamp import STAMP_KEY

__all__ = [
    "STAMP_KEY",
    "connect_invalidation",
    "generation",
    "get_domain_model",
    "get_tenant_model",
    "invalidate",
    "reads_stamp",
    "stamp_read_once",
    "tenant_by_domain",
    "tenant_by_id",
]

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
        # Moves on every clear: a row read across a clear may be the old one.
        self._generation = 0

    def get(self, key: tuple[str, str], load: Callable[[str], Any]) -> Any:
        """The cached value for ``key``, else ``load(key[1])`` (cached unless a change landed)."""
        if reads_stamp():
            scope = _stamp_scope.get()
            if not scope:
                self.adopt(_stamp.read_stamp())
                if scope is not None:
                    scope.append(True)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] > now:
                self._entries.move_to_end(key)
                return entry[0]
            generation = self._generation
        value = load(key[1])
        config = get_config()
        ttl = config.resolution_cache_ttl if value is not None else NEGATIVE_TTL
        with self._lock:
            if self._generation != generation:
                return value  # not cached: it was read while a change landed
            self._entries[key] = (value, now + min(ttl, config.resolution_cache_ttl))
            self._entries.move_to_end(key)
            while len(self._entries) > config.resolution_cache_size:
                self._entries.popitem(last=False)
        return value

    def adopt(self, stamp: object) -> None:
        """Take ``stamp`` as the current shared stamp; forget everything if it moved."""
        if stamp != self._stamp:
            with self._lock:
                self._entries.clear()
                self._generation += 1
                self._stamp = stamp


_cache = _ResolutionCache()


def _unlock_in_child() -> None:
    # Another thread (the stamp listener) may have held the lock at the moment of fork().
    _cache._lock = threading.Lock()


os.register_at_fork(after_in_child=_unlock_in_child)


def reads_stamp() -> bool:
    """True when lookups here read the shared stamp: it is not pushed to this process."""
    watcher = _stamp._watcher or _stamp.watcher(_cache.adopt)
    return watcher.needs_reads


class stamp_read_once:  # used like a function: ``with stamp_read_once():``
    """Lookups made in the block compare the shared stamp once, at the first of them.

    For a burst of lookups answering one question (the resolvers of one request): one
    read of the shared store instead of one per lookup, none when nothing is looked up
    (and none at all while the stamp is pushed, see ``_stamp``). A change made meanwhile
    is seen by the next block, as it would be by the next request.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _stamp_scope.set([])

    def __exit__(self, *exc_info: object) -> None:
        _stamp_scope.reset(self._token)


def invalidate() -> None:
    """Forget every cached lookup here and, through the shared stamp, in other processes."""
    stamp = uuid.uuid4().hex
    _cache.adopt(stamp)
    _stamp.publish_stamp(stamp)


def generation() -> int:
    """A number that moves whenever this process forgets its lookups (local or remote change)."""
    return _cache._generation


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
    return _cache.get(("id", tenant_id), _load_by_id)


def tenant_by_domain(domain: str) -> Any:
    """The tenant serving the normalised host ``domain`` (active or not), or None."""
    return _cache.get(("domain", domain), _load_by_domain)


def _load_by_id(tenant_id: str) -> Any:
    return get_tenant_model()._default_manager.filter(tenant_id=tenant_id).first()


def _load_by_domain(domain: str) -> Any:
    rows = get_domain_model()._default_manager.select_related("tenant")
    row = rows.filter(domain=domain).first()
    return None if row is None else row.tenant
