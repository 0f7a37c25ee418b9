"""omnitenant.celery against a real worker (threads pool) on a real Redis broker."""

import contextlib
import threading
import time
from types import SimpleNamespace

import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for start_worker
import pytest
from celery import chain, chord, group
from celery.beat import ScheduleEntry, Scheduler
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Reject
from celery.signals import before_task_publish, task_postrun
from django.core.cache import cache

from omnitenant import TenantContext, lookup
from omnitenant.celery import (
    MESSAGE_HEADER,
    TenantTask,
    connect_celery,
    disconnect_celery,
    enqueue_for_each_tenant,
    schedule_for_each_tenant,
    tenant_task,
)
from omnitenant.exceptions import InvalidTenantId, NoTenantActive, TenantNotFound
from omnitenant.provisioning import deprovision_tenant, provision_tenant
from tests.celery_app import (
    MARKS_KEY,
    TOUCHED_KEY,
    app,
    broker,
    collect,
    fail_inside,
    mark,
    needs_tenant,
    plain_whoami,
    read_tenant_data,
    record,
    retry_once,
    tenant_name,
    touch,
    whoami,
    write_note,
)
from tests.isolation.tenants import schema_tenant
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 20


@pytest.fixture(scope="module")
def worker():
    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, shutdown_timeout=30) as running:
        yield running


@pytest.fixture(scope="module")
def schemas(django_db_setup, django_db_blocker):
    """Schemas for the tenant rows acme and globex (kept if another fixture made them)."""
    made = [schema_tenant("acme"), schema_tenant("globex")]
    with django_db_blocker.unblock():
        created = [tenant for tenant in made if provision_tenant(tenant)]
        yield made
        for tenant in created:
            deprovision_tenant(tenant, drop_data=True)


@pytest.fixture(autouse=True)
def _clean(worker, schemas):
    lookup.invalidate()
    broker().delete(TOUCHED_KEY, MARKS_KEY)
    cache.clear()
    yield
    lookup.invalidate()
    for tenant in schemas:
        with TenantContext.use_tenant(tenant):
            Note.objects.all().delete()


@pytest.fixture
def acme():
    return Tenant.objects.create(tenant_id="acme", name="Acme")


@pytest.fixture
def globex():
    return Tenant.objects.create(tenant_id="globex", name="Globex")


def touched():
    return int(broker().get(TOUCHED_KEY) or 0)


# -- Propagation ------------------------------------------------------------------------


def test_task_sent_inside_a_tenant_runs_inside_it(acme, globex):
    with TenantContext.use_tenant(acme):
        in_acme = whoami.delay("a")
    with TenantContext.use_tenant(globex):
        in_globex = whoami.delay("g")
    outside = whoami.delay("none")
    assert in_acme.get(timeout=TIMEOUT)["tenant"] == "acme"
    assert in_globex.get(timeout=TIMEOUT)["tenant"] == "globex"
    assert outside.get(timeout=TIMEOUT)["tenant"] is None


def test_task_sees_only_its_tenants_rows_and_cache(acme, globex):
    with TenantContext.use_tenant(acme):
        assert write_note.delay("acme-secret").get(timeout=TIMEOUT) == "acme"
    with TenantContext.use_tenant(globex):
        assert write_note.delay("globex-secret").get(timeout=TIMEOUT) == "globex"
    with TenantContext.use_tenant(acme):
        seen_by_acme = read_tenant_data.delay().get(timeout=TIMEOUT)
    with TenantContext.use_tenant(globex):
        seen_by_globex = read_tenant_data.delay().get(timeout=TIMEOUT)
    seen_by_nobody = read_tenant_data.delay().get(timeout=TIMEOUT)
    assert seen_by_acme == {"tenant": "acme", "notes": ["acme-secret"], "cache": "acme-secret"}
    assert seen_by_globex == {
        "tenant": "globex",
        "notes": ["globex-secret"],
        "cache": "globex-secret",
    }
    assert seen_by_nobody == {"tenant": None, "notes": None, "cache": None}
    # Where the worker put them: each tenant's schema and cache namespace, nothing public.
    with TenantContext.use_tenant(acme):
        assert list(Note.objects.values_list("title", flat=True)) == ["acme-secret"]
    assert cache.get("acme:last_note") == "acme-secret"
    assert cache.get("globex:last_note") == "globex-secret"
    assert cache.get("last_note") is None


