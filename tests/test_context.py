import asyncio
import threading
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from omnitenant import TenantContext
from omnitenant.context import TenantThreadPoolExecutor
from omnitenant.exceptions import InvalidTenantId
from omnitenant.signals import tenant_activated, tenant_deactivated

ACME = SimpleNamespace(tenant_id="acme", cache_alias="acme_cache", db_alias="acme_db")
GLOBEX = SimpleNamespace(tenant_id="globex", isolation_type="schema", db_alias="ignored")


def current_id():
    tenant = TenantContext.get_tenant()
    return None if tenant is None else tenant.tenant_id


@pytest.fixture
def subscriber_log():
    log = []

    def subscriber(tenant):
        log.append(None if tenant is None else tenant.tenant_id)

    TenantContext.subscribe(subscriber)
    yield log
    TenantContext.unsubscribe(subscriber)


def test_no_tenant_by_default():
    assert TenantContext.get_tenant() is None
    assert TenantContext.get_cache_alias() is None
    assert TenantContext.get_db_alias() == "default"


def test_nested_use_restores_outer_tenant():
    with TenantContext.use_tenant(ACME):
        with TenantContext.use_tenant(GLOBEX):
            assert current_id() == "globex"
            with TenantContext.use_tenant(None):
                assert TenantContext.get_tenant() is None
            assert current_id() == "globex"
        assert current_id() == "acme"
    assert TenantContext.get_tenant() is None


def test_exception_in_body_restores_outer_tenant():
    with TenantContext.use_tenant(ACME):
        with pytest.raises(KeyError), TenantContext.use_tenant(GLOBEX):
            raise KeyError("boom")
        assert current_id() == "acme"
    assert TenantContext.get_tenant() is None


def test_aliases_follow_the_active_tenant():
    with TenantContext.use_tenant(ACME):
        assert TenantContext.get_cache_alias() == "acme_cache"
        assert TenantContext.get_db_alias() == "acme_db"
    with TenantContext.use_tenant(GLOBEX):
        assert TenantContext.get_cache_alias() is None
        assert TenantContext.get_db_alias() == "default"


def test_decorator_on_sync_function():
    @TenantContext.use_tenant(ACME)
    def work(x):
        return current_id(), x

    assert work(1) == ("acme", 1)
    assert work.__name__ == "work"
    assert TenantContext.get_tenant() is None


async def test_decorator_on_async_function():
    @TenantContext.use_tenant(GLOBEX)
    async def work():
        await asyncio.sleep(0)
        return current_id()

    assert await work() == "globex"
    assert TenantContext.get_tenant() is None


async def test_async_with():
    async with TenantContext.use_tenant(ACME) as tenant:
        assert tenant is ACME
        await asyncio.sleep(0)
        assert current_id() == "acme"
    assert TenantContext.get_tenant() is None


def test_decorated_function_is_reentrant():
    @TenantContext.use_tenant(ACME)
    def recurse(depth):
        if depth:
            with TenantContext.use_tenant(GLOBEX):
                recurse(depth - 1)
                assert current_id() == "globex"
        return current_id()

    assert recurse(3) == "acme"
    assert TenantContext.get_tenant() is None


@pytest.mark.parametrize("bad", ["a:b", "", "a" * 64, "pg_x", "Acme", "*", "-acme", "acme\n", 7])
def test_invalid_tenant_id_is_refused_before_activation(bad, subscriber_log):
    with pytest.raises(InvalidTenantId) as info:
        TenantContext.use_tenant(SimpleNamespace(tenant_id=bad))
    assert isinstance(info.value, ValueError)
    assert "a-z, 0-9" in str(info.value)
    assert TenantContext.get_tenant() is None
    assert subscriber_log == []


def test_object_without_tenant_id_is_refused():
    with pytest.raises(InvalidTenantId, match="no tenant_id attribute"):
        TenantContext.use_tenant("acme")


def test_valid_edge_ids_are_accepted():
    for tenant_id in ["a", "a" * 63, "9lives", "acme-corp_2", "pgx"]:
        with TenantContext.use_tenant(SimpleNamespace(tenant_id=tenant_id)):
            assert current_id() == tenant_id


