"""A tenant's life: created, provisioned, deleted, its id reused; nothing passes between."""

import contextlib
import io
import os
import shutil
import sqlite3
import uuid
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, connections
from django.db.models.signals import pre_delete
from django.template import Context, Template
from django_tenants.utils import schema_exists

from omnitenant import TenantContext
from omnitenant.exceptions import IsolationError, TenantNotProvisioned
from omnitenant.isolation import aside, database
from omnitenant.isolation import schema as schema_isolation
from omnitenant.lookup import invalidate
from omnitenant.provisioning import cleanup_orphans, deprovision_tenant, kept_data
from tests.isolation.tenants import PREFIX, sqlite_tenant
from tests.isolation.tenants import schema_tenant as schema_isolation_tenant
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

SQLITE_IDS = ("lcpied", "lcraviga")
CACHE_ALIASES = ("default", "locmem", "redis", "memcached", "file")


@pytest.fixture(scope="module", autouse=True)
def sqlite_aliases(django_db_setup, django_db_blocker):
    """Register the SQLite tenants' aliases before the test cases start, so they may query them."""
    tenants = [sqlite_tenant(tenant_id) for tenant_id in SQLITE_IDS]
    with django_db_blocker.unblock():
        for tenant in tenants:
            deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
            database.register(tenant)
        yield
        for tenant in tenants:
            deprovision_tenant(tenant, drop_data=True)


@pytest.fixture(autouse=True)
def clean():
    remove_test_data()  # also what other test modules left under these ids
    yield
    remove_test_data()


def remove_test_data():
    invalidate()  # the flush after each test sends no signals: forget the looked-up rows
    for tenant_id in ("acme", "lazy"):
        deprovision_tenant(
            SimpleNamespace(tenant_id=tenant_id, isolation_type="schema"), drop_data=True
        )
    for entry in kept_data():
        if entry["kind"] == "schema":
            schema_isolation.drop_named(entry["name"])
        elif entry["tenant_id"] in SQLITE_IDS:
            database.drop_named(connections[f"{PREFIX}_{SQLITE_IDS[0]}"], entry["name"])
    for tenant in (sqlite_tenant(tenant_id) for tenant_id in SQLITE_IDS):
        deprovision_tenant(tenant, drop_data=True)
        database.register(tenant)  # the next test case may query it


def command(name, *args, **options):
    out = io.StringIO()
    call_command(name, *args, stdout=out, **options)
    return out.getvalue()


FRAGMENT = Template("{% load cache %}{% cache 600 greeting run %}{{ text }}{% endcache %}")


def write_everything(tenant_id, text):
    tenant = Tenant.objects.get(tenant_id=tenant_id)
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title=text)
        for alias in CACHE_ALIASES:
            caches[alias].set("settings", text)
        return FRAGMENT.render(Context({"text": text, "run": RUN}))


def read_everything(tenant_id):
    tenant = Tenant.objects.get(tenant_id=tenant_id)
    with TenantContext.use_tenant(tenant):
        return (
            list(Note.objects.values_list("title", flat=True)),
            {alias: caches[alias].get("settings") for alias in CACHE_ALIASES},
            FRAGMENT.render(Context({"text": "fresh", "run": RUN})),
        )


RUN = uuid.uuid4().hex  # fragments of other test runs' tenants named acme stay apart
NOTHING = ([], dict.fromkeys(CACHE_ALIASES), "fresh")


@pytest.mark.parametrize("drop", [False, True], ids=["kept", "dropped"])
@pytest.mark.parametrize("isolation", ["schema", "database"])
def test_a_reused_tenant_id_inherits_no_rows_and_no_cache_entries(isolation, drop):
    tenant_id = "acme" if isolation == "schema" else "lcpied"
    where = ["--isolation", "database", "--db-alias", f"{PREFIX}_lcpied"]
    where = where if isolation == "database" else []
    command("create_tenant", tenant_id, "Old customer", *where)
    assert write_everything(tenant_id, "old customer") == "old customer"
    command("delete_tenant", tenant_id, "--noinput", *(["--drop-data"] if drop else []))
    command("create_tenant", tenant_id, "A new customer", *where)
    assert read_everything(tenant_id) == NOTHING
    kept = [entry for entry in kept_data() if entry["tenant_id"] == tenant_id]
    assert len(kept) == (0 if drop else 1)


