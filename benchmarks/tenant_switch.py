"""Cost of tenant switching per strategy, and of provisioning 100 schema tenants.

Run from the repository root (PostgreSQL as for the tests):

    OMNITENANT_TEST_DB=omnitenant_bench python benchmarks/tenant_switch.py [--cycles 10000]

It creates a throwaway database ``<OMNITENANT_TEST_DB>_bench`` (plus a SQLite file named the
same way) and drops everything afterwards. Every row of the table runs the same query,
``Note.objects.count()``, side by side in one process; "no tenancy" runs it with the
connection already in place and no TenantContext at all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

PREFIX = os.environ.get("OMNITENANT_TEST_DB", "omnitenant")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=100)
    args = parser.parse_args()

    from tests import settings as test_settings

    test_settings.DATABASES["default"]["TEST"] = {"NAME": f"{PREFIX}_bench"}
    django.setup()

    from django.db import connection, connections

    from omnitenant.context import TenantContext
    from omnitenant.provisioning import deprovision_tenant, provision_tenant
    from tests.tenantapp.models import Note

    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    acme, globex = (
        SimpleNamespace(tenant_id=t, isolation_type="schema") for t in ("acme", "globex")
    )
    initech = SimpleNamespace(
        tenant_id="benchinitech", isolation_type="database", db_alias=f"{PREFIX}_benchinitech"
    )
    tenants = [acme, globex, initech]
    try:
        for tenant in tenants:
            provision_tenant(tenant)
        rows = run_switching(args.cycles, Note, connection, connections, TenantContext, tenants)
        provisioning = run_provisioning(args.tenants, provision_tenant, deprovision_tenant)
    finally:
        for tenant in tenants:
            deprovision_tenant(tenant, drop_data=True)
        connection.creation.destroy_test_db(f"{PREFIX}_bench", verbosity=0)

    print(f"\n{args.cycles:,} activate/query/deactivate cycles (Note.objects.count())\n")
    print(f"| {'case':<46} | {'total s':>8} | {'µs/cycle':>9} | {'vs no tenancy':>13} |")
    print(f"|{'-' * 48}|{'-' * 10}|{'-' * 11}|{'-' * 15}|")
    for name, seconds, base in rows:
        per = seconds / args.cycles * 1e6
        print(f"| {name:<46} | {seconds:>8.2f} | {per:>9.1f} | {seconds / base:>12.2f}x |")
    total, median = provisioning
    print(f"\nprovision_tenant (create schema + migrate) x {args.tenants}: total {total:.1f} s,")
    print(f" median {median * 1000:.0f} ms per tenant\n")


def timed(cycles, cases, rounds=5):
    """Total seconds per case; the cases take turns in rounds so that noise hits all alike."""
    for body in cases.values():
        body()  # warm up: connection, search_path, query compilation caches
    totals = dict.fromkeys(cases, 0.0)
    for _ in range(rounds):
        for name, body in cases.items():
            outer = getattr(body, "outer", contextlib.nullcontext)()
            with outer:
                start = time.perf_counter()
                for _ in range(cycles // rounds):
                    body()
                totals[name] += time.perf_counter() - start
    return totals


def run_switching(cycles, Note, connection, connections, TenantContext, tenants):
    acme, globex, initech = tenants
    use = TenantContext.use_tenant

    def no_tenancy_postgres():
        # The connection already points at acme's tables; no context involved.
        if connection.schema_name != "acme":
            connection.set_schema("acme")
        Note.objects.using("default").count()

    def from_no_tenant():
        with use(acme):
            Note.objects.count()

    def inside_acme():
        with use(acme):
            Note.objects.count()

    state = {"i": 0}

    inside_acme.outer = lambda: use(acme)  # the schema is already acme's: no switch at all

    def alternating():
        state["i"] += 1
        with use(acme if state["i"] % 2 else globex):
            Note.objects.count()

    def no_tenancy_sqlite():
        Note.objects.using(initech.db_alias).count()

    def database():
        with use(initech):
            Note.objects.count()

    t = timed(
        cycles,
        {
            "pg": no_tenancy_postgres,
            "from_none": from_no_tenant,
            "inside": inside_acme,
            "alt": alternating,
            "sqlite": no_tenancy_sqlite,
            "db": database,
        },
    )
    connection.set_schema_to_public()
    return [
        ("no tenancy, PostgreSQL (schema fixed)", t["pg"], t["pg"]),
        ("schema: acme from no tenant (1 SET per cycle)", t["from_none"], t["pg"]),
        ("schema: acme inside acme (0 SET per cycle)", t["inside"], t["pg"]),
        ("schema: acme/globex alternating (1 SET each)", t["alt"], t["pg"]),
        ("no tenancy, SQLite file", t["sqlite"], t["sqlite"]),
        ("database (SQLite file): same tenant", t["db"], t["sqlite"]),
    ]


def run_provisioning(count, provision_tenant, deprovision_tenant):
    made, durations = [], []
    start = time.perf_counter()
    try:
        for i in range(count):
            tenant = SimpleNamespace(tenant_id=f"bench{i:03d}", isolation_type="schema")
            t0 = time.perf_counter()
            provision_tenant(tenant)
            durations.append(time.perf_counter() - t0)
            made.append(tenant)
        total = time.perf_counter() - start
    finally:
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)
    return total, statistics.median(durations)


if __name__ == "__main__":
    main()