def test_subscribers_hear_every_change_in_order(subscriber_log):
    order = []
    first = lambda tenant: order.append(("first", current_id()))  # noqa: E731
    second = lambda tenant: order.append(("second", current_id()))  # noqa: E731
    TenantContext.subscribe(first)
    TenantContext.subscribe(second)
    TenantContext.subscribe(first)  # registering twice does not double notifications
    try:
        with TenantContext.use_tenant(ACME), TenantContext.use_tenant(None):
            pass
    finally:
        TenantContext.unsubscribe(first)
        TenantContext.unsubscribe(second)
    assert subscriber_log == ["acme", None, "acme", None]
    assert order[:2] == [("first", "acme"), ("second", "acme")]
    assert len(order) == 8


def test_subscriber_raising_on_enter_leaves_context_correct(subscriber_log):
    def fails_for_globex(tenant):
        if tenant is GLOBEX:
            raise RuntimeError("schema switch failed")

    TenantContext.subscribe(fails_for_globex)
    try:
        with TenantContext.use_tenant(ACME):
            with (
                pytest.raises(RuntimeError, match="schema switch failed"),
                TenantContext.use_tenant(GLOBEX),
            ):
                pytest.fail("the body must not run when activation failed")
            assert current_id() == "acme"
        assert TenantContext.get_tenant() is None
    finally:
        TenantContext.unsubscribe(fails_for_globex)
    # the rollback told everyone that acme is current again
    assert subscriber_log == ["acme", "globex", "acme", None]


def test_subscriber_raising_on_exit_still_restores_and_notifies_others(subscriber_log):
    def fails_on_restore(tenant):
        if tenant is None:
            raise RuntimeError("restore failed")

    TenantContext.subscribe(fails_on_restore)
    TenantContext.unsubscribe(fails_on_restore)
    TenantContext.subscribe(fails_on_restore)
    try:
        with pytest.raises(RuntimeError, match="restore failed"), TenantContext.use_tenant(ACME):
            pass
    finally:
        TenantContext.unsubscribe(fails_on_restore)
    assert TenantContext.get_tenant() is None
    assert subscriber_log == ["acme", None]


def test_signals_sent_for_non_none_tenants_only():
    events = []

    def on_activated(sender, tenant, **kwargs):
        events.append(("activated", sender, tenant.tenant_id))

    def on_deactivated(sender, tenant, **kwargs):
        events.append(("deactivated", sender, tenant.tenant_id))

    tenant_activated.connect(on_activated)
    tenant_deactivated.connect(on_deactivated)
    try:
        with TenantContext.use_tenant(ACME):
            with TenantContext.use_tenant(GLOBEX):
                pass
            with TenantContext.use_tenant(None):
                pass
    finally:
        tenant_activated.disconnect(on_activated)
        tenant_deactivated.disconnect(on_deactivated)
    assert events == [
        ("activated", TenantContext, "acme"),
        ("activated", TenantContext, "globex"),
        ("deactivated", TenantContext, "globex"),
        ("deactivated", TenantContext, "acme"),
    ]


def test_new_thread_starts_with_no_tenant_and_threads_are_isolated():
    seen = {}
    barrier = threading.Barrier(8)

    def worker(index):
        seen[f"start{index}"] = TenantContext.get_tenant()
        tenant = SimpleNamespace(tenant_id=f"t{index}")
        with TenantContext.use_tenant(tenant):
            barrier.wait()
            seen[index] = current_id()
            barrier.wait()

    with TenantContext.use_tenant(ACME):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert current_id() == "acme"
    assert all(seen[f"start{i}"] is None for i in range(8))
    assert [seen[i] for i in range(8)] == [f"t{i}" for i in range(8)]


async def test_thousand_concurrent_tasks_each_see_their_own_tenant():
    mismatches = []

    async def task(index):
        tenant = SimpleNamespace(tenant_id=f"tenant-{index}")
        async with TenantContext.use_tenant(tenant):
            for _ in range(3):
                await asyncio.sleep(0)
                if current_id() != f"tenant-{index}":
                    mismatches.append(index)
        if TenantContext.get_tenant() is not None:
            mismatches.append(index)

    await asyncio.gather(*(task(i) for i in range(1000)))
    assert mismatches == []
    assert TenantContext.get_tenant() is None


