"""What TenantMiddleware adds to a request, measured through Django's full WSGI handler.

Side by side in one run, for a trivial view:
  none        no tenancy (MIDDLEWARE = [])
  omnitenant  TenantMiddleware, warm; the default cache (and so the lookup version stamp)
              on Redis, as in production, with its changes pushed to this process
  per-query   TenantMiddleware with a resolver that queries the domain table on every
              request, as django-tenants' middleware does

with 10, 1,000 and 10,000 tenants (each with a Domain row, as django-tenants requires).
Requests go round-robin to every tenant (up to --hosts of them). Settings are omnitenant's
defaults (cache patch on) and identical for every variant except MIDDLEWARE/RESOLVERS.
Variants alternate in small batches whose order rotates, so machine noise and the wake of
a variant that uses PostgreSQL or Redis fall on all of them alike; the median batch counts.
Queries are counted over the timed batches themselves. "middleware µs" is a variant's time
minus "none" at the same size; "ratio vs 10 tenants" compares the ratio to no tenancy
across sizes, which cancels the machine's drift between sizes.

    OMNITENANT_BENCH_DB=omnitenant_bench python benchmarks/request_overhead.py
    python benchmarks/request_overhead.py --engine django_tenants.postgresql_backend
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from pathlib import Path

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB_NAME = os.environ.get("OMNITENANT_BENCH_DB", "omnitenant_bench")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
BASE_CONFIG = {
    "TENANT_MODEL": "testapp.Tenant",
    "DOMAIN_MODEL": "testapp.Domain",
    "BASE_DOMAIN": "example.com",
    "PUBLIC_HOSTS": ["example.com"],
}
MIDDLEWARE = ["omnitenant.middleware.TenantMiddleware"]


def configure(engine: str = "django.db.backends.postgresql") -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        # django-tenants' backend imports ContentType, so its app must be installed.
        INSTALLED_APPS=[
            *(["django.contrib.contenttypes"] if engine.startswith("django_tenants") else []),
            "omnitenant",
            "tests.testapp",
        ],
        MIDDLEWARE=[],
        DATABASES={
            "default": {
                "ENGINE": engine,
                "HOST": os.environ.get("PGHOST", "127.0.0.1"),
                "PORT": os.environ.get("PGPORT", "5432"),
                "USER": os.environ.get("PGUSER", "postgres"),
                "PASSWORD": os.environ.get("PGPASSWORD", ""),
                "NAME": DB_NAME,
                "CONN_MAX_AGE": None,  # persistent, as in production
            }
        },
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": "omnitenant-bench",
            },
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        OMNITENANT_CONFIG=BASE_CONFIG,
    )
    django.setup()


def create_database() -> None:
    import psycopg

    with psycopg.connect(
        host=settings.DATABASES["default"]["HOST"],
        user=settings.DATABASES["default"]["USER"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def trivial(request):
    from django.http import HttpResponse

    return HttpResponse("ok")


def _urlpatterns():
    from django.urls import path

    return [path("", trivial)]


def __getattr__(name):  # ROOT_URLCONF is this module; build urlpatterns after setup
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def querying_resolver_class():
    from omnitenant.exceptions import TenantNotFound
    from omnitenant.resolvers import BaseResolver, get_request_host
    from tests.testapp.models import Domain

    class QueryingDomainResolver(BaseResolver):
        """One SELECT ... JOIN per request, like django-tenants' TenantMainMiddleware."""

        def resolve(self, request):
            row = Domain.objects.select_related("tenant").filter(domain=get_request_host(request))
            row = row.first()
            if row is None:
                msg = "unknown host"
                raise TenantNotFound(msg)
            return row.tenant

    return QueryingDomainResolver


VARIANTS = {
    "none": ([], {}),
    "omnitenant": (MIDDLEWARE, {}),
    "per-query": (MIDDLEWARE, {"RESOLVERS": [f"{__name__}.QueryingDomainResolver"]}),
}