def test_tenant_travels_in_headers_not_arguments(acme):
    sent = {}

    def spy(sender=None, headers=None, body=None, **kwargs):
        sent.update(headers=dict(headers), body=body)

    before_task_publish.connect(spy, weak=False)
    try:
        with TenantContext.use_tenant(acme):
            result = whoami.delay("x")
    finally:
        before_task_publish.disconnect(spy)
    assert sent["headers"][MESSAGE_HEADER] == "acme"
    args, kwargs, _embed = sent["body"]
    assert list(args) == ["x"]
    assert kwargs == {}
    assert result.get(timeout=TIMEOUT)["tenant"] == "acme"


def test_200_interleaved_tasks_from_two_tenants_each_see_their_own(acme, globex):
    sent = []

    def send(tenant, count):
        with TenantContext.use_tenant(tenant):
            for i in range(count):
                sent.append((tenant.tenant_id, whoami.delay(f"{tenant.tenant_id}-{i}")))

    threads = [threading.Thread(target=send, args=(t, 100)) for t in (acme, globex)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 200
    for tenant_id, result in sent:
        seen = result.get(timeout=TIMEOUT)
        assert seen["tenant"] == tenant_id
        assert seen["tag"].startswith(f"{tenant_id}-")


def test_plain_task_sees_no_tenant_and_worker_context_is_clean_between_tasks(acme):
    with TenantContext.use_tenant(acme):
        tenant_runs = [whoami.delay(i) for i in range(20)]
        failures = [fail_inside.delay() for _ in range(6)]
    threads = {result.get(timeout=TIMEOUT)["thread"] for result in tenant_runs}
    for failure in failures:
        with pytest.raises(RuntimeError, match="failed inside acme"):
            failure.get(timeout=TIMEOUT)
    with TenantContext.use_tenant(acme):
        plain = [plain_whoami.delay() for _ in range(20)]
    after = [result.get(timeout=TIMEOUT) for result in plain]
    assert {seen["tenant"] for seen in after} == {None}
    # The plain tasks ran on worker threads that had just run acme's tasks.
    assert threads & {seen["thread"] for seen in after}


def test_worker_context_is_none_after_every_task(acme):
    after = []

    def spy(sender=None, **kwargs):
        after.append(TenantContext.get_tenant())

    task_postrun.connect(spy, weak=False)
    try:
        with TenantContext.use_tenant(acme):
            results = [whoami.delay(), fail_inside.delay(), retry_once.delay()]
        results[0].get(timeout=TIMEOUT)
        with pytest.raises(RuntimeError):
            results[1].get(timeout=TIMEOUT)
        results[2].get(timeout=TIMEOUT)
        # task_postrun follows the stored result: wait for the fourth run's.
        deadline = time.monotonic() + TIMEOUT
        while len(after) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        task_postrun.disconnect(spy)
    assert len(after) >= 4  # whoami, fail_inside, retry_once twice
    assert set(after) == {None}


# -- Hooks ------------------------------------------------------------------------------

HOOKS_KEY = "omnitenant-tests:hooks"


def _hook_seen(task, hook):
    """Record (in Redis) and cache (in the active tenant's namespace) that ``hook`` ran."""
    tenant = TenantContext.get_tenant()
    tenant_id = None if tenant is None else tenant.tenant_id
    broker().sadd(HOOKS_KEY, f"{task.request.id}:{hook}:{tenant_id}")
    cache.set(f"hook:{hook}", task.request.id)


class AuditMixin:
    """Hooks from a class that is not a TenantTask: inherited hooks run in the tenant too."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        _hook_seen(self, "on_failure")


class HookedTask(AuditMixin, TenantTask):
    def before_start(self, task_id, args, kwargs):
        _hook_seen(self, "before_start")

    def on_success(self, retval, task_id, args, kwargs):
        _hook_seen(self, "on_success")

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        _hook_seen(self, "on_retry")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        _hook_seen(self, "after_return")


@tenant_task(app=app, base=HookedTask, bind=True, max_retries=2)
def hooked(self, outcome):
    if outcome == "retry" and self.request.retries == 0:
        raise self.retry(countdown=0)
    if outcome == "fail":
        msg = "hooked task failed"
        raise RuntimeError(msg)
    return outcome


def _on_failure_option(self, exc, task_id, args, kwargs, einfo):
    _hook_seen(self, "on_failure_option")


@tenant_task(app=app, on_failure=_on_failure_option)
def hooked_by_option():
    msg = "hooked by option"
    raise RuntimeError(msg)


def wait_for_hooks(task_id, expected):
    """The "hook:tenant" entries recorded for ``task_id`` once ``expected`` are all there."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        seen = {
            m.decode().split(":", 1)[1]
            for m in broker().smembers(HOOKS_KEY)
            if m.decode().startswith(f"{task_id}:")
        }
        if seen >= expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