def test_a_shared_cache_alias_is_not_cleared():
    command("create_tenant", "acme", "Acme")
    with TenantContext.use_tenant(Tenant.objects.get(tenant_id="acme")):
        caches["shared"].set("session", "everyone's")
    command("delete_tenant", "acme", "--noinput", "--drop-data")
    assert caches["shared"].get("session") == "everyone's"


def make_foreign_schema(name):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{name}"')
        cursor.execute(f'CREATE TABLE "{name}".secrets (id int)')


def test_create_tenant_refuses_a_schema_it_did_not_provision():
    make_foreign_schema("acme")
    with pytest.raises(CommandError, match=r"schema 'acme' already exists .*--adopt-existing"):
        command("create_tenant", "acme", "Acme")
    assert not Tenant.objects.filter(tenant_id="acme").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'acme'")
        assert cursor.fetchone()[0] == 1  # untouched


def test_create_tenant_adopt_existing_says_what_it_adopted():
    make_foreign_schema("acme")
    output = command("create_tenant", "acme", "Acme", "--adopt-existing")
    assert (
        "Adopted the existing schema 'acme' as tenant 'acme''s data (1 table(s): secrets)."
        in output
    )
    with TenantContext.use_tenant(Tenant.objects.get(tenant_id="acme")):
        assert Note.objects.count() == 0  # and migrated


def test_provision_tenant_provisions_an_existing_row_idempotently():
    Tenant.objects.create(tenant_id="lazy", name="Lazy")
    assert "lazy" in command("list_tenants").splitlines()[1]
    assert command("list_tenants").splitlines()[1].endswith("no")
    output = command("provision_tenant", "lazy")
    assert output.endswith("Provisioned tenant 'lazy': its schema 'lazy' created, migrated.\n")
    lazy = Tenant.objects.get(tenant_id="lazy")
    with TenantContext.use_tenant(lazy):
        Note.objects.create(title="lazy's")
    output = command("provision_tenant", "lazy")
    assert output.endswith("its schema 'lazy' already existed, migrated.\n")
    with TenantContext.use_tenant(lazy):
        assert Note.objects.count() == 1
    assert command("list_tenants").splitlines()[1].endswith("yes")


def test_provision_tenant_refuses_foreign_data_and_unknown_ids():
    Tenant.objects.create(tenant_id="lazy", name="Lazy")
    make_foreign_schema("lazy")
    with pytest.raises(CommandError, match=r"schema 'lazy' already exists and was not prov"):
        command("provision_tenant", "lazy")
    with pytest.raises(CommandError, match=r"^No tenant 'nobody'; see manage.py list_tenants"):
        command("provision_tenant", "nobody")


def test_provision_tenant_no_migrate_creates_an_empty_database():
    alias = f"{PREFIX}_lcpied"
    Tenant.objects.create(
        tenant_id="lcpied", name="Pied", isolation_type="database", db_alias=alias
    )
    command("provision_tenant", "lcpied", "--no-migrate")
    assert database.exists(Tenant.objects.get(tenant_id="lcpied"))
    assert "tenantapp_note" not in connections[alias].introspection.table_names()


def test_an_unprovisioned_database_tenant_raises_tenant_not_provisioned():
    alias = f"{PREFIX}_lcpied"
    tenant = Tenant.objects.create(
        tenant_id="lcpied", name="Pied", isolation_type="database", db_alias=alias
    )
    with TenantContext.use_tenant(tenant), pytest.raises(TenantNotProvisioned, match="provision_"):
        Note.objects.count()
    assert not database.exists(tenant)  # and no empty SQLite file was made for it
    command("provision_tenant", "lcpied")
    with TenantContext.use_tenant(tenant):
        assert Note.objects.count() == 0


def test_two_database_tenants_cannot_share_an_alias():
    alias = f"{PREFIX}_lcpied"
    Tenant.objects.create(
        tenant_id="lcpied", name="Pied", isolation_type="database", db_alias=alias
    )
    other = Tenant(tenant_id="lcraviga", name="Raviga", isolation_type="database", db_alias=alias)
    with pytest.raises(ValidationError, match="already uses this db_alias"):
        other.full_clean()
    with pytest.raises(IntegrityError):
        other.save()


