"""Each statement runs in the schema of the tenant active when it executes, or fails closed."""

import contextlib
import threading

import psycopg
import pytest
from django.db import DataError, IntegrityError, connection, connections, transaction
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path
from django_tenants.utils import schema_context, tenant_context
from psycopg import sql

from omnitenant import lookup
from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, TenantNotProvisioned
from omnitenant.isolation import search_path
from omnitenant.provisioning import deprovision_tenant, migrate_tenant, provision_tenant
from omnitenant.testing import create_tenant_row
from tests.isolation.tenants import schema_tenant
from tests.tenantapp.models import Note

pytestmark = pytest.mark.django_db(databases="__all__")


def titles(cursor):
    cursor.execute("SELECT title FROM tenantapp_note ORDER BY id")
    return [title for (title,) in cursor.fetchall()]


# --- a cursor follows the tenant of the moment it executes ------------------------------------


def test_a_cursor_opened_in_acme_and_executed_in_globex_reads_globex(acme, globex):
    with TenantContext.use_tenant(acme):
        Note.objects.create(title="acme")
        cursor = connection.cursor()
    with TenantContext.use_tenant(globex):
        Note.objects.create(title="globex")
        assert titles(cursor) == ["globex"]
    with TenantContext.use_tenant(acme):
        assert titles(cursor) == ["acme"]
    cursor.close()


def test_a_generator_holding_a_cursor_reads_the_tenant_of_each_step(acme, globex):
    for tenant in (acme, globex):
        with TenantContext.use_tenant(tenant):
            Note.objects.create(title=tenant.tenant_id)

    def reader():
        with connection.cursor() as cursor:
            while True:
                yield titles(cursor)

    with TenantContext.use_tenant(acme):
        steps = reader()
        assert next(steps) == ["acme"]
    with TenantContext.use_tenant(globex):
        assert next(steps) == ["globex"]
    steps.close()


def test_executemany_and_copy_run_in_the_active_tenant(acme, globex):
    with TenantContext.use_tenant(acme), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO tenantapp_note (title, body) VALUES (%s, '')", [("a1",), ("a2",)]
        )
        with cursor.cursor.copy("COPY tenantapp_note (title, body) FROM STDIN") as copy:
            copy.write_row(("a3", ""))
    with TenantContext.use_tenant(globex):
        assert Note.objects.count() == 0
    with TenantContext.use_tenant(acme):
        assert list(Note.objects.values_list("title", flat=True)) == ["a1", "a2", "a3"]


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_named_cursor_in_autocommit_reads_the_active_tenant(acme, globex, wipe_notes):
    with TenantContext.use_tenant(acme):
        Note.objects.bulk_create(Note(title=f"acme-{i}") for i in range(3))
    with TenantContext.use_tenant(globex):
        Note.objects.create(title="globex")
        assert [n.title for n in Note.objects.iterator(chunk_size=1)] == ["globex"]
    with TenantContext.use_tenant(acme):
        assert len(list(Note.objects.iterator(chunk_size=1))) == 3


# --- an aborted transaction can still be rolled back -------------------------------------------


@pytest.mark.parametrize("tenant_id", ["acme", None])
def test_a_savepoint_rolls_back_after_an_error(tenants, tenant_id):
    with TenantContext.use_tenant(tenants.get(tenant_id)), transaction.atomic():
        savepoint = connection.savepoint()
        with connection.cursor() as cursor:
            with pytest.raises(DataError):
                cursor.execute("SELECT 1/0")
            connection.savepoint_rollback(savepoint)
            cursor.execute("SELECT 2")
            assert cursor.fetchone() == (2,)
            with pytest.raises(DataError):
                cursor.execute("SELECT 1/0")
            # Not text: known as transaction control only by the aborted transaction.
            cursor.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(sql.Identifier(savepoint)))
            cursor.execute("SELECT 3")
            assert cursor.fetchone() == (3,)


def test_a_nested_atomic_catching_an_integrity_error_keeps_the_outer_block(acme):
    with TenantContext.use_tenant(acme), transaction.atomic():
        Note.objects.create(pk=1, title="first")
        try:
            with transaction.atomic():
                Note.objects.create(pk=1, title="again")
        except IntegrityError:
            pass
        assert list(Note.objects.values_list("title", flat=True)) == ["first"]