@pytest.fixture
def _hooks_key():
    broker().delete(HOOKS_KEY)
    yield
    broker().delete(HOOKS_KEY)


@pytest.mark.usefixtures("_hooks_key")
def test_hooks_run_inside_the_tasks_tenant(acme, globex):
    with TenantContext.use_tenant(acme):
        ok = hooked.delay("ok")
        failed = hooked.delay("fail")
    with TenantContext.use_tenant(globex):
        retried = hooked.delay("retry")
    assert ok.get(timeout=TIMEOUT) == "ok"
    with pytest.raises(RuntimeError, match="hooked task failed"):
        failed.get(timeout=TIMEOUT)
    assert retried.get(timeout=TIMEOUT) == "retry"
    ok_hooks = {"before_start:acme", "on_success:acme", "after_return:acme"}
    assert wait_for_hooks(ok.id, ok_hooks) == ok_hooks
    failed_hooks = {"before_start:acme", "on_failure:acme", "after_return:acme"}
    assert wait_for_hooks(failed.id, failed_hooks) == failed_hooks
    retried_hooks = {
        "before_start:globex",
        "on_retry:globex",
        "on_success:globex",
        "after_return:globex",
    }
    assert wait_for_hooks(retried.id, retried_hooks) == retried_hooks
    # Their cache writes landed in each tenant's namespace, none in the shared one.
    assert cache.get("acme:hook:on_failure") == failed.id
    assert cache.get("globex:hook:on_retry") == retried.id
    assert cache.get("hook:on_failure") is None
    assert cache.get("hook:after_return") is None


@pytest.mark.usefixtures("_hooks_key")
def test_hook_passed_as_an_option_runs_inside_the_tenant(acme):
    with TenantContext.use_tenant(acme):
        result = hooked_by_option.delay()
    with pytest.raises(RuntimeError, match="hooked by option"):
        result.get(timeout=TIMEOUT)
    assert wait_for_hooks(result.id, {"on_failure_option:acme"}) == {"on_failure_option:acme"}


@pytest.mark.usefixtures("_hooks_key")
def test_hooks_of_a_refused_task_run_with_no_tenant():
    result = hooked.apply_async(("ok",), tenant="nosuchtenant")
    with pytest.raises(TenantNotFound):
        result.get(timeout=TIMEOUT)
    expected = {"on_failure:None", "after_return:None"}
    assert wait_for_hooks(result.id, expected) == expected


@pytest.mark.usefixtures("_hooks_key")
def test_hooks_run_inside_the_tenant_when_applied_eagerly(acme, globex):
    with TenantContext.use_tenant(globex):
        result = hooked.apply(("ok",), tenant=acme)
        assert TenantContext.get_tenant() is globex
    assert result.get() == "ok"
    expected = {"before_start:acme", "on_success:acme", "after_return:acme"}
    assert wait_for_hooks(result.id, expected) == expected


# -- Explicit tenant --------------------------------------------------------------------


def test_explicit_tenant_overrides_the_active_one(acme, globex):
    with TenantContext.use_tenant(acme):
        as_globex = whoami.apply_async(("g",), tenant=globex)
        by_id = whoami.apply_async(("g2",), tenant="globex")
        as_none = whoami.apply_async(("n",), tenant=None)
        via_set = whoami.s("s").set(tenant="globex").delay()
    assert as_globex.get(timeout=TIMEOUT)["tenant"] == "globex"
    assert by_id.get(timeout=TIMEOUT)["tenant"] == "globex"
    assert as_none.get(timeout=TIMEOUT)["tenant"] is None
    assert via_set.get(timeout=TIMEOUT)["tenant"] == "globex"


