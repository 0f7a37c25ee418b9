"""The shared version stamp of tenant lookups, and how each process learns that it moved.

Saving or deleting a tenant or domain writes a new stamp to the cache
``RESOLUTION_CACHE_ALIAS``. How the other processes notice depends on that cache:

- Redis (Django's RedisCache, django-redis): the new stamp is also published on a channel
  named after the stamp's key. A daemon thread in each process subscribes and hands every
  stamp it receives to the lookup cache, so lookups read nothing from Redis. Until the
  subscription is confirmed, and whenever it is lost, lookups read the stamp instead.
- other shared caches (memcached, database, file): lookups read the stamp.
- per-process caches (locmem, dummy): no other process can read it. This process clears
  its lookups itself; the others see the change after ``RESOLUTION_CACHE_TTL``.

A stamp that cannot be published (the cache is down) is retried in the background until it
is. On memcached the stamp goes through a client of its own with short timeouts and no
dead-server marking, whatever the alias' OPTIONS, so a restart costs no longer than itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.memcached import PyMemcacheCache
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.utils.module_loading import import_string

from omnitenant.conf import get_config
from omnitenant.context import without_tenant
from omnitenant.exceptions import ConfigurationError
from omnitenant.patches.cache import redis_clients

try:
    from redis.exceptions import RedisError
except ImportError:  # redis is optional
    RedisError = OSError
try:
    from pymemcache.exceptions import MemcacheError
except ImportError:  # pymemcache is optional
    MemcacheError = OSError

# What a cache raises when its server is unreachable, restarting or answering garbage.
CACHE_ERRORS = (OSError, RedisError, MemcacheError, DatabaseError)

logger = logging.getLogger(__name__)

STAMP_KEY = "_omnitenant:tenants-version"
# How long the listener blocks waiting for a message: the delay before it notices stop().
POLL_SECONDS = 0.5
# While subscribed, the stamp is also read this often: a message lost in a way the
# connection did not report is then caught within these seconds, not RESOLUTION_CACHE_TTL.
VERIFY_SECONDS = 10.0
RETRY_SECONDS = 1.0
# pymemcache options of the stamp's own client: a dead server is noticed in this many seconds
# and retried at the next read (pymemcache's defaults wait up to 60 s before retrying).
MEMCACHED_STAMP_OPTIONS = {
    "connect_timeout": 0.2,
    "timeout": 0.2,
    "retry_attempts": 0,
    "dead_timeout": 0,
    "use_pooling": True,  # one client for every thread
}


def read_stamp(alias: str | None = None) -> Any:
    """The shared stamp as stored now in ``alias`` (default: the configured one), or None.

    Raises whatever the cache raises when it cannot be read.
    """
    # Cross-tenant bookkeeping: read as "no tenant" whatever is active.
    with without_tenant():
        return _stamp_backend(alias or get_config().resolution_cache_alias).get(STAMP_KEY)


def publish_stamp(stamp: str) -> None:
    """Store ``stamp`` as the shared stamp and, on Redis, tell every subscribed process."""
    with without_tenant():
        backend = _stamp_backend(get_config().resolution_cache_alias)
        backend.set(STAMP_KEY, stamp, None)
        client = _redis_client(backend)
        if client is not None:
            client.publish(backend.make_key(STAMP_KEY), stamp)


_own_backends: dict[str, Any] = {}


def _stamp_backend(alias: str) -> Any:
    """The cache backend the stamp of ``alias`` is read and written through."""
    backend = caches[alias]
    if not isinstance(backend, PyMemcacheCache):
        return backend
    own = _own_backends.get(alias)
    if own is None:
        params = dict(settings.CACHES[alias])
        backend_class = import_string(params.pop("BACKEND"))
        location = params.pop("LOCATION", "")
        params["OPTIONS"] = {**params.get("OPTIONS", {}), **MEMCACHED_STAMP_OPTIONS}
        own = _own_backends[alias] = backend_class(location, params)
    return own


class _Publisher:
    """Publishes the latest stamp that could not be published, retrying in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._thread: threading.Thread | None = None

    def send(self, stamp: str) -> None:
        with self._lock:
            retrying = self._pending is not None
            self._pending = stamp
        if not retrying:  # while an outage lasts, saves do not wait for it again
            try:
                publish_stamp(stamp)
            except CACHE_ERRORS:
                logger.warning(
                    "Could not publish a tenant change on cache %r; retrying in the "
                    "background until it is back.",
                    get_config().resolution_cache_alias,
                    exc_info=True,
                )
            else:
                with self._lock:
                    if self._pending == stamp:
                        self._pending = None
                return
        with self._lock:
            if self._thread is None and self._pending is not None:
                self._thread = threading.Thread(
                    target=self._retry, name="omnitenant-stamp-publisher", daemon=True
                )
                self._thread.start()

    def _retry(self) -> None:
        while True:
            time.sleep(RETRY_SECONDS / 4)
            with self._lock:
                stamp = self._pending
                if stamp is None:
                    self._thread = None
                    return
            try:
                publish_stamp(stamp)
            except CACHE_ERRORS:  # logged once, when the outage began
                continue
            logger.info(
                "Published the pending tenant change on cache %r.",
                get_config().resolution_cache_alias,
            )
            with self._lock:
                if self._pending == stamp:
                    self._pending = None

    @property
    def pending(self) -> str | None:
        """The stamp waiting to be published, or None."""
        return self._pending


