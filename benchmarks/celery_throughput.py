"""Tasks/second through a real Celery worker, with and without tenant propagation.

Starts a worker process (``celery worker``, solo pool) on the Redis broker of tests/settings.py
(CELERY_BROKER_URL) and a throwaway test database, then times batches of no-op tasks, the
variants interleaved round by round:

  plain         a plain task, publish hook disconnected (Celery as if omnitenant were absent)
  plain+header  a plain task sent inside a tenant: the header is added, nothing else
  tenant_task   a @tenant_task sent inside a tenant: header, lookup, use_tenant on the worker

Each batch first fills a queue the worker does not consume yet with N tasks (results
ignored) and one final task whose result marks the end; then the worker is told to consume
that queue, and the time until that result arrives is the batch's. So the figure is the
worker's throughput, not the sender's: on a 2-core machine a sender publishing meanwhile
competes with the worker for CPU and adds more noise than the difference being measured.
Sending is timed separately, in this process, per ``delay()``.

    python benchmarks/celery_throughput.py [--tasks 300] [--rounds 25] (BENCH_CACHE=redis|locmem)
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("OMNITENANT_TEST_DB", "omnitenant_bench")

import django  # noqa: E402
from django.conf import settings  # noqa: E402


def configure() -> None:
    if os.environ.get("BENCH_CACHE", "redis") == "redis":
        # The lookup's version stamp lives in the default cache: on Redis, as in production,
        # every tenant task on the worker pays one GET for it.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": settings.REDIS_URL,
            }
        }
    django.setup()


configure()

from celery import Celery, shared_task  # noqa: E402

from omnitenant.celery import tenant_task  # noqa: E402

app = Celery("omnitenant_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "omnitenant-bench"  # never the tests' queue
WORKER_NAME = "omnitenant-bench@localhost"


@shared_task(name="bench.plain_noop", ignore_result=True)
def plain_noop():
    return None


@tenant_task(name="bench.tenant_noop", ignore_result=True)
def tenant_noop():
    return None


@shared_task(name="bench.done")
def done():
    return True


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    worker = subprocess.Popen(
        [
            *(sys.executable, "-W", "ignore::DeprecationWarning", "-m", "celery"),
            *("-A", "benchmarks.celery_throughput:app", "worker", "-P", "solo", "-l", "WARNING"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            *("-n", WORKER_NAME, "-Q", app.conf.task_default_queue),
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.kill()
            raise RuntimeError("The benchmark worker did not start")
    return worker


def worker_side_cost(rounds: int = 5, calls: int = 2000) -> dict[str, float]:
    """Median µs per task of the worker's tracer alone (no broker), plain vs tenant_task."""
    from celery.app.trace import build_tracer

    from omnitenant.celery import MESSAGE_HEADER

    cases = {
        "plain": (plain_noop, {"id": "t", "delivery_info": {}}),
        "tenant_task": (
            tenant_noop,
            {"id": "t", "delivery_info": {}, "headers": {MESSAGE_HEADER: "acme"}},
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (task, request) in cases.items():
            real = app.tasks[task.name]
            trace = build_tracer(real.name, real, eager=False, propagate=True, app=app)
            start = time.perf_counter()
            for _ in range(calls):
                trace("t", (), {}, request)
            timings[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=25)
    options = parser.parse_args()

    from django.db import connection

    from omnitenant import TenantContext, lookup
    from omnitenant.celery import connect_celery, disconnect_celery
    from tests.testapp.models import Tenant

    def batch(task, tenant) -> float:
        # A queue of its own: a fetch the worker still had waiting on the previous batch's
        # queue when it stopped consuming it must not take (and requeue) this batch's tasks.
        queue = f"omnitenant-bench-{uuid.uuid4().hex[:12]}"
        with TenantContext.use_tenant(tenant):
            for _ in range(options.tasks):
                task.apply_async(queue=queue)
            last = done.apply_async(queue=queue)
        start = time.perf_counter()
        app.control.add_consumer(queue, destination=[WORKER_NAME], reply=True)
        last.get(timeout=600)
        seconds = time.perf_counter() - start
        app.control.cancel_consumer(queue, destination=[WORKER_NAME], reply=True)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        return options.tasks / seconds

    def send_cost(task, tenant, calls: int = 200) -> float:
        """Median µs per ``task.delay()`` inside ``tenant`` (the queue is purged after)."""
        timings = []
        for _ in range(5):
            with TenantContext.use_tenant(tenant):
                start = time.perf_counter()
                for _ in range(calls):
                    task.apply_async(queue="omnitenant-bench-unconsumed")
                timings.append((time.perf_counter() - start) / calls * 1e6)
        return statistics.median(timings)

    def plain():
        disconnect_celery()
        try:
            return batch(plain_noop, None)
        finally:
            connect_celery()

    variants = {
        "plain": plain,
        "plain+header": lambda: batch(plain_noop, acme),
        "tenant_task": lambda: batch(tenant_noop, acme),
    }

    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    worker = None
    try:
        acme = Tenant.objects.create(tenant_id="acme", name="Acme")
        lookup.invalidate()
        app.control.purge()
        env = {**os.environ, "OMNITENANT_TEST_DB": connection.settings_dict["NAME"]}
        connection.close()
        worker = start_worker(env)
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for name in variants:  # warm-up: connections, the worker's lookup cache
            variants[name]()
        for _ in range(options.rounds):
            order = list(variants)
            random.shuffle(order)
            for name in order:
                rates[name].append(variants[name]())
        traced = worker_side_cost()
        disconnect_celery()
        try:
            sent = {"plain": send_cost(plain_noop, None)}
        finally:
            connect_celery()
        sent["tenant_task"] = send_cost(tenant_noop, acme)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("omnitenant-bench-unconsumed")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        connection.close()
        connection.creation.destroy_test_db(test_name, verbosity=0)

    print(
        f"{options.tasks} queued tasks drained x {options.rounds} interleaved rounds, worker: "
        f"solo process, Django cache: {os.environ.get('BENCH_CACHE', 'redis')}"
    )
    print(f"| {'variant':<14} | {'median tasks/s':>14} | {'vs plain (median of rounds)':>27} |")
    print(f"|{'-' * 16}|{'-' * 15}:|{'-' * 28}:|")
    for name, values in rates.items():
        # Each round's ratio compares batches run seconds apart, which cancels most of the
        # drift of a shared machine; the median of those ratios is the figure to quote.
        ratios = [value / plain for value, plain in zip(values, rates["plain"], strict=True)]
        print(
            f"| {name:<14} | {statistics.median(values):>14.0f} "
            f"| {statistics.median(ratios):>27.3f} |"
        )
    print()
    print("Worker side alone (the tracer called in-process, no broker), median µs per task:")
    print(f"plain {traced['plain']:.0f} µs, tenant_task {traced['tenant_task']:.0f} µs")
    print("Sending, median µs per apply_async() (plain: no hook, no tenant):")
    print(f"plain {sent['plain']:.0f} µs, tenant_task {sent['tenant_task']:.0f} µs")


if __name__ == "__main__":
    main()