async def test_one_scope_object_shared_by_concurrent_tasks():
    shared_scope = TenantContext.use_tenant(ACME)
    seen = []

    async def task(outer):
        async with TenantContext.use_tenant(outer):
            async with shared_scope:
                await asyncio.sleep(0)
                seen.append(current_id())
            await asyncio.sleep(0)
            seen.append(("after", outer.tenant_id, current_id()))

    await asyncio.gather(task(GLOBEX), task(SimpleNamespace(tenant_id="initech")))
    assert seen.count("acme") == 2
    assert ("after", "globex", "globex") in seen
    assert ("after", "initech", "initech") in seen


async def test_task_inherits_but_does_not_leak_back():
    async def child():
        assert current_id() == "acme"
        with TenantContext.use_tenant(GLOBEX):
            await asyncio.sleep(0)
        TenantContext.use_tenant(GLOBEX).__enter__()  # never exited: must stay in the task

    with TenantContext.use_tenant(ACME):
        await asyncio.create_task(child())
        assert current_id() == "acme"


async def test_sync_to_async_carries_the_tenant():
    def read():
        return current_id()

    with TenantContext.use_tenant(ACME):
        assert await sync_to_async(read)() == "acme"
        assert await sync_to_async(read, thread_sensitive=False)() == "acme"


def test_async_to_sync_carries_the_tenant():
    async def read():
        return current_id()

    with TenantContext.use_tenant(GLOBEX):
        assert async_to_sync(read)() == "globex"


def test_thread_pool_executor_keeps_the_submitters_tenant(subscriber_log):
    with TenantThreadPoolExecutor(max_workers=4) as pool:
        with TenantContext.use_tenant(ACME):
            acme_futures = [pool.submit(current_id) for _ in range(20)]
        with TenantContext.use_tenant(GLOBEX):
            globex_results = list(pool.map(lambda _: current_id(), range(20)))
        none_future = pool.submit(current_id)
    assert {future.result() for future in acme_futures} == {"acme"}
    assert set(globex_results) == {"globex"}
    assert none_future.result() is None
    # subscribers ran in the worker threads too (e.g. a per-thread schema switch)
    assert subscriber_log.count("acme") >= 21


async def test_thread_pool_executor_with_run_in_executor():
    loop = asyncio.get_running_loop()
    with TenantThreadPoolExecutor(max_workers=2) as pool:
        async with TenantContext.use_tenant(ACME):
            assert await loop.run_in_executor(pool, current_id) == "acme"


def test_decorator_on_generator_runs_each_step_inside_the_tenant():
    @TenantContext.use_tenant(ACME)
    def rows():
        for index in range(3):
            received = yield (index, current_id())
            assert received is None or received == "ping"

    with TenantContext.use_tenant(GLOBEX):
        produced = rows()
        seen = []
        for item in produced:
            seen.append(item)
            assert current_id() == "globex"  # never leaks into the consumer between steps
    assert seen == [(0, "acme"), (1, "acme"), (2, "acme")]
    assert TenantContext.get_tenant() is None


def test_decorated_generator_closed_early_restores_the_consumer():
    closed_in = []

    @TenantContext.use_tenant(ACME)
    def rows():
        try:
            yield 1
            yield 2
        finally:
            closed_in.append(current_id())

    with TenantContext.use_tenant(GLOBEX):
        produced = rows()
        assert next(produced) == 1
        produced.close()
        assert current_id() == "globex"
    assert closed_in == ["acme"]


async def test_decorator_on_async_generator_runs_each_step_inside_the_tenant():
    @TenantContext.use_tenant(ACME)
    async def rows():
        for index in range(3):
            await asyncio.sleep(0)
            yield (index, current_id())

    seen = []
    async with TenantContext.use_tenant(GLOBEX):
        async for item in rows():
            seen.append(item)
            assert current_id() == "globex"
    assert seen == [(0, "acme"), (1, "acme"), (2, "acme")]