def test_an_alias_registered_for_one_tenant_refuses_another():
    alias = f"{PREFIX}_lcpied"
    pied = sqlite_tenant("lcpied")
    impostor = SimpleNamespace(tenant_id="lcraviga", isolation_type="database", db_alias=alias)
    database.register(pied)
    with pytest.raises(IsolationError, match="already serves tenant 'lcpied' in this process"):
        database.ensure_alias(impostor)
    database.unregister_alias(alias)  # a fresh process: whoever comes first owns it
    database.register(impostor)
    with pytest.raises(IsolationError, match="already serves tenant 'lcraviga'"):
        database.register(pied)
    database.unregister_alias(alias)


def test_keeping_an_operator_configured_database_is_refused():
    tenant = SimpleNamespace(tenant_id="acme", isolation_type="database", db_alias="default")
    with pytest.raises(IsolationError, match="db_alias is 'default'"):
        database.move_aside(tenant)
    assert schema_exists("public")


@pytest.fixture
def failing_commit():
    """A trigger that makes every COMMIT deleting a tenant row fail (deferred to commit time)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'commit refused'; END $$"
        )
        cursor.execute(
            "CREATE CONSTRAINT TRIGGER refuse_delete AFTER DELETE ON testapp_tenant "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_delete()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_delete ON testapp_tenant")
        cursor.execute("DROP FUNCTION refuse_delete()")


@pytest.mark.usefixtures("failing_commit")
@pytest.mark.parametrize("tenant_id", ["acme", "lcpied"])
def test_a_commit_failure_during_drop_data_loses_neither_row_nor_data(tenant_id):
    where = ["--isolation", "database", "--db-alias", f"{PREFIX}_{tenant_id}"]
    command("create_tenant", tenant_id, "Kept", *(where if tenant_id != "acme" else []))
    write_everything(tenant_id, "committed")
    with pytest.raises(DatabaseError, match="commit refused"):
        command("delete_tenant", tenant_id, "--noinput", "--drop-data")
    assert read_everything(tenant_id)[0] == ["committed"]
    assert not [entry for entry in kept_data() if entry["tenant_id"] == tenant_id]


def sqlite_row(tenant_id="lcpied"):
    return Tenant.objects.create(
        tenant_id=tenant_id,
        name="Pied",
        isolation_type="database",
        db_alias=f"{PREFIX}_{tenant_id}",
    )


def asides_of(tenant_id, state):
    place = connections[f"{PREFIX}_{tenant_id}"]
    return [
        e.name
        for e, r in database.asides_at(place)
        if e.state == state and e.rest.startswith(tenant_id)
    ]


def test_a_failed_drop_is_never_published_to_a_new_row_with_the_same_id():
    command(
        "create_tenant",
        "lcpied",
        "Old",
        "--isolation",
        "database",
        "--db-alias",
        f"{PREFIX}_lcpied",
    )
    write_everything("lcpied", "old customer")
    old = Tenant.objects.get(tenant_id="lcpied")
    database.move_aside(old, aside.DROP)  # what a delete --drop-data whose drop failed leaves
    Tenant.objects.filter(pk=old.pk).delete()
    database.unregister_alias(f"{PREFIX}_lcpied")
    sqlite_row()
    command("provision_tenant", "lcpied")  # its cleanup leaves the young entry alone
    assert len(asides_of("lcpied", aside.DROP)) == 1
    assert read_everything("lcpied")[0] == []
    assert [line.split(": ")[1] for line in cleanup_orphans(min_age=0)] == ["dropped"]
    assert asides_of("lcpied", aside.DROP) == []
    assert read_everything("lcpied")[0] == []


def test_cleanup_never_replaces_a_live_database_it_cannot_read():
    command(
        "create_tenant",
        "lcpied",
        "Pied",
        "--isolation",
        "database",
        "--db-alias",
        f"{PREFIX}_lcpied",
    )
    write_everything("lcpied", "live")
    tenant = Tenant.objects.get(tenant_id="lcpied")
    live = connections[f"{PREFIX}_lcpied"].settings_dict["NAME"]
    staged = database._aside_of(connections[f"{PREFIX}_lcpied"], aside.NEW, "lcpied")
    shutil.copy(live, staged)  # a staged copy marked for this very row
    connections[f"{PREFIX}_lcpied"].close()
    with contextlib.closing(sqlite3.connect(live, timeout=0)) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # "database is locked" for everyone else
        assert cleanup_orphans(min_age=0) == []
        holder.rollback()
    assert read_everything("lcpied")[0] == ["live"]
    assert os.path.exists(staged)
    database.drop_named(connections[f"{PREFIX}_lcpied"], staged)
    assert database.owned(tenant)


def test_rename_refuses_to_replace_an_existing_sqlite_file():
    place = connections[f"{PREFIX}_lcpied"]
    folder = os.path.dirname(place.settings_dict["NAME"])
    old, new = (os.path.join(folder, f"{PREFIX}_rename_{n}.sqlite3") for n in ("old", "new"))
    for path, text in ((old, "moved"), (new, "kept")):
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(f"CREATE TABLE {text} (id int)")
    try:
        with pytest.raises(IsolationError, match=r"exists already .*Nothing was renamed"):
            database.rename(place, old, new)
        with contextlib.closing(sqlite3.connect(new)) as db:
            assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("kept",)]
        assert os.path.exists(old)
    finally:
        for path in (old, new):
            os.remove(path)


def test_a_sqlite_tenant_with_a_non_integer_pk_is_refused_clearly():
    tenant = SimpleNamespace(**vars(sqlite_tenant("lcpied")), pk="a-uuid")
    with pytest.raises(IsolationError, match=r"pk 'a-uuid'.*integer primary key"):
        database.sqlite_pk(tenant)


@pytest.mark.parametrize("drop", [False, True], ids=["kept", "dropped"])
def test_deleting_a_tenant_with_an_unmarked_schema_moves_or_drops_it(drop):
    make_foreign_schema("acme")  # provisioned before owner marks existed
    Tenant.objects.create(tenant_id="acme", name="Acme")
    output = command("delete_tenant", "acme", "--noinput", *(["--drop-data"] if drop else []))
    assert not schema_exists("acme")
    kept = [entry for entry in kept_data() if entry["tenant_id"] == "acme"]
    if drop:
        assert "its schema 'acme' was dropped." in output
        assert kept == []
    else:
        assert f"its schema 'acme' was kept as {kept[0]['name']!r}" in output


def test_provision_tenant_refuses_an_unmarked_schema_of_its_own_row_unless_adopted():
    make_foreign_schema("lazy")
    Tenant.objects.create(tenant_id="lazy", name="Lazy")
    with pytest.raises(CommandError, match=r"no owner mark .*--adopt-existing"):
        command("provision_tenant", "lazy")
    assert "Adopted the existing schema 'lazy'" in command(
        "provision_tenant", "lazy", "--adopt-existing"
    )
    assert command("provision_tenant", "lazy").endswith("already existed, migrated.\n")


def test_deletion_clears_the_default_alias_of_a_tenant_routed_elsewhere():
    command("create_tenant", "acme", "Acme")
    with TenantContext.use_tenant(Tenant.objects.get(tenant_id="acme")):
        caches["default"].set("settings", "old customer")
    Tenant.objects.filter(tenant_id="acme").update(cache_alias="redis")
    command("delete_tenant", "acme", "--noinput", "--drop-data")
    with TenantContext.use_tenant(schema_isolation_tenant("acme")):
        assert caches["default"].get("settings") is None


def test_entries_written_while_a_deletion_runs_are_cleared_on_commit():
    command("create_tenant", "acme", "Acme")

    def a_request_meanwhile(sender, instance, **kwargs):
        with TenantContext.use_tenant(instance):
            caches["redis"].set("settings", "old customer")

    pre_delete.connect(a_request_meanwhile, sender=Tenant)
    try:
        command("delete_tenant", "acme", "--noinput", "--drop-data")
    finally:
        pre_delete.disconnect(a_request_meanwhile, sender=Tenant)
    with TenantContext.use_tenant(schema_isolation_tenant("acme")):
        assert caches["redis"].get("settings") is None


def test_provision_tenant_clears_what_a_previous_tenant_left():
    with TenantContext.use_tenant(schema_isolation_tenant("lazy")):
        caches["redis"].set("settings", "old customer")  # e.g. its row deleted by the ORM
    Tenant.objects.create(tenant_id="lazy", name="Lazy")
    command("provision_tenant", "lazy")
    with TenantContext.use_tenant(Tenant.objects.get(tenant_id="lazy")):
        assert caches["redis"].get("settings") is None