def test_a_nested_atomic_catching_an_integrity_error_with_no_tenant():
    with TenantContext.use_tenant(None), transaction.atomic():
        create_tenant_row("twice")
        try:
            with transaction.atomic():
                create_tenant_row("twice")
        except IntegrityError:
            pass
        assert lookup.get_tenant_model()._default_manager.filter(tenant_id="twice").count() == 1


# --- statements outside a transaction block ---------------------------------------------------


def session_search_path():
    """The server session's own path, read past the tenant cursor."""
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY note_title ON tenantapp_note (title)",
        "  /* a comment */ -- and another\n create unique index concurrently note_title"
        " ON tenantapp_note (title, id)",
    ],
)
def test_a_concurrent_index_leaves_no_tenant_path_on_the_session(acme, statement):
    try:
        with TenantContext.use_tenant(acme), connection.cursor() as cursor:
            cursor.execute(statement)
            cursor.execute("REINDEX (VERBOSE) INDEX CONCURRENTLY note_title")
            cursor.execute("SELECT to_regclass('\"acme\".note_title') IS NOT NULL")
            assert cursor.fetchone() == (True,)
            assert "acme" not in session_search_path()
        assert "acme" not in session_search_path()
    finally:
        with TenantContext.use_tenant(acme), connection.cursor() as cursor:
            cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS note_title")
        assert "acme" not in session_search_path()


# --- django-tenants' own switch ---------------------------------------------------------------


def test_django_tenants_schema_context_to_another_tenant_raises(acme, globex):
    with TenantContext.use_tenant(acme):
        with schema_context(globex.tenant_id), pytest.raises(IsolationError) as caught:
            Note.objects.count()
        assert "use TenantContext.use_tenant(tenant)" in str(caught.value)
        assert "switched to schema 'globex'" in str(caught.value)
        assert Note.objects.count() == 0  # left: the connection follows the context again
        with schema_context(acme.tenant_id):  # the same schema is harmless
            assert Note.objects.count() == 0


def test_set_schema_and_tenant_context_to_another_schema_raise(acme, globex):
    from types import SimpleNamespace

    elsewhere = tenant_context(SimpleNamespace(schema_name="globex"))
    with TenantContext.use_tenant(acme), elsewhere, pytest.raises(IsolationError):
        Note.objects.count()
    with TenantContext.use_tenant(None):
        previous = connection.tenant
        connection.set_schema("globex")
        try:
            with pytest.raises(IsolationError, match="while no tenant is active"):
                connection.cursor().execute("SELECT 1")
        finally:
            connection.set_tenant(previous)


def test_server_side_binding_is_refused_at_connection_time():
    default = connections["default"]
    settings_dict = {**default.settings_dict, "OPTIONS": {"server_side_binding": True}}
    wrapper = type(default)(settings_dict, "default")
    with pytest.raises(IsolationError, match="server_side_binding"):
        search_path.install(wrapper)


# --- tenant tables never resolve to public ----------------------------------------------------


@pytest.fixture
def public_notes(acme, django_db_blocker):
    """A public copy of the tenant table, as an app in TENANT_APPS and SHARED_APPS has."""
    with TenantContext.use_tenant(None), connection.cursor() as cursor:
        cursor.execute('CREATE TABLE public.tenantapp_note (LIKE "acme".tenantapp_note)')
        cursor.execute("INSERT INTO public.tenantapp_note VALUES (1, 'public secret', '')")
    search_path.forget_provisioned()  # as migrating the public schema does
    yield
    with TenantContext.use_tenant(None), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS public.tenantapp_note")
    search_path.forget_provisioned()


