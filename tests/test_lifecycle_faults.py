"""Faults during a tenant's creation: a killed create_tenant leaves it complete or absent."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.db import connection
from django_tenants.utils import schema_exists

from omnitenant.provisioning import cleanup_orphans
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = [(f"kill{n}", "schema" if n % 2 else "database") for n in range(10)]


def sqlite_path(test_db, tenant_id):
    from django.conf import settings

    return os.path.join(settings.TENANT_DATA_DIR, f"{test_db}_{tenant_id}.sqlite3")


def sqlite_tables(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return set()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master")}


def schema_tables(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [name])
        return {row[0] for row in cursor.fetchall()}


def state(test_db, tenant_id, isolation):
    """("complete" | "absent" | "half", details) for one killed run."""
    row = Tenant.objects.filter(tenant_id=tenant_id).exists()
    if isolation == "schema":
        tables = schema_tables(tenant_id) if schema_exists(tenant_id) else None
    else:
        tables = sqlite_tables(sqlite_path(test_db, tenant_id)) or None
    if row and tables is not None and {"tenantapp_note", "django_migrations"} <= tables:
        return "complete"
    if not row and tables is None:
        return "absent"
    return f"half (row={row}, tables={tables})"


def no_sessions_of(pids, deadline):
    """Wait until PostgreSQL has ended the killed processes' sessions (rolled them back)."""
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kill-test'"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"sessions of killed processes {pids} still open")


def test_a_killed_create_tenant_leaves_the_tenant_complete_or_absent(settings):
    test_db = settings.DATABASES["default"]["NAME"]  # the test database the runs must use
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "OMNITENANT_TEST_DB": test_db,
        "PGAPPNAME": "kill-test",
        "PYTHONPATH": os.getcwd(),
    }
    rng = random.Random(int(os.environ.get("KILL_SEED", time.time())))
    processes = []
    for tenant_id, isolation in RUNS:
        where = ["--isolation", "database", "--db-alias", f"{test_db}_{tenant_id}"]
        args = ["create_tenant", tenant_id, tenant_id, *(where if isolation == "database" else [])]
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "django", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    started = time.monotonic()
    # Kill each at a random point of its run (startup, row, schema, migrations, commit).
    delays = sorted(rng.uniform(1.0, 14.0) for _ in processes)
    for process, delay in zip(processes, delays, strict=True):
        time.sleep(max(0.0, started + delay - time.monotonic()))
        process.send_signal(signal.SIGKILL)
    for process in processes:
        process.wait()
    no_sessions_of([p.pid for p in processes], time.monotonic() + 10)
    cleanup_orphans(min_age=0)  # what the next create_tenant / provision_tenant run does
    states = {tenant_id: state(test_db, tenant_id, iso) for tenant_id, iso in RUNS}
    try:
        assert all(s in ("complete", "absent") for s in states.values()), states
        for tenant_id, isolation in RUNS:
            if states[tenant_id] == "absent":  # a retry succeeds
                where = ["--isolation", "database", "--db-alias", f"{test_db}_{tenant_id}"]
                args = [tenant_id, tenant_id, *(where if isolation == "database" else [])]
                subprocess.run(
                    [sys.executable, "-m", "django", "create_tenant", *args], env=env, check=True
                )
                assert state(test_db, tenant_id, isolation) == "complete"
    finally:
        for tenant_id, isolation in RUNS:
            if isolation == "schema":
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant_id}" CASCADE')
            else:
                for suffix in ("", "-journal", "-wal", "-shm"):
                    path = sqlite_path(test_db, tenant_id) + suffix
                    if os.path.exists(path):
                        os.remove(path)