_publisher = _Publisher()


def send_stamp(stamp: str) -> None:
    """Publish ``stamp`` now, or keep retrying in the background; never raises.

    A newer stamp replaces one still waiting: only the latest needs to reach the others.
    """
    _publisher.send(stamp)


def pending_stamp() -> str | None:
    """The stamp this process could not publish yet, or None."""
    return _publisher.pending


def _redis_client(backend: Any) -> Any:
    """The one redis-py client behind a Redis cache backend; None for any other backend."""
    clients = redis_clients(backend)
    return clients[0] if clients is not None and len(clients) == 1 else None  # not sharded


class StampWatcher:
    """Tells lookups whether they must read the shared stamp; on Redis, listens for it.

    ``needs_reads`` is False when nothing another process does could be missed without a
    read: the stamp is per-process, or the subscription is up. The listener thread flips
    it, and sets it back to True before it stops listening for any reason.
    """

    def __init__(self, alias: str, on_stamp: Callable[..., None]) -> None:
        self.alias = alias
        self._on_stamp = on_stamp
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub: Any = None  # the subscribed connection, while there is one
        with without_tenant():
            backend = caches[alias]
            self.channel = backend.make_key(STAMP_KEY)
        pushes = _redis_client(backend) is not None
        self.needs_reads = not isinstance(backend, (LocMemCache, DummyCache))
        if pushes:
            self._thread = threading.Thread(
                target=self._listen, name="omnitenant-stamp-listener", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop listening; wait up to ``timeout`` seconds for the thread to end."""
        self._stop.set()
        if self._thread is not None and timeout:
            self._thread.join(timeout)

    def _listen(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self._listen_once()
                failing = False
            except (RedisError, OSError):
                if not failing:  # once per outage, not once per retry
                    logger.warning(
                        "Lost the subscription to tenant changes on cache %r; lookups read "
                        "the version stamp until it is back.",
                        self.alias,
                        exc_info=True,
                    )
                failing = True
                self._stop.wait(RETRY_SECONDS)

    def _listen_once(self) -> None:
        pubsub = self._pubsub = _redis_client(caches[self.alias]).pubsub()
        try:
            pubsub.subscribe(self.channel)
            # Once the server's confirmation is here no change can be missed, and the read
            # below catches any made before. (PubSub.subscribed turns True on sending.)
            confirmed = None
            while confirmed is None or confirmed["type"] != "subscribe":
                if self._stop.is_set():
                    return
                confirmed = pubsub.get_message(timeout=POLL_SECONDS)
            # Lookups cached while unsubscribed may predate a change whose message was
            # lost, and a restarted server may hold an old stamp: start afresh.
            self._on_stamp(read_stamp(self.alias), force=True)
            self.needs_reads = False
            verify_at = time.monotonic() + VERIFY_SECONDS
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None and message["type"] == "message":
                    self._on_stamp(_text(message["data"]))
                elif time.monotonic() >= verify_at:
                    self._on_stamp(read_stamp(self.alias))
                    verify_at = time.monotonic() + VERIFY_SECONDS
        finally:
            self.needs_reads = True
            self._pubsub = None
            with contextlib.suppress(RedisError, OSError):
                pubsub.close()


def _text(data: Any) -> Any:
    return data.decode() if isinstance(data, bytes) else data


_watcher: StampWatcher | None = None
_watcher_lock = threading.Lock()


def watcher(on_stamp: Callable[..., None]) -> StampWatcher:
    """This process' watcher of the configured stamp, started on first use."""
    global _watcher
    current = _watcher
    if current is not None:
        return current
    with _watcher_lock:
        if _watcher is None:
            _watcher = StampWatcher(get_config().resolution_cache_alias, on_stamp)
        return _watcher


def stop_watching(timeout: float | None = None) -> None:
    """Stop this process' watcher; the next lookup starts a new one."""
    global _watcher
    with _watcher_lock:
        current, _watcher = _watcher, None
    if current is not None:
        current.stop(timeout)


def _forget_watcher_in_child() -> None:
    # A forked child has none of its parent's threads: it must listen for itself.
    global _watcher, _watcher_lock, _publisher
    _watcher = None
    _watcher_lock = threading.Lock()
    _publisher = _Publisher()


os.register_at_fork(after_in_child=_forget_watcher_in_child)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        while _own_backends:
            _own_backends.popitem()[1].close()
    current = _watcher
    if current is None:
        return
    if setting == "CACHES":
        stop_watching()
    elif setting == "OMNITENANT_CONFIG":
        try:
            moved = get_config().resolution_cache_alias != current.alias
        except ConfigurationError:  # every later get_config() raises too: nothing to watch
            moved = True
        if moved:
            stop_watching()


setting_changed.connect(_settings_changed, dispatch_uid="omnitenant-stamp-watcher")