def test_unprovisioned_tenant_is_refused_not_given_public_rows(public_notes):
    with TenantContext.use_tenant(schema_tenant("nowhere")):
        with pytest.raises(TenantNotProvisioned, match="provision_tenant nowhere"):
            Note.objects.count()
        with pytest.raises(TenantNotProvisioned):
            connection.cursor().execute("SELECT 1")


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_tenant_created_without_migrations_is_refused(public_notes):
    bare = schema_tenant("bare")
    provision_tenant(bare, migrate=False)
    try:
        with TenantContext.use_tenant(bare), pytest.raises(TenantNotProvisioned) as caught:
            list(Note.objects.all())
        assert "lacks tenantapp_note" in str(caught.value)
        assert "tenant_command migrate --tenant bare" in str(caught.value)
    finally:
        deprovision_tenant(bare, drop_data=True)


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_tenant_not_yet_migrated_for_an_app_is_refused(public_notes):
    late = schema_tenant("late")
    provision_tenant(late)
    try:
        with TenantContext.use_tenant(late):
            assert Note.objects.count() == 0
        migrate_tenant(late, app_label="tenantapp", migration_name="zero", verbosity=0)
        with TenantContext.use_tenant(late), pytest.raises(TenantNotProvisioned):
            Note.objects.count()
    finally:
        deprovision_tenant(late, drop_data=True)


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_schema_dropped_while_work_runs_fails_the_next_statement(public_notes):
    doomed = schema_tenant("doomed")
    provision_tenant(doomed)
    first_done, dropped = threading.Event(), threading.Event()
    seen = {}

    def work():
        try:
            with TenantContext.use_tenant(doomed):
                seen["first"] = Note.objects.count()
                first_done.set()
                dropped.wait(timeout=10)
                try:
                    seen["second"] = list(Note.objects.values_list("title", flat=True))
                except TenantNotProvisioned as exc:
                    seen["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert first_done.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute('DROP SCHEMA "doomed" CASCADE')
        dropped.set()
        thread.join()
    finally:
        dropped.set()
        deprovision_tenant(doomed, drop_data=True)
    assert seen["first"] == 0
    assert "second" not in seen
    assert "does not exist" in str(seen["error"])


@contextlib.contextmanager
def catalog_checks(tmp_path):
    """Count the provisioning catalog queries the default connection sends (libpq's trace)."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    trace = tmp_path / "libpq.trace"
    counted = []
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        try:
            yield counted
        finally:
            pgconn.untrace()
    counted.append(trace.read_text().count("), EXISTS("))


def count_notes(tenant):
    with TenantContext.use_tenant(tenant):
        return Note.objects.count()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_complete_schema_is_checked_once_until_a_schema_is_provisioned(acme, tmp_path):
    search_path.forget_provisioned()
    count_notes(acme)
    with catalog_checks(tmp_path) as checks:
        row = create_tenant_row("saved")  # moves every process' lookups
        row.name = "Saved again"
        row.save()
        lookup.invalidate()
        count_notes(acme)
    assert checks == [0]
    fresh = schema_tenant("fresh")
    provision_tenant(fresh)
    try:
        with catalog_checks(tmp_path) as checks:
            count_notes(acme)
            count_notes(acme)
        assert checks == [1]
    finally:
        deprovision_tenant(fresh, drop_data=True)
        row.delete()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_missing_schema_is_remembered_briefly(public_notes, tmp_path, monkeypatch):
    late = schema_tenant("late")
    with catalog_checks(tmp_path) as checks:
        for _ in range(3):
            with pytest.raises(TenantNotProvisioned):
                count_notes(late)
    assert checks == [1]
    search_path.forget_provisioned()
    monkeypatch.setattr(search_path, "NOT_PROVISIONED_TTL", 0.0)
    with catalog_checks(tmp_path) as checks:
        for _ in range(2):
            with pytest.raises(TenantNotProvisioned):
                count_notes(late)
    assert checks == [2]  # expired at once: each statement checks again
    provision_tenant(late)
    try:
        assert count_notes(late) == 0  # provisioning forgets the refusal at once
    finally:
        deprovision_tenant(late, drop_data=True)


def notes_view(request):
    return HttpResponse(",".join(Note.objects.values_list("title", flat=True)))


urlpatterns = [path("notes/", notes_view)]


@override_settings(ROOT_URLCONF=__name__)
def test_an_unprovisioned_tenant_answers_503_with_retry_after(public_notes):
    create_tenant_row("nowhere", domains=["nowhere.example.com"])
    response = Client(headers={"host": "nowhere.example.com"}).get("/notes/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert b"public secret" not in response.content
