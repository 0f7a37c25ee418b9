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
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed

from omnitenant.conf import get_config
from omnitenant.context import without_tenant
from omnitenant.patches.cache._backends import redis_clients

try:
    from redis.exceptions import RedisError
except ImportError:  # redis is optional
    RedisError = OSError

logger = logging.getLogger(__name__)

STAMP_KEY = "_omnitenant:tenants-version"
# How long the listener blocks waiting for a message: the delay before it notices stop().
POLL_SECONDS = 0.5
# While subscribed, the stamp is also read this often: a message lost in a way the
# connection did not report is then caught within these seconds, not RESOLUTION_CACHE_TTL.
VERIFY_SECONDS = 10.0
RETRY_SECONDS = 1.0


def read_stamp(alias: str | None = None) -> Any:
    """The shared stamp as stored now in ``alias`` (default: the configured one), or None."""
    # Cross-tenant bookkeeping: read as "no tenant" whatever is active.
    with without_tenant():
        return caches[alias or get_config().resolution_cache_alias].get(STAMP_KEY)


def publish_stamp(stamp: str) -> None:
    """Store ``stamp`` as the shared stamp and, on Redis, tell every subscribed process."""
    with without_tenant():
        backend = caches[get_config().resolution_cache_alias]
        backend.set(STAMP_KEY, stamp, None)
        client = _redis_client(backend)
        if client is not None:
            client.publish(backend.make_key(STAMP_KEY), stamp)


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

    def __init__(self, alias: str, on_stamp: Callable[[Any], None]) -> None:
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
            self._on_stamp(read_stamp(self.alias))
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


def watcher(on_stamp: Callable[[Any], None]) -> StampWatcher:
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
    global _watcher, _watcher_lock
    _watcher = None
    _watcher_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_watcher_in_child)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    current = _watcher
    if current is None:
        return
    if setting == "CACHES" or (
        setting == "OMNITENANT_CONFIG" and get_config().resolution_cache_alias != current.alias
    ):
        stop_watching()


setting_changed.connect(_settings_changed, dispatch_uid="omnitenant-stamp-watcher")