@pytest.mark.parametrize("bad", ["Not Valid!", "pg_catalog", "", 42, object()])
def test_explicit_tenant_is_validated_before_sending(bad):
    with pytest.raises(InvalidTenantId):
        whoami.apply_async(tenant=bad)
    with pytest.raises(InvalidTenantId):
        whoami.s().set(tenant=bad)
    assert broker().llen("celery") == 0


def test_plain_task_accepts_an_explicit_tenant_header(acme):
    sent = {}

    def spy(sender=None, headers=None, properties=None, **kwargs):
        sent.update(headers=dict(headers), properties=dict(properties))

    before_task_publish.connect(spy, weak=False)
    try:
        plain_whoami.apply_async(tenant=acme).get(timeout=TIMEOUT)
    finally:
        before_task_publish.disconnect(spy)
    assert sent["headers"][MESSAGE_HEADER] == "acme"
    assert "tenant" not in sent["properties"]


def test_invalid_tenant_sent_by_name_fails_closed_on_the_worker():
    result = app.send_task(whoami.name, tenant="Not Valid!")
    with pytest.raises(InvalidTenantId):
        result.get(timeout=TIMEOUT)


# -- Canvas, retries, countdown ---------------------------------------------------------


def test_chain_keeps_the_tenant_it_was_created_in(acme, globex):
    with TenantContext.use_tenant(acme):
        in_acme = chain(record.s([], "one"), record.s("two"), record.s("three")).delay()
    with TenantContext.use_tenant(globex):
        in_globex = chain(record.s([], "one"), record.s("two")).delay()
    assert in_acme.get(timeout=TIMEOUT) == [["one", "acme"], ["two", "acme"], ["three", "acme"]]
    assert in_globex.get(timeout=TIMEOUT) == [["one", "globex"], ["two", "globex"]]


def test_chain_with_a_plain_first_step_keeps_the_tenant(acme):
    with TenantContext.use_tenant(acme):
        result = chain(plain_whoami.si(), whoami.si("after-plain")).delay()
    assert result.get(timeout=TIMEOUT)["tenant"] == "acme"


def test_group_keeps_the_tenant(acme, globex):
    with TenantContext.use_tenant(acme):
        in_acme = group(whoami.s(i) for i in range(5)).delay()
    with TenantContext.use_tenant(globex):
        in_globex = group(whoami.s(i) for i in range(5)).delay()
    assert {r["tenant"] for r in in_acme.get(timeout=TIMEOUT)} == {"acme"}
    assert {r["tenant"] for r in in_globex.get(timeout=TIMEOUT)} == {"globex"}


def test_chord_keeps_the_tenant_for_header_and_body(acme, globex):
    with TenantContext.use_tenant(acme):
        in_acme = chord(whoami.s(i) for i in range(4))(collect.s())
    with TenantContext.use_tenant(globex):
        in_globex = chord(whoami.s(i) for i in range(3))(collect.s())
    assert in_acme.get(timeout=TIMEOUT) == {"header": ["acme"] * 4, "body": "acme"}
    assert in_globex.get(timeout=TIMEOUT) == {"header": ["globex"] * 3, "body": "globex"}


def test_group_inside_a_chain_keeps_the_tenant(acme):
    with TenantContext.use_tenant(acme):
        result = chain(whoami.si("first"), group(whoami.si(i) for i in range(3))).delay()
    assert {r["tenant"] for r in result.get(timeout=TIMEOUT)} == {"acme"}


def test_link_callback_keeps_the_tenant(acme):
    with TenantContext.use_tenant(acme):
        first = record.apply_async(([], "first"), link=record.s("linked"))
    first.get(timeout=TIMEOUT)
    linked = first.children[0] if first.children else None
    deadline = time.monotonic() + TIMEOUT
    while linked is None and time.monotonic() < deadline:
        time.sleep(0.05)
        first = app.AsyncResult(first.id)
        linked = first.children[0] if first.children else None
    assert linked is not None
    assert linked.get(timeout=TIMEOUT) == [["first", "acme"], ["linked", "acme"]]


