"""The Celery app of the tests, set up as a Django project does (proj/celery.py + tasks)."""

import threading

import redis
from celery import Celery, shared_task
from django.conf import settings
from django.core.cache import cache

from omnitenant import TenantContext
from omnitenant.celery import tenant_task
from tests.tenantapp.models import Note

app = Celery("omnitenant_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")

TOUCHED_KEY = "omnitenant-tests:touched"


def broker() -> redis.Redis:
    """A client on the broker's Redis database (queue lengths, side-effect counters)."""
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _tenant_id():
    tenant = TenantContext.get_tenant()
    return None if tenant is None else tenant.tenant_id


@tenant_task
def whoami(tag=None):
    """The tenant this task ran in, and the worker thread it ran on."""
    return {"tag": tag, "tenant": _tenant_id(), "thread": threading.get_ident()}


@shared_task
def plain_whoami():
    """A task that is not tenant-aware: it must always see no tenant on the worker."""
    return {"tenant": _tenant_id(), "thread": threading.get_ident()}


@tenant_task
def record(steps, label):
    """A chain step: append (label, tenant) to what the previous steps recorded."""
    return [*steps, [label, _tenant_id()]]


@tenant_task
def collect(results):
    """A chord body: the tenants its header tasks saw, and its own."""
    return {"header": sorted(r["tenant"] for r in results), "body": _tenant_id()}


@tenant_task(bind=True, max_retries=3)
def retry_once(self):
    """Retry once with a countdown, then report the tenant of each attempt."""
    if self.request.retries == 0:
        raise self.retry(countdown=0.2)
    return {"tenant": _tenant_id(), "retries": self.request.retries}


@tenant_task
def fail_inside():
    """Raise from inside the tenant (the worker must still clear the context)."""
    msg = f"failed inside {_tenant_id()}"
    raise RuntimeError(msg)


@tenant_task
def touch():
    """Write a note and a cache entry and count it, so a test can prove the body never ran."""
    broker().incr(TOUCHED_KEY)
    Note.objects.create(title="touched")
    cache.set("touched", True)
    return _tenant_id()


@tenant_task
def write_note(title):
    """Store a note (in the tenant's schema) and remember its title in the cache."""
    Note.objects.create(title=title)
    cache.set("last_note", title)
    return _tenant_id()


@tenant_task
def read_tenant_data():
    """The notes and the cached title this task can see (no notes table with no tenant)."""
    notes = None
    if TenantContext.get_tenant() is not None:
        notes = list(Note.objects.values_list("title", flat=True))
    return {"tenant": _tenant_id(), "notes": notes, "cache": cache.get("last_note")}


@tenant_task
def tenant_name():
    """The name of the tenant object the worker activated."""
    return TenantContext.get_tenant().name


@tenant_task(required=True)
def needs_tenant():
    return _tenant_id()


MARKS_KEY = "omnitenant-tests:marks"


@tenant_task
def mark(label):
    """Add "label:tenant" to a Redis set (the fan-out tests read it)."""
    broker().sadd(MARKS_KEY, f"{label}:{_tenant_id()}")
