"""A database tenant's PostgreSQL server stopped and started while a real server serves requests.

The rig starts a PostgreSQL cluster of its own (tests.servers.postgres) holding tenant
``outage``'s database; tenant ``steady`` is a schema on the shared server. While the cluster
is down, ``outage`` answers 503 with Retry-After (no traceback, no other tenant's rows), the
public host and ``steady`` keep answering; once it is back, ``outage`` answers with every row
it had committed within 2 s.

Also the URLconf the server uses (ROOT_URLCONF = this module).
"""

import json
import threading
import time
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.urls import path

from omnitenant import TenantContext
from omnitenant.provisioning import create_tenant, delete_tenant
from tests.isolation.tenants import PREFIX
from tests.servers.http import database_overrides, serve
from tests.servers.postgres import PostgresCluster
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

ALIAS = f"{PREFIX}_outage"
HEADER = "X-Tenant-ID"
RECOVERY = 2.0  # seconds after the server is back
OUTAGE_HOST, STEADY_HOST, PUBLIC_HOST = "outage.example.com", "steady.example.com", "example.com"


def notes(request):
    """The active tenant's note titles (``?add=title`` writes one first); on no tenant, rows."""
    tenant = TenantContext.get_tenant()
    if tenant is None:
        ids = Tenant.objects.filter(tenant_id__in=["outage", "steady"]).values_list("tenant_id")
        return JsonResponse({"tenant": None, "tenants": sorted(i for (i,) in ids)})
    if "add" in request.GET:
        Note.objects.create(title=request.GET["add"])
    titles = list(Note.objects.values_list("title", flat=True))
    return JsonResponse({"tenant": tenant.tenant_id, "notes": titles})


def missing_table(request):
    """An OperationalError on a working connection: SQLite's "no such table"."""
    with connections["scratch"].cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    return JsonResponse({"ok": True})


urlpatterns = [path("notes/", notes), path("missing-table/", missing_table)]

# What the server logs, with its level, in its output.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"omnitenant": {"handlers": ["stderr"], "level": "INFO"}},
}

# The test database must exist; the rows the server reads are committed by the fixtures.
pytestmark = pytest.mark.django_db


def add_alias(alias, entry):
    """Make ``alias`` a database of this process, as if it were in DATABASES."""
    connections.settings[alias] = connections.configure_settings(
        {"default": connections.settings["default"], alias: entry}
    )[alias]


def remove_alias(alias):
    connections[alias].close()
    connections.settings.pop(alias, None)


@pytest.fixture(scope="module")
def cluster():
    rig = PostgresCluster().create()
    yield rig
    rig.remove()


@pytest.fixture(scope="module")
def tenants(cluster, django_db_setup, django_db_blocker):
    """``outage`` (a database on the rig cluster) and ``steady`` (a schema), provisioned."""
    add_alias(ALIAS, cluster.settings(ALIAS))
    with django_db_blocker.unblock():
        made = {
            "outage": create_tenant("outage", "Outage", isolation_type="database", db_alias=ALIAS),
            "steady": create_tenant("steady", "Steady"),
        }
        for tenant in made.values():
            with TenantContext.use_tenant(tenant):
                Note.objects.create(title=f"{tenant.tenant_id}-first")
        connections[ALIAS].close()
    yield made
    with django_db_blocker.unblock():
        cluster.ensure_running()
        for tenant in made.values():
            delete_tenant(tenant, drop_data=True)
    remove_alias(ALIAS)


@pytest.fixture(
    scope="module",
    params=[("gunicorn", 0), ("gunicorn", 60), ("uvicorn", 60)],
    ids=lambda param: f"{param[0]}-CONN_MAX_AGE={param[1]}",
)
def server(request, cluster, tenants, django_db_blocker):
    """A server for both tenants; with CONN_MAX_AGE=60 it keeps its rig connection open."""
    kind, conn_max_age = request.param
    with django_db_blocker.unblock():
        databases = database_overrides()["DATABASES"]
    databases[ALIAS] = {**cluster.settings(ALIAS), "CONN_MAX_AGE": conn_max_age}
    databases["scratch"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    overrides = {
        "DATABASES": databases,
        "ROOT_URLCONF": __name__,
        "OMNITENANT_CONFIG": {**settings.OMNITENANT_CONFIG, "TENANT_HEADER": HEADER},
        "LOGGING": LOGGING,
    }
    with serve(kind, overrides) as client:
        yield client


def answer(server, host, add=None):
    """(status, Retry-After, whether it varies on HEADER, JSON or raw body) of GET /notes/."""
    response = server.get("/notes/" + (f"?add={quote(add)}" if add else ""), host)
    try:
        body = json.loads(response.body)
    except ValueError:
        body = response.body
    vary = [name.strip().lower() for name in (response.getheader("Vary") or "").split(",")]
    return response.status, response.getheader("Retry-After"), HEADER.lower() in vary, body


def expected(tenant_id, titles):
    return {"tenant": tenant_id, "notes": titles}


def assert_unavailable(status, retry_after, varies, body):
    assert status == 503
    assert varies
    assert retry_after is not None
    assert int(retry_after) > 0
    assert isinstance(body, bytes)
    text = body.decode().lower()
    for leak in ("traceback", "operationalerror", "connection", "127.0.0.1", "steady", "outage"):
        assert leak not in text


@pytest.mark.parametrize("fault", ["stop", "kill"])
def test_tenant_answers_503_while_its_database_is_down_and_recovers(server, cluster, fault):
    cluster.ensure_running()
    status, _, _, body = answer(server, OUTAGE_HOST, add=f"before-{fault}-{time.monotonic_ns()}")
    assert status == 200
    committed = body["notes"]
    assert committed[0] == "outage-first"
    steady = expected("steady", ["steady-first"])
    public = {"tenant": None, "tenants": ["outage", "steady"]}

    # Requests keep arriving while the server goes down and comes back.
    seen, done = [], threading.Event()

    def hammer():
        while not done.is_set():
            for host in (OUTAGE_HOST, STEADY_HOST, PUBLIC_HOST):
                seen.append((host, *answer(server, host)))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        getattr(cluster, fault)()
        for _ in range(5):
            assert_unavailable(*answer(server, OUTAGE_HOST))
            assert answer(server, STEADY_HOST) == (200, None, True, steady)
            assert answer(server, PUBLIC_HOST) == (200, None, True, public)
        cluster.start()
        back = time.monotonic()
        while (status := answer(server, OUTAGE_HOST))[0] != 200:
            assert_unavailable(*status)
            assert time.monotonic() - back < RECOVERY, "the tenant did not recover in time"
        assert status == (200, None, True, expected("outage", committed))
    finally:
        done.set()
        thread.join(30)

    for host, *seen_answer in seen:
        if host == OUTAGE_HOST and seen_answer[0] == 503:
            assert_unavailable(*seen_answer)
        else:
            want = {OUTAGE_HOST: expected("outage", committed), STEADY_HOST: steady}
            assert seen_answer == [200, None, True, want.get(host, public)], host
    assert any(host == OUTAGE_HOST and status == 503 for host, status, *_ in seen)
    for _ in range(3):  # and it stays up: no broken connection left behind
        assert answer(server, OUTAGE_HOST) == (200, None, True, expected("outage", committed))
    logged = server.log.read_text()
    assert "WARNING omnitenant.middleware Database unavailable for tenant 'outage'" in logged


def test_operational_error_on_a_working_connection_stays_a_server_error(server):
    response = server.get("/missing-table/", STEADY_HOST)
    assert response.status == 500
    assert response.getheader("Retry-After") is None
