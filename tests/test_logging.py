"""omnitenant.logging: tenant ids on log records, sentry-sdk tags and OpenTelemetry spans."""

import io
import logging
import logging.config
import threading
from types import SimpleNamespace

import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for start_worker
import pytest
import sentry_sdk
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_sdk.transport import Transport

from omnitenant import TenantContext, lookup
from omnitenant.logging import TenantFilter
from omnitenant.testing import TenantClient
from tests.celery_app import app, log_line
from tests.testapp.models import Domain, Tenant

ACME = SimpleNamespace(tenant_id="acme")
GLOBEX = SimpleNamespace(tenant_id="globex")


class Records(logging.Handler):
    """Keeps (tenant_id, message) of every record, after TenantFilter ran."""

    def __init__(self):
        super().__init__()
        self.addFilter(TenantFilter())
        self.seen = []
        self.guard = threading.Lock()

    def emit(self, record):
        with self.guard:
            self.seen.append((record.tenant_id, record.getMessage()))


@pytest.fixture
def records():
    """A handler with TenantFilter on the loggers the tests write to."""
    handler = Records()
    names = ["django.request", "tests.celery_app", "tests.testapp.management.commands.show_tenant"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_filter_adds_the_tenant_id_or_a_dash(records):
    logger = logging.getLogger("tests.celery_app")
    logger.warning("outside")
    with TenantContext.use_tenant(ACME):
        logger.warning("in acme")
        with TenantContext.use_tenant(GLOBEX):
            logger.warning("in globex")
        with TenantContext.use_tenant(None):
            logger.warning("public")
    assert records.seen == [
        ("-", "outside"),
        ("acme", "in acme"),
        ("globex", "in globex"),
        ("-", "public"),
    ]


def test_filter_is_usable_from_logging_settings():
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"tenant": {"()": "omnitenant.logging.TenantFilter"}},
            "formatters": {"plain": {"format": "[%(tenant_id)s] %(message)s"}},
            "handlers": {
                "mem": {
                    "class": "logging.StreamHandler",
                    "stream": stream,
                    "filters": ["tenant"],
                    "formatter": "plain",
                }
            },
            "loggers": {"omnitenant.tests.dictconfig": {"handlers": ["mem"], "level": "INFO"}},
        }
    )
    logger = logging.getLogger("omnitenant.tests.dictconfig")
    try:
        with TenantContext.use_tenant(ACME):
            logger.info("hello")
        logger.info("bye")
    finally:
        logger.handlers.clear()
    assert stream.getvalue() == "[acme] hello\n[-] bye\n"


@pytest.mark.django_db
def test_records_of_a_request_carry_its_tenant(records):
    lookup.invalidate()
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    Domain.objects.create(domain="acme.example.com", tenant=acme, is_primary=True)
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    Domain.objects.create(domain="globex.example.com", tenant=globex, is_primary=True)
    for tenant in (acme, globex):
        response = TenantClient(tenant, raise_request_exception=False).get("/boom/")
        assert response.status_code == 500
    lookup.invalidate()
    assert records.seen == [
        ("acme", "Internal Server Error: /boom/"),
        ("globex", "Internal Server Error: /boom/"),
    ]


@pytest.mark.django_db
def test_records_of_a_tenant_command_carry_its_tenant(records):
    Tenant.objects.create(tenant_id="acme", name="Acme")
    Tenant.objects.create(tenant_id="globex", name="Globex")
    for tenant_id in ("acme", "globex"):
        call_command("tenant_command", "show_tenant", "--tenant", tenant_id, stdout=io.StringIO())
    call_command("show_tenant", stdout=io.StringIO())
    assert records.seen == [
        ("acme", "show_tenant ran"),
        ("globex", "show_tenant ran"),
        ("-", "show_tenant ran"),
    ]


@pytest.mark.django_db(transaction=True)
def test_records_of_a_celery_task_carry_its_tenant(records):
    Tenant.objects.create(tenant_id="acme", name="Acme")
    Tenant.objects.create(tenant_id="globex", name="Globex")
    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, shutdown_timeout=30):
        results = []
        for tenant in (ACME, GLOBEX, None):
            with TenantContext.use_tenant(tenant):
                results.append(log_line.delay(f"task for {tenant and tenant.tenant_id}"))
        for result in results:
            result.get(timeout=20)
    assert sorted(records.seen) == [
        ("-", "task for None"),
        ("acme", "task for acme"),
        ("globex", "task for globex"),
    ]


# --- sentry-sdk ---------------------------------------------------------------------------------


class KeepEvents(Transport):
    """A sentry-sdk transport that keeps the events instead of sending them."""

    def __init__(self, options=None):
        super().__init__(options)
        self.events = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            event = item.get_event()
            if event is not None:
                self.events.append(event)


@pytest.fixture
def sentry():
    transport = KeepEvents()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=transport,
        default_integrations=False,
        auto_enabling_integrations=False,
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def test_sentry_events_carry_the_tenant_tag(sentry):
    with sentry_sdk.isolation_scope():
        with TenantContext.use_tenant(ACME):
            sentry_sdk.capture_message("in acme")
            with TenantContext.use_tenant(GLOBEX):
                sentry_sdk.capture_message("in globex")
            sentry_sdk.capture_message("acme again")
        sentry_sdk.capture_message("outside")
    tags = [(event["message"], event.get("tags", {}).get("tenant")) for event in sentry.events]
    assert tags == [
        ("in acme", "acme"),
        ("in globex", "globex"),
        ("acme again", "acme"),
        ("outside", None),
    ]


# --- OpenTelemetry ------------------------------------------------------------------------------


def test_current_span_gets_the_tenant_attribute():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(__name__)
    with (
        tracer.start_as_current_span("request acme"),
        TenantContext.use_tenant(ACME),
        tracer.start_as_current_span("inner"),
    ):
        pass
    with tracer.start_as_current_span("request globex"), TenantContext.use_tenant(GLOBEX):
        pass
    with tracer.start_as_current_span("public"):
        pass
    provider.shutdown()
    attributes = {
        span.name: span.attributes.get("tenant.id") for span in exporter.get_finished_spans()
    }
    assert attributes == {
        "request acme": "acme",
        "inner": None,
        "request globex": "globex",
        "public": None,
    }
