"""Per-operation cost of the tenant-aware cache: patched (tenant active) vs plain Django.

Run: ``python benchmarks/cache_overhead.py`` (REDIS_URL, MEMCACHED_LOCATION as for the tests).
Both sides live in one process at once: plain backends from a fresh ``CacheHandler`` behind
a ``ConnectionProxy`` (what ``django.core.cache.cache`` is), patched ones from the patched
``caches`` behind the patched proxy, inside ``TenantContext.use_tenant``. Rounds alternate
which side goes first, in short blocks, so that load from other processes hits both sides
alike; the table shows the median ns/op of each side, their ratio, and (less sensitive to
a loaded machine) the ratio of the fastest blocks.
"""

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django
from django.conf import settings

PREFIX = f"bench-{uuid.uuid4().hex[:8]}"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
MEMCACHED = os.environ.get("MEMCACHED_LOCATION", "127.0.0.1:11211")
BACKENDS = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": PREFIX},
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    "django-redis": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL},
    "memcached": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": MEMCACHED,
    },
    "file": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.path.join(tempfile.gettempdir(), PREFIX),
    },
}
# BENCH_BACKENDS=memcached,file times only those.
if os.environ.get("BENCH_BACKENDS"):
    BACKENDS = {name: BACKENDS[name] for name in os.environ["BENCH_BACKENDS"].split(",")}
BLOCKS = int(os.environ.get("BENCH_BLOCKS", "41"))  # timings per side and operation
OPS = {"locmem": 500}  # operations per timing; network backends use DEFAULT_OPS
DEFAULT_OPS = 40

settings.configure(
    INSTALLED_APPS=[],
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        **{name: {**cfg, "KEY_PREFIX": PREFIX} for name, cfg in BACKENDS.items()},
    },
)
django.setup()

from django.core.cache import CacheHandler, caches  # noqa: E402
from django.utils.connection import ConnectionProxy  # noqa: E402

from omnitenant import TenantContext  # noqa: E402
from omnitenant.patches.cache import TenantCacheProxyType, patch_django_cache  # noqa: E402

KEYS = [f"key{i}" for i in range(10)]


def operations(cache):
    """name -> (setup, timed callable); the callable runs one operation."""
    return {
        "get-hit": lambda: cache.get("key0"),
        "get-miss": lambda: cache.get("missing"),
        "set": lambda: cache.set("key1", "value"),
        "get_many(10)": lambda: cache.get_many(KEYS),
        "incr": lambda: cache.incr("counter"),
    }


def prepare(cache):
    cache.set_many({key: "value" for key in KEYS}, None)
    cache.set("counter", 0, None)


def time_sync(fn, n):
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


LOOP = asyncio.new_event_loop()


def time_async(cache, n):
    async def run():
        start = time.perf_counter_ns()
        for _ in range(n):
            await cache.aget("key0")
        return (time.perf_counter_ns() - start) / n

    return LOOP.run_until_complete(run())


def added_work(plain_handler):
    """The only per-operation work the patch adds: building a key, finding the connection."""
    import timeit

    patched_handler = caches
    rows = []
    for label, plain, patched in (
        (
            "make_key",
            lambda: plain_handler["locmem"].make_key("key0"),
            lambda: patched_handler["locmem"].make_key("key0"),
        ),
        ("caches[alias]", lambda: plain_handler["default"], lambda: patched_handler["default"]),
        (
            "memcached key",
            lambda: plain_handler["memcached"].make_key("key0"),
            lambda: patched_handler["memcached"].make_key("key0"),
        ),
    ):
        best = [
            min(timeit.repeat(fn, number=20000, repeat=15)) / 20000 * 1e9 for fn in (plain, patched)
        ]
        rows.append((label, *best))
    print(f"\n{'added work':<27}{'plain ns':>12}{'patched ns':>15}{'extra ns':>10}")
    for label, plain, patched in rows:
        print(f"{label:<27}{plain:>12,.0f}{patched:>15,.0f}{patched - plain:>10,.0f}")


def main():
    patch_django_cache()
    plain_handler = CacheHandler()
    # Shaped like a BaseTenant row: a tenant model always has cache_alias (None here), and a
    # missing attribute would make every routing getattr() pay for an AttributeError.
    tenant = SimpleNamespace(tenant_id="acme", cache_alias=None)
    rows = []
    with TenantContext.use_tenant(tenant):
        for name in BACKENDS:
            n = OPS.get(name, DEFAULT_OPS)
            sides = {
                "plain": ConnectionProxy(plain_handler, name),
                "patched": TenantCacheProxyType(caches, name),
            }
            for cache in sides.values():
                prepare(cache)
            results = {side: {} for side in sides}
            for op in [*operations(sides["plain"]), "aget"]:
                for block in range(BLOCKS):
                    order = list(sides) if block % 2 == 0 else list(reversed(sides))
                    for side in order:
                        cache = sides[side]
                        if op == "aget":
                            ns = time_async(cache, max(n // 10, 20))
                        else:
                            ns = time_sync(operations(cache)[op], n)
                        results[side].setdefault(op, []).append(ns)
            for op in results["plain"]:
                plain = statistics.median(results["plain"][op])
                patched = statistics.median(results["patched"][op])
                best = min(results["patched"][op]) / min(results["plain"][op])
                rows.append((name, op, plain, patched, patched / plain, best))
            for cache in sides.values():
                cache.delete_many([*KEYS, "counter"])
    print(
        f"{'backend':<13}{'operation':<14}{'plain ns/op':>12}{'patched ns/op':>15}"
        f"{'ratio':>8}{'min ratio':>11}"
    )
    for name, op, plain, patched, ratio, best in rows:
        print(f"{name:<13}{op:<14}{plain:>12,.0f}{patched:>15,.0f}{ratio:>8.3f}{best:>11.3f}")
    for name in BACKENDS:
        ratios = [row[4] for row in rows if row[0] == name]
        bests = [row[5] for row in rows if row[0] == name]
        print(
            f"{name:<13}{'median':<14}{'':>12}{'':>15}"
            f"{statistics.median(ratios):>8.3f}{statistics.median(bests):>11.3f}"
        )
    if "file" in BACKENDS:
        shutil.rmtree(BACKENDS["file"]["LOCATION"], ignore_errors=True)
    if {"locmem", "memcached"} <= set(BACKENDS):
        with TenantContext.use_tenant(tenant):
            added_work(plain_handler)


if __name__ == "__main__":
    main()
