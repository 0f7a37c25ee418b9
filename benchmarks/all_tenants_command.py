"""all_tenants_command over 200 tenants: sequential vs --jobs 2, and the per-tenant overhead.

Run from the repository root (PostgreSQL as for the tests; the database is created once):

    OMNITENANT_BENCH_DB=omnitenant_bench /tmp/venv/bin/python benchmarks/all_tenants_command.py

Every figure is the median of ROUNDS runs measured side by side in this one process.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ["OMNITENANT_TEST_DB"] = os.environ.get("OMNITENANT_BENCH_DB", "omnitenant_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django
import psycopg

TENANTS = 200
ROUNDS = int(os.environ.get("ROUNDS", "5"))
WORK_MS = float(os.environ.get("WORK_MS", "10"))


def create_database() -> None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def median_seconds(run) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    django.setup()
    create_database()
    from django.core.management import call_command

    from omnitenant import TenantContext
    from tests.testapp.models import Tenant

    call_command("migrate", verbosity=0)
    if Tenant.objects.count() != TENANTS:
        Tenant.objects.all().delete()
        Tenant.objects.bulk_create(
            Tenant(tenant_id=f"t{number:03}", name=f"Tenant {number}") for number in range(TENANTS)
        )
    tenants = list(Tenant.objects.order_by("tenant_id"))

    def bare(*args):
        # The command alone: call_command for each tenant, no context, no capture.
        def run():
            for _tenant in tenants:
                call_command("show_tenant", *args, stdout=io.StringIO())

        return run

    def in_context(*args):
        def run():
            for tenant in tenants:
                with TenantContext.use_tenant(tenant):
                    call_command("show_tenant", *args, stdout=io.StringIO())

        return run

    def all_tenants(*options):
        def run():
            call_command("all_tenants_command", *options, stdout=io.StringIO())

        return run

    work = ("--work-ms", str(WORK_MS))
    wait = ("--sleep", str(WORK_MS / 1000))
    rows = []
    tiny_bare = median_seconds(bare())
    tiny_context = median_seconds(in_context())
    tiny_seq = median_seconds(all_tenants("show_tenant"))
    small_seq = median_seconds(all_tenants("show_tenant", *work))
    small_jobs = median_seconds(all_tenants("--jobs", "2", "show_tenant", *work))
    tiny_jobs = median_seconds(all_tenants("--jobs", "2", "show_tenant"))
    wait_seq = median_seconds(all_tenants("show_tenant", *wait))
    wait_jobs = median_seconds(all_tenants("--jobs", "2", "show_tenant", *wait))
    per = 1000 / TENANTS
    rows = [
        ("tiny command, bare call_command loop", tiny_bare, tiny_bare * per, ""),
        ("tiny command, loop inside use_tenant", tiny_context, tiny_context * per, ""),
        ("tiny command, all_tenants_command", tiny_seq, tiny_seq * per, ""),
        (
            "tiny command, all_tenants_command --jobs 2",
            tiny_jobs,
            tiny_jobs * per,
            f"{tiny_seq / tiny_jobs:.2f}x",
        ),
        (f"{WORK_MS:g} ms waiting command, all_tenants_command", wait_seq, wait_seq * per, ""),
        (
            f"{WORK_MS:g} ms waiting command, --jobs 2",
            wait_jobs,
            wait_jobs * per,
            f"{wait_seq / wait_jobs:.2f}x",
        ),
        (f"{WORK_MS:g} ms CPU command, all_tenants_command", small_seq, small_seq * per, ""),
        (
            f"{WORK_MS:g} ms CPU command, --jobs 2",
            small_jobs,
            small_jobs * per,
            f"{small_seq / small_jobs:.2f}x",
        ),
    ]
    load = os.getloadavg()[0]
    print(f"{TENANTS} tenants, median of {ROUNDS} runs, {os.cpu_count()} CPUs, load {load:.1f}")
    print(f"| {'run':<46} | {'total':>8} | {'per tenant':>10} | {'speed-up':>8} |")
    print(f"|{'-' * 48}|{'-' * 10}:|{'-' * 11}:|{'-' * 9}:|")
    for name, total, per_tenant, ratio in rows:
        print(f"| {name:<46} | {total:>7.2f}s | {per_tenant:>7.2f} ms | {ratio:>8} |")
    overhead = (tiny_seq - tiny_bare) * per
    print(f"\nper-tenant overhead of all_tenants_command over the bare command: {overhead:.2f} ms")
    print(f"per-tenant cost of all_tenants_command, dispatch included: {tiny_seq * per:.2f} ms")


if __name__ == "__main__":
    main()
