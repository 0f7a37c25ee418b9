import contextvars
import threading

import psycopg
import pytest
from django.db import ProgrammingError, connection

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, NoTenantActive
from tests.isolation.tenants import schema_tenant
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(databases="__all__")


def test_rows_written_in_acme_are_invisible_in_globex(acme, globex):
    with TenantContext.use_tenant(acme):
        Note.objects.create(title="acme secret")
    with TenantContext.use_tenant(globex):
        assert not Note.objects.filter(title="acme secret").exists()
        assert Note.objects.count() == 0
        assert Note.objects.filter(title="acme secret").update(body="x") == 0
        assert Note.objects.all().delete()[0] == 0
    with TenantContext.use_tenant(acme):
        assert list(Note.objects.values_list("title", "body")) == [("acme secret", "")]


def test_tenant_model_without_tenant_raises_no_tenant_active(acme):
    with TenantContext.use_tenant(acme):
        Note.objects.create(title="acme")
    with pytest.raises(NoTenantActive, match=r"tenantapp.Note is a tenant model and no tenant"):
        Note.objects.count()
    with TenantContext.use_tenant(acme), TenantContext.use_tenant(None):
        with pytest.raises(NoTenantActive):
            list(Note.objects.all())
        with pytest.raises(NoTenantActive):
            Note.objects.create(title="public")


def test_shared_models_are_readable_inside_a_schema_tenant(acme):
    Tenant.objects.create(tenant_id="acme", name="Acme")
    with TenantContext.use_tenant(acme):
        assert Tenant.objects.get().name == "Acme"
        Tenant.objects.create(tenant_id="globex", name="Globex")
    assert sorted(Tenant.objects.values_list("tenant_id", flat=True)) == ["acme", "globex"]


def fail_in_public():
    with TenantContext.use_tenant(None):
        assert connection.schema_name == "public"
        1 / 0


def test_activation_and_deactivation_switch_the_connection_schema(acme, globex):
    assert connection.schema_name == "public"
    with TenantContext.use_tenant(acme):
        assert connection.schema_name == "acme"
        with TenantContext.use_tenant(globex):
            assert connection.schema_name == "globex"
        assert connection.schema_name == "acme"
        with pytest.raises(ZeroDivisionError):
            fail_in_public()
        assert connection.schema_name == "acme"
    assert connection.schema_name == "public"


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_the_schema_travels_with_each_statement_and_never_stays_on_the_session(
    acme, globex, wipe_notes
):
    from django.test.utils import CaptureQueriesContext

    def session_path():
        with psycopg.ClientCursor(connection.connection) as raw:  # not omnitenant's cursor
            raw.execute("SHOW search_path")
            return raw.fetchone()[0]

    connection.ensure_connection()
    before = session_path()
    with TenantContext.use_tenant(acme):
        Note.objects.create(title="acme")
        with CaptureQueriesContext(connection) as queries:
            assert Note.objects.count() == 1
        with TenantContext.use_tenant(globex):
            assert Note.objects.count() == 0
    assert len(queries) == 1  # no statement of its own for the switch
    assert session_path() == before


def test_unprovisioned_schema_tenant_cannot_read_anything():
    with (
        TenantContext.use_tenant(schema_tenant("nowhere")),
        pytest.raises(ProgrammingError, match='relation "tenantapp_note" does not exist'),
    ):
        Note.objects.count()


def test_tenant_named_like_the_public_schema_is_refused():
    with (
        pytest.raises(IsolationError, match="'public' cannot use schema isolation"),
        TenantContext.use_tenant(schema_tenant("public")),
    ):
        pass
    assert connection.schema_name == "public"


def test_only_engines_that_switch_schemas_are_synced():
    from omnitenant.isolation import schema

    assert schema._engine_switches_schemas("django_tenants.postgresql_backend")
    assert not schema._engine_switches_schemas("django.db.backends.postgresql")
    assert not schema._engine_switches_schemas("django.db.backends.sqlite3")


# --- threads that inherit a tenant (sync views under ASGI) ----------------------------------


def test_raw_cursor_in_a_thread_that_inherited_the_tenant_uses_its_schema(acme, globex):
    # Under ASGI the tenant is entered on the event loop's thread, and sync_to_async runs the
    # sync view on a worker thread with a copy of that context: the worker thread's
    # connection is never told, and still points at the last request's schema.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def in_context(tenant):
        with TenantContext.use_tenant(tenant):
            return contextvars.copy_context()

    def raw_schema():
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            return cursor.fetchone()[0]

    with ThreadPoolExecutor(max_workers=1) as worker:
        try:
            assert worker.submit(in_context(acme).run, Note.objects.count).result() == 0
            assert worker.submit(in_context(acme).run, raw_schema).result() == "acme"
            # The same thread serves globex next, with only raw SQL: never acme's schema.
            assert worker.submit(in_context(globex).run, raw_schema).result() == "globex"
            assert worker.submit(in_context(None).run, raw_schema).result() == "public"
        finally:
            worker.submit(connections.close_all).result()


def test_first_raw_cursor_of_a_new_connection_uses_the_inherited_schema(acme):
    from django.db import connections

    def raw_schema():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT current_schema()")
                return cursor.fetchone()[0]
        finally:
            connections.close_all()

    result = []
    context = None
    with TenantContext.use_tenant(acme):
        context = contextvars.copy_context()
    thread = threading.Thread(target=lambda: result.append(context.run(raw_schema)))
    thread.start()
    thread.join()
    assert result == ["acme"]
