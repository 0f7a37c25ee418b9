"""Tenant lookups by id and by domain, cached in-process and invalidated in every process.

Requests, commands and Celery tasks find their tenant here. Results are kept in a bounded
in-process LRU, misses briefly in a smaller one of their own (a flood of unknown hosts
cannot push tenants out), so a warm lookup makes no database query. Saving or deleting a
tenant or domain clears this process' entries at once and, once the transaction commits,
moves a version stamp shared with the other processes (``_stamp``: pushed to them over
Redis, read by them from other shared caches). Inside a transaction that changed such a
row, lookups go to the database and are not cached: a rollback leaves nothing behind.
When the stamp cannot be read, lookups keep serving what they hold, for at most
``RESOLUTION_CACHE_TTL``, and start afresh at the first read that works again.
``RESOLUTION_CACHE_TTL`` also bounds staleness where the stamp cannot reach a process,
and for rows changed without signals (``QuerySet.update``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.db.models import Model, Q

from omnitenant.conf import get_config
from omnitenant.lookup import _stamp
from omnitenant.lookup._stamp import STAMP_KEY

__all__ = [
    "STAMP_KEY",
    "acompare_stamp",
    "before_fork",
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

logger = logging.getLogger(__name__)

NEGATIVE_TTL = 5.0
# Misses get an LRU of their own, this fraction of RESOLUTION_CACHE_SIZE (at least 1).
NEGATIVE_SIZE_RATIO = 0.1
# After a failed stamp read, lookups serve what they hold for this long before trying again.
READ_BACKOFF_SECONDS = 0.5
# The async path waits this long for a stamp read made off the event loop.
ASYNC_READ_TIMEOUT = 0.3
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
    """Thread-safe LRUs of lookup results (hits, and a smaller one of misses) with expiry."""

    def __init__(self) -> None:
        self._hits: OrderedDict[tuple[str, str], tuple[Any, float]] = OrderedDict()
        self._misses: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self._stamp: object = _MISSING
        # Moves on every clear: a row read across a clear may be the old one.
        self._generation = 0
        # Set by a failed stamp read: the next read that works clears, whatever it says.
        self._unsynced = False
        self._read_again_at = 0.0

    def get(self, key: tuple[str, str], load: Callable[[str], Any]) -> Any:
        """The cached value for ``key``, else ``load(key[1])`` (cached unless a change landed)."""
        if reads_stamp():
            scope = _stamp_scope.get()
            if not scope:
                self.compare_stamp()
                if scope is not None:
                    scope.append(True)
        if _in_changing_transaction():
            return load(key[1])  # may be rolled back: neither served from nor kept here
        now = time.monotonic()
        with self._lock:
            entry = self._hits.get(key)
            if entry is not None and entry[1] > now:
                self._hits.move_to_end(key)
                return entry[0]
            expiry = self._misses.get(key)
            if expiry is not None and expiry > now:
                self._misses.move_to_end(key)
                return None
            generation = self._generation
        value = load(key[1])
        config = get_config()
        with self._lock:
            if self._generation != generation:
                return value  # not cached: it was read while a change landed
            if value is None:
                self._misses[key] = now + min(NEGATIVE_TTL, config.resolution_cache_ttl)
                self._misses.move_to_end(key)
                _trim(self._misses, max(1, int(config.resolution_cache_size * NEGATIVE_SIZE_RATIO)))
            else:
                self._misses.pop(key, None)
                self._hits[key] = (value, now + config.resolution_cache_ttl)
                self._hits.move_to_end(key)
                _trim(self._hits, config.resolution_cache_size)
        return value

    def compare_stamp(self) -> None:
        """Read the shared stamp and adopt it; on failure keep the entries (bounded by TTL)."""
        if time.monotonic() < self._read_again_at:
            return
        try:
            stamp = _stamp.read_stamp()
        except _stamp.CACHE_ERRORS:
            self.read_failed()
            return
        self.adopt(stamp, force=self._unsynced)

    def read_failed(self) -> None:
        """Note a stamp read that failed or timed out: serve what is held, read again soon."""
        if not self._unsynced:
            logger.warning(
                "Cannot read the tenant version stamp from cache %r; serving cached lookups "
                "(at most RESOLUTION_CACHE_TTL old) until it answers again.",
                get_config().resolution_cache_alias,
                exc_info=True,
            )
        self._unsynced = True
        self._read_again_at = time.monotonic() + READ_BACKOFF_SECONDS

    def adopt(self, stamp: object, *, force: bool = False) -> None:
        """Take ``stamp`` as the shared stamp; forget everything if it moved (or ``force``)."""
        if force or stamp != self._stamp:
            with self._lock:
                self._clear_locked()
                self._stamp = stamp
                self._unsynced = False
                self._read_again_at = 0.0

    def clear(self) -> None:
        """Forget every entry; keep the stamp."""
        with self._lock:
            self._clear_locked()

    def _clear_locked(self) -> None:
        self._hits.clear()
        self._misses.clear()
        self._generation += 1


def _trim(entries: OrderedDict[Any, Any], size: int) -> None:
    while len(entries) > size:
        entries.popitem(last=False)


# Per database connection (so per thread): the outermost atomic block, not the test case's,
# that was open when a tenant or domain row changed. Lookups bypass the cache while it is.
_changing_blocks: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _note_change_in_transaction(using: str | None) -> None:
    connection = connections[using or "default"]
    blocks = [b for b in connection.atomic_blocks if not getattr(b, "_from_testcase", False)]
    if blocks and not _is_open(connection, _changing_blocks.get(connection)):
        _changing_blocks[connection] = blocks[0]


def _is_open(connection: Any, block: Any) -> bool:
    return block is not None and any(b is block for b in connection.atomic_blocks)


def _in_changing_transaction() -> bool:
    if not _changing_blocks:
        return False
    changing = False
    for connection in connections.all(initialized_only=True):
        block = _changing_blocks.get(connection)
        if block is None:
            continue
        if _is_open(connection, block):
            changing = True
        else:  # ended, committed or rolled back: the cache was never fed from it
            del _changing_blocks[connection]
    return changing


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
    is seen by the next block, as it would be by the next request. A block inside another
    shares the outer block's read.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = None if _stamp_scope.get() is not None else _stamp_scope.set([])

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _stamp_scope.reset(self._token)


_read_pool: ThreadPoolExecutor | None = None
_read_in_flight: Future[None] | None = None
_read_pool_lock = threading.Lock()


async def acompare_stamp() -> None:
    """For ``async`` code inside ``stamp_read_once()``: compare the stamp off the event loop.

    The read runs in a thread and is awaited for at most ``ASYNC_READ_TIMEOUT`` seconds;
    concurrent callers share one read. The block's lookups then read nothing. A read that
    does not answer in time counts as failed: lookups serve what they hold.
    """
    global _read_pool, _read_in_flight
    scope = _stamp_scope.get()
    if scope or not reads_stamp():
        return
    with _read_pool_lock:
        future = _read_in_flight
        if future is None or future.done():
            if _read_pool is None:
                _read_pool = ThreadPoolExecutor(1, thread_name_prefix="omnitenant-stamp-read")
            future = _read_in_flight = _read_pool.submit(_cache.compare_stamp)
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), ASYNC_READ_TIMEOUT)
    except TimeoutError:
        _cache.read_failed()
    if scope is not None:
        scope.append(True)


def _forget_read_pool_in_child() -> None:
    global _read_pool, _read_in_flight, _read_pool_lock
    _read_pool = _read_in_flight = None
    _read_pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_read_pool_in_child)


def invalidate() -> None:
    """Forget every cached lookup here and, through the shared stamp, in other processes.

    Never raises: a stamp the shared cache cannot take now is retried in the background.
    """
    stamp = uuid.uuid4().hex
    _cache.adopt(stamp)
    _stamp.send_stamp(stamp)


def before_fork() -> None:
    """Stop this process' stamp listener thread and wait for it; the next lookup restarts it.

    Call it before forking workers, so that no child inherits a lock that thread held, and
    to make the next lookup subscribe afresh under the settings in force then.
    """
    _stamp.stop_watching(timeout=2 * _stamp.POLL_SECONDS)


def generation() -> int:
    """A number that moves whenever this process forgets its lookups (local or remote change)."""
    return _cache._generation


def _invalidate_on_change(**kwargs: Any) -> None:
    using = kwargs.get("using")
    _cache.clear()
    _note_change_in_transaction(using)
    # Other processes can see the change once it commits: tell them then.
    transaction.on_commit(invalidate, using=using)


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
    """The tenant of ``domain``, unless an older domain row of another tenant overlaps it.

    Validation refuses a domain equal to, under or above another tenant's domain; a row that
    skipped it (bulk_create, raw SQL) loses to the row that was there first. One query: the
    exact row and every overlapping one, read together on this cold path only.
    """
    parents = [domain.split(".", depth)[-1] for depth in range(domain.count(".") + 1)]
    rows = get_domain_model()._default_manager.select_related("tenant")
    overlapping = list(rows.filter(Q(domain__in=parents) | Q(domain__endswith="." + domain)))
    row = next((candidate for candidate in overlapping if candidate.domain == domain), None)
    if row is None:
        return None
    older = [
        other
        for other in overlapping
        if other.tenant_id != row.tenant_id and other.pk is not None and other.pk < row.pk
    ]
    if older:
        logger.warning(
            "Domain %r of tenant %r is not served: it overlaps %r of tenant %r, which came first.",
            domain,
            row.tenant.tenant_id,
            older[0].domain,
            older[0].tenant.tenant_id,
        )
        return None
    return row.tenant