def test_reused_signature_does_not_carry_the_first_tenant(acme, globex):
    callback = record.s("linked")
    with TenantContext.use_tenant(acme):
        chain(record.s([], "a"), callback).delay().get(timeout=TIMEOUT)
    assert "tenant" not in callback.options
    with TenantContext.use_tenant(globex):
        result = chain(record.s([], "g"), callback).delay()
    assert result.get(timeout=TIMEOUT) == [["g", "globex"], ["linked", "globex"]]


def test_retry_and_countdown_keep_the_tenant(acme, globex):
    with TenantContext.use_tenant(acme):
        retried = retry_once.delay()
        later = whoami.apply_async(("later",), countdown=0.5)
    with TenantContext.use_tenant(globex):
        retried_globex = retry_once.delay()
    assert retried.get(timeout=TIMEOUT) == {"tenant": "acme", "retries": 1}
    assert retried_globex.get(timeout=TIMEOUT) == {"tenant": "globex", "retries": 1}
    assert later.get(timeout=TIMEOUT)["tenant"] == "acme"


# -- Worker-side safety -----------------------------------------------------------------


def test_deleted_tenant_fails_clearly_and_touches_nothing(acme):
    with TenantContext.use_tenant(acme):
        result = touch.apply_async(countdown=1)
    acme.delete()
    with pytest.raises(TenantNotFound, match="'acme', which does not exist or is inactive"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"
    assert touched() == 0
    with TenantContext.use_tenant(schema_tenant("acme")):
        assert not Note.objects.exists()
    assert cache.get("acme:touched") is None
    assert cache.get("touched") is None


def test_inactive_tenant_fails_clearly_and_touches_nothing(acme, globex):
    acme.is_active = False
    acme.save()
    with TenantContext.use_tenant(acme):
        refused = touch.delay()
    with TenantContext.use_tenant(globex):
        allowed = touch.delay()
    with pytest.raises(TenantNotFound):
        refused.get(timeout=TIMEOUT)
    assert allowed.get(timeout=TIMEOUT) == "globex"
    assert touched() == 1
    with TenantContext.use_tenant(acme):
        assert not Note.objects.exists()
    with TenantContext.use_tenant(globex):
        assert list(Note.objects.values_list("title", flat=True)) == ["touched"]
    assert cache.get("acme:touched") is None
    assert cache.get("globex:touched") is True


def test_unknown_tenant_object_fails_on_the_worker():
    with TenantContext.use_tenant(SimpleNamespace(tenant_id="nobody")):
        result = touch.delay()
    with pytest.raises(TenantNotFound, match="'nobody'"):
        result.get(timeout=TIMEOUT)
    assert touched() == 0


def test_reject_mode_drops_the_message_without_running(settings):
    states = {}

    def spy(sender=None, task_id=None, state=None, **kwargs):
        states[task_id] = state

    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "CELERY_TENANT_NOT_FOUND": "reject"}
    task_postrun.connect(spy, weak=False)
    try:
        result = touch.apply_async(tenant="nobody")
        deadline = time.monotonic() + TIMEOUT
        # The worker stores the outcome after task_postrun: wait for both.
        while not (result.id in states and result.ready()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        task_postrun.disconnect(spy)
    assert states[result.id] == "REJECTED"
    # Rejected, not requeued: the result records the Reject naming the missing tenant.
    assert isinstance(result.result, Reject)
    assert "'nobody'" in repr(result.result)
    assert touched() == 0
    assert broker().llen("celery") == 0  # not requeued


def test_required_tenant_refuses_a_task_sent_without_one(acme):
    result = needs_tenant.delay()
    with pytest.raises(NoTenantActive, match="needs a tenant but was sent with none"):
        result.get(timeout=TIMEOUT)
    with TenantContext.use_tenant(acme):
        assert needs_tenant.delay().get(timeout=TIMEOUT) == "acme"


def test_worker_lookups_are_cached_and_invalidated_like_requests(acme):
    with TenantContext.use_tenant(acme):
        assert tenant_name.delay().get(timeout=TIMEOUT) == "Acme"
        # A change made without signals is not seen: the worker served acme from its cache...
        Tenant.objects.filter(pk=acme.pk).update(name="Acme Corp")
        assert tenant_name.delay().get(timeout=TIMEOUT) == "Acme"
        # ...until the shared version stamp moves, as any save() or delete() does.
        lookup.invalidate()
        assert tenant_name.delay().get(timeout=TIMEOUT) == "Acme Corp"


def test_eager_apply_runs_inside_the_tenant_it_names(acme, globex):
    assert whoami.apply(("e",), tenant=acme).get()["tenant"] == "acme"
    with TenantContext.use_tenant(globex):
        assert whoami.apply(("e",)).get()["tenant"] == "globex"
        assert whoami.apply(("e",), tenant=acme).get()["tenant"] == "acme"
        assert TenantContext.get_tenant() == globex
    missing = touch.apply(tenant="nobody")
    assert isinstance(missing.result, TenantNotFound)
    assert touched() == 0


def test_task_called_directly_runs_in_the_callers_tenant(acme):
    assert whoami("direct")["tenant"] is None
    with TenantContext.use_tenant(acme):
        assert whoami("direct")["tenant"] == "acme"


# -- Fan-out ----------------------------------------------------------------------------


def test_enqueue_for_each_tenant_sends_one_task_per_active_tenant(acme, globex):
    Tenant.objects.create(tenant_id="initech", name="Initech", is_active=False)
    with TenantContext.use_tenant(acme):  # the caller's tenant does not matter
        results = enqueue_for_each_tenant(whoami.s("fan"))
    assert sorted(r.get(timeout=TIMEOUT)["tenant"] for r in results) == ["acme", "globex"]


def test_enqueue_for_each_tenant_of_some_tenants(acme, globex):
    results = enqueue_for_each_tenant(whoami, tenant_ids=["globex"])
    assert [r.get(timeout=TIMEOUT)["tenant"] for r in results] == ["globex"]


@contextlib.contextmanager
def tasks_drained():
    """Yield ``drained()``: wait until every task published meanwhile has finished running.

    The test worker runs in this process, so the tasks it publishes (a fan-out's copies)
    are seen here when they are sent, before the task sending them finishes.
    """
    published, finished = set(), set()

    def on_publish(sender=None, headers=None, **kwargs):
        published.add(headers["id"])

    def on_postrun(sender=None, task_id=None, **kwargs):
        finished.add(task_id)

    def drained():
        deadline = time.monotonic() + TIMEOUT
        while not (published and published <= finished):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    before_task_publish.connect(on_publish, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    try:
        yield drained
    finally:
        before_task_publish.disconnect(on_publish)
        task_postrun.disconnect(on_postrun)


def test_beat_entry_fans_out_to_every_active_tenant(acme, globex):
    Tenant.objects.create(tenant_id="initech", name="Initech", is_active=False)
    entry = ScheduleEntry(
        name="nightly", app=app, **schedule_for_each_tenant(mark, 3600.0, args=["nightly"])
    )
    assert entry.task == "omnitenant.enqueue_for_each_tenant"
    # What beat does at each run: it sends the entry with no tenant active.
    with tasks_drained() as drained:
        Scheduler(app, lazy=True).apply_async(entry)
        # Every task published from now on (the fan-out, and whatever it sends) has run:
        # a stray task for initech or for no tenant would have left its mark.
        assert drained()
    assert {m.decode() for m in broker().smembers(MARKS_KEY)} == {
        "nightly:acme",
        "nightly:globex",
    }


def test_connect_celery_is_idempotent_and_disconnect_stops_the_header(acme):
    connect_celery()
    connect_celery()
    ours = [r for r in before_task_publish.receivers if r[0][0] == "omnitenant.celery.publish"]
    assert len(ours) == 1
    disconnect_celery()
    try:
        with TenantContext.use_tenant(acme):
            # A plain task gets the header only from the publish hook...
            assert plain_whoami.delay().get(timeout=TIMEOUT)["tenant"] is None
            # ...a TenantTask stamps its own, hook or not.
            assert whoami.delay().get(timeout=TIMEOUT)["tenant"] == "acme"
    finally:
        connect_celery()