def environ(host: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


def start_response(status, headers, exc_info=None):
    if not status.startswith("200"):
        msg = f"benchmark request failed: {status}"
        raise RuntimeError(msg)


def run(handler, hosts: list[str]) -> float:
    """Seconds per request for one pass over ``hosts``."""
    start = time.perf_counter()
    for host in hosts:
        response = handler(environ(host), start_response)
        b"".join(response)
        response.close()
    return (time.perf_counter() - start) / len(hosts)


class QueryCounter:
    """A database execute wrapper counting queries (no cap, unlike CaptureQueriesContext)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def flood(handler, count: int) -> None:
    """One request for each of ``count`` distinct unknown hosts (each refused with a 404)."""

    def refused(status, headers, exc_info=None):
        if not status.startswith("404"):
            msg = f"unknown host not refused: {status}"
            raise RuntimeError(msg)

    for i in range(count):
        response = handler(environ(f"nobody{i}.example.com"), refused)
        b"".join(response)
        response.close()


def grow_tenants(target: int) -> None:
    from omnitenant import lookup
    from tests.testapp.models import Domain, Tenant

    have = Tenant.objects.count()
    new = [Tenant(tenant_id=f"t{i}", name=f"Tenant {i}") for i in range(have, target)]
    Tenant.objects.bulk_create(new, batch_size=2000)
    tenants = Tenant.objects.filter(tenant_id__in=[t.tenant_id for t in new])
    Domain.objects.bulk_create(
        [Domain(domain=f"{t.tenant_id}.example.com", tenant=t, is_primary=True) for t in tenants],
        batch_size=2000,
    )
    lookup.invalidate()  # bulk_create sends no signals


def wait_for_subscription(timeout: float = 10.0) -> bool:
    """True once this process listens for tenant changes (lookups then read no stamp)."""
    from omnitenant import lookup
    from omnitenant.lookup import _stamp

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _stamp.watcher(lookup._cache.adopt).needs_reads:
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000])
    parser.add_argument("--hosts", type=int, default=10_000, help="hosts cycled per size")
    parser.add_argument("--engine", default="django.db.backends.postgresql")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--flood", type=int, default=10_050, help="unknown hosts sent after the last size"
    )
    args = parser.parse_args()

    configure(args.engine)
    create_database()
    from django.core.cache import caches
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from omnitenant import lookup
    from tests.testapp.models import Tenant

    call_command("migrate", verbosity=0)
    Tenant.objects.all().delete()
    caches["default"].delete(lookup.STAMP_KEY)  # only this key: never flush a shared Redis
    globals()["QueryingDomainResolver"] = querying_resolver_class()

    rows = []
    for size in args.sizes:
        grow_tenants(size)
        rng = random.Random(size)
        hosts = [f"t{i}.example.com" for i in rng.sample(range(size), min(size, args.hosts))]
        timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
        queries: dict[str, float] = dict.fromkeys(VARIANTS, 0)
        handlers = {}
        for name, (middleware, _config) in VARIANTS.items():
            with override_settings(MIDDLEWARE=middleware):
                handlers[name] = WSGIHandler()
        # Warm every host, slowest variant first, so that the in-process entries are still
        # well within RESOLUTION_CACHE_TTL (60 s) when the timed batches start.
        for name in reversed(VARIANTS):
            with override_settings(OMNITENANT_CONFIG={**BASE_CONFIG, **VARIANTS[name][1]}):
                run(handlers[name], hosts)
        pushed = wait_for_subscription()
        # Small batches, variants alternating in a rotating order, so that every variant sees
        # the same noise from the rest of the machine; the median batch is reported.
        names = list(VARIANTS)
        for batch in range(args.batches):
            chunk = [
                hosts[(batch * args.batch_size + i) % len(hosts)] for i in range(args.batch_size)
            ]
            shift = batch % len(names)
            for name in names[shift:] + names[:shift]:
                config = VARIANTS[name][1]
                with (
                    override_settings(OMNITENANT_CONFIG={**BASE_CONFIG, **config}),
                    CaptureQueriesContext(connection) as captured,
                ):
                    timings[name].append(run(handlers[name], chunk))
                queries[name] += len(captured)
        for name in VARIANTS:
            per_request = queries[name] / (args.batches * args.batch_size)
            rows.append((size, name, statistics.median(timings[name]), per_request))

    flood_line = ""
    if args.flood:
        # A flood of unknown hosts, then the warm tenants again: misses live in an LRU of
        # their own, so the tenants must still be answered with no query.
        # A long TTL: on a busy machine the passes below outlast the default 60 s, and an
        # expired entry would count as an eviction.
        flooded, after = QueryCounter(), QueryCounter()
        with override_settings(OMNITENANT_CONFIG={**BASE_CONFIG, "RESOLUTION_CACHE_TTL": 3600}):
            lookup.invalidate()  # entries cached so far expire after 60 s
            run(handlers["omnitenant"], hosts)
            with connection.execute_wrapper(flooded):
                flood(handlers["omnitenant"], args.flood)
            with connection.execute_wrapper(after):
                run(handlers["omnitenant"], hosts)
        flood_line = (
            f"after a flood of {args.flood:,} unknown hosts ({flooded.count / args.flood:.2f} "
            f"queries each): {len(hosts):,} warm tenant hosts, "
            f"{after.count / len(hosts):.2f} queries/request"
        )

    base = {size: t for size, name, t, _ in rows if name == "none"}
    first = {name: t / base[size] for size, name, t, _ in rows if size == args.sizes[0]}
    print(
        f"up to {args.hosts} hosts, median of {args.batches} rotating batches of "
        f"{args.batch_size} requests, Django {django.__version__}, {args.engine}, "
        f"version stamp {'pushed over Redis' if pushed else 'read on every request'}"
    )
    print()
    print(
        "| tenants | variant | µs/request | middleware µs | vs no tenancy "
        "| ratio vs 10 tenants | queries/request |"
    )
    print(
        "|--------:|---------|-----------:|--------------:|--------------:"
        "|--------------------:|----------------:|"
    )
    for size, name, seconds, q in rows:
        ratio = seconds / base[size]
        print(
            f"| {size:,} | {name} | {seconds * 1e6:.1f} | {(seconds - base[size]) * 1e6:.1f} "
            f"| {ratio:.2f}x | {ratio / first[name]:.2f}x | {q:.2f} |"
        )
    if flood_line:
        print()
        print(flood_line)


if __name__ == "__main__":
    main()
