"""Threads and asyncio tasks on different tenants, each on its own connection, never mix rows."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from omnitenant.context import TenantContext
from tests.tenantapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_two_threads_on_two_tenants_never_see_each_others_rows(acme, globex, wipe_notes):
    barrier = threading.Barrier(2)
    seen = {}
    errors = []

    def work(tenant):
        try:
            with TenantContext.use_tenant(tenant):
                for i in range(20):
                    Note.objects.create(title=f"{tenant.tenant_id}-{i}")
                    barrier.wait(timeout=10)  # interleave the two threads' writes and reads
                    seen.setdefault(tenant.tenant_id, set()).update(
                        Note.objects.values_list("title", flat=True)
                    )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(t,)) for t in (acme, globex)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert seen["acme"] == {f"acme-{i}" for i in range(20)}
    assert seen["globex"] == {f"globex-{i}" for i in range(20)}


def test_a_new_thread_gets_no_tenant_and_the_public_schema(acme):
    result = {}

    def probe():
        result["tenant"] = TenantContext.get_tenant()
        Note._meta
        try:
            Note.objects.count()
        except Exception as exc:  # noqa: BLE001 - the assertion checks its type
            result["error"] = exc
        result["schema"] = connection.schema_name
        connection.close()

    with TenantContext.use_tenant(acme):
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    assert result["tenant"] is None
    assert type(result["error"]).__name__ == "NoTenantActive"
    assert result["schema"] == "public"


async def test_hundred_asyncio_tasks_on_four_tenants_never_mix(tenants, wipe_notes):
    # The ORM runs in sync_to_async's thread, whose connection is never notified of the
    # tasks' tenants: the router puts it on the right schema or alias for each query.
    order = list(tenants.values())

    async def task(i):
        tenant = order[i % len(order)]
        async with TenantContext.use_tenant(tenant):
            await Note.objects.acreate(title=f"{tenant.tenant_id}-{i}")
            await asyncio.sleep(0)  # let the other tasks run between the write and the read
            titles = [note.title async for note in Note.objects.all()]
            count = await Note.objects.acount()
        return tenant.tenant_id, titles, count

    try:
        results = await asyncio.gather(*(task(i) for i in range(100)))
        final = await sync_to_async(lambda: {t.tenant_id: _titles(t) for t in order})()
    finally:
        await sync_to_async(connections.close_all)()
    for tenant_id, titles, count in results:
        assert titles
        assert all(title.startswith(f"{tenant_id}-") for title in titles)
        assert count <= 25
    for tenant in order:
        expected = {f"{tenant.tenant_id}-{i}" for i in range(100) if order[i % 4] is tenant}
        assert final[tenant.tenant_id] == expected


def _titles(tenant):
    with TenantContext.use_tenant(tenant):
        return set(Note.objects.values_list("title", flat=True))
