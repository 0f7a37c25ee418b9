"""Schema tenants through a real PgBouncer in transaction pooling mode never cross."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction

from omnitenant.context import TenantContext
from omnitenant.provisioning import deprovision_tenant, provision_tenant
from tests.isolation.tenants import schema_tenant
from tests.servers.pgbouncer import PgBouncer
from tests.tenantapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

POOLED = "pooled"
SINGLE = "pooled_single"  # one server connection: every client shares it
TENANT_IDS = ("bouncer_acme", "bouncer_globex", "bouncer_hooli", "bouncer_initech")


def register(alias, bouncer):
    default = connections["default"].settings_dict
    connections.settings[alias] = {
        **default,
        "HOST": "127.0.0.1",
        "PORT": str(bouncer.port),
        "DISABLE_SERVER_SIDE_CURSORS": True,  # required behind a transaction pooler
        "CONN_MAX_AGE": 0,
        "TEST": {**default.get("TEST", {}), "MIRROR": "default"},
    }


@pytest.fixture(scope="module")
def bouncers(django_db_setup, django_db_blocker):
    default = connections["default"].settings_dict
    started = []
    try:
        for alias, size in ((POOLED, 2), (SINGLE, 1)):
            bouncer = PgBouncer(default["HOST"], int(default["PORT"]), pool_size=size)
            started.append(bouncer.start())
            register(alias, bouncer)
        yield started
    finally:
        for alias in (POOLED, SINGLE):
            connections[alias].close()
            connections.settings.pop(alias, None)
        for bouncer in started:
            bouncer.stop()


@pytest.fixture(scope="module")
def pool_tenants(bouncers, django_db_blocker):
    made = [schema_tenant(tenant_id) for tenant_id in TENANT_IDS]
    with django_db_blocker.unblock():
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)
            provision_tenant(tenant)
        yield made
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)


def foreign_rows_committed(tenants):
    """Rows in each tenant's schema written by another tenant (read on a direct connection)."""
    foreign = []
    for tenant in tenants:
        with TenantContext.use_tenant(tenant):
            titles = Note.objects.using("default").values_list("title", flat=True)
            foreign += [title for title in titles if not title.startswith(f"{tenant.tenant_id}:")]
    return foreign


class Tally:
    """Statements run and foreign answers seen, from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statements = 0
        self.foreign = []

    def add(self, statements, foreign):
        with self.lock:
            self.statements += statements
            self.foreign += foreign


def one_round(tenant, n, *, atomic):
    """Raw and ORM reads and writes inside ``tenant``; (statements, foreign answers)."""
    own = f"{tenant.tenant_id}:"
    foreign = []
    block = transaction.atomic(using=POOLED) if atomic else _nothing()
    with TenantContext.use_tenant(tenant), block:
        Note.objects.using(POOLED).create(title=f"{own}orm-{n}")
        foreign += [
            t
            for t in Note.objects.using(POOLED).values_list("title", flat=True)[:5]
            if not t.startswith(own)
        ]
        with connections[POOLED].cursor() as cursor:
            cursor.execute(
                "INSERT INTO tenantapp_note (title, body) VALUES (%s, '')", [f"{own}raw-{n}"]
            )
            cursor.execute("SELECT title FROM tenantapp_note ORDER BY id DESC LIMIT 5")
            foreign += [t for (t,) in cursor.fetchall() if not t.startswith(own)]
            cursor.execute("SELECT current_schema()")
            schema = cursor.fetchone()[0]
            if schema != tenant.tenant_id:
                foreign.append(f"current_schema {schema}")
        foreign += [
            t
            for t in [Note.objects.using(POOLED).order_by("-id").first().title]
            if not t.startswith(own)
        ]
    return 6, foreign


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_sixteen_threads_over_four_schema_tenants_never_cross(pool_tenants):
    tally = Tally()
    errors = []
    start = threading.Barrier(16)

    def work(index):
        try:
            start.wait(timeout=10)
            for n in range(60):
                tenant = pool_tenants[(index + n) % len(pool_tenants)]
                tally.add(*one_round(tenant, n, atomic=n % 2 == 1))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tally.statements >= 5_000
    assert tally.foreign == []
    assert foreign_rows_committed(pool_tenants) == []


async def test_two_hundred_asyncio_tasks_over_four_schema_tenants_never_cross(pool_tenants):
    tally = Tally()

    async def task(index):
        for n in range(5):
            tenant = pool_tenants[(index + n) % len(pool_tenants)]
            async with TenantContext.use_tenant(tenant):
                # Each round runs in sync_to_async's one thread, interleaved with the others.
                tally.add(*await sync_to_async(one_round)(tenant, n, atomic=n % 2 == 1))
                own = f"{tenant.tenant_id}:"
                await Note.objects.using(POOLED).acreate(title=f"{own}async-{n}")
                await asyncio.sleep(0)
                titles = [note.title async for note in Note.objects.using(POOLED)[:5]]
                tally.add(2, [title for title in titles if not title.startswith(own)])

    try:
        await asyncio.gather(*(task(i) for i in range(200)))
        committed = await sync_to_async(foreign_rows_committed)(pool_tenants)
    finally:
        await sync_to_async(connections.close_all)()
    assert tally.statements >= 5_000
    assert tally.foreign == []
    assert committed == []


def test_a_thread_never_sees_the_tenant_another_thread_left_on_the_server_connection(
    pool_tenants,
):
    acme, globex = pool_tenants[:2]
    for tenant in (acme, globex):
        with TenantContext.use_tenant(tenant):
            Note.objects.using("default").all().delete()
    with TenantContext.use_tenant(acme):
        Note.objects.using("default").create(title=f"{acme.tenant_id}:only")
    a_ran, b_ran = threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        try:
            with TenantContext.use_tenant(acme), connections[SINGLE].cursor() as cursor:
                cursor.execute("SELECT count(*) FROM tenantapp_note")
                seen["before"] = cursor.fetchone()[0]
                a_ran.set()
                b_ran.wait(timeout=10)
                cursor.execute("SELECT title FROM tenantapp_note")
                seen["after"] = [title for (title,) in cursor.fetchall()]
                seen["orm"] = list(Note.objects.using(SINGLE).values_list("title", flat=True))
        finally:
            connections.close_all()

    def thread_b():
        try:
            a_ran.wait(timeout=10)
            with TenantContext.use_tenant(globex), connections[SINGLE].cursor() as cursor:
                cursor.execute("SELECT count(*) FROM tenantapp_note")
                seen["globex"] = cursor.fetchone()[0]
            b_ran.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["globex"] == 0
    assert seen["before"] == 1
    assert seen["after"] == [f"{acme.tenant_id}:only"]
    assert seen["orm"] == [f"{acme.tenant_id}:only"]
