import pytest
from django.db import connection
from django.test import override_settings

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, NoTenantActive
from omnitenant.routers import TenantRouter
from tests.isolation.tenants import PREFIX, schema_tenant
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

router = TenantRouter()


def config(**extra):
    from django.conf import settings

    return override_settings(OMNITENANT_CONFIG={**settings.OMNITENANT_CONFIG, **extra})


def test_allow_migrate_puts_tenant_apps_in_tenants_and_the_rest_in_public():
    assert connection.schema_name == "public"
    assert router.allow_migrate("default", "testapp") is True
    assert router.allow_migrate("default", "tenantapp") is False
    assert router.allow_migrate("tenant_db", "tenantapp") is True
    assert router.allow_migrate("tenant_db", "testapp") is False
    assert router.allow_migrate("tenant_db", "auth") is False
    connection.set_schema("acme")
    try:
        assert router.allow_migrate("default", "tenantapp") is True
        assert router.allow_migrate("default", "testapp") is False
    finally:
        connection.set_schema_to_public()


def test_an_app_in_both_lists_lives_in_both_places_and_needs_no_tenant():
    with config(SHARED_APPS=["tenantapp"]):
        assert router.allow_migrate("default", "tenantapp") is True
        assert router.allow_migrate("tenant_db", "tenantapp") is True
        assert router.db_for_read(Note) == "default"


def test_apps_may_be_named_by_dotted_name():
    with config(TENANT_APPS=["tests.tenantapp"]):
        assert router.allow_migrate("default", "tenantapp") is False
        with pytest.raises(NoTenantActive):
            router.db_for_write(Note)


def test_no_tenant_active_names_the_model_and_the_fix():
    with pytest.raises(NoTenantActive) as info:
        router.db_for_read(Note)
    assert str(info.value) == (
        "tenantapp.Note is a tenant model and no tenant is active; run this code inside "
        "TenantContext.use_tenant(tenant) (or manage.py tenant_command)."
    )


def test_shared_models_route_to_default_with_or_without_a_tenant():
    assert router.db_for_read(Tenant) == "default"
    with TenantContext.use_tenant(schema_tenant("acme")):
        assert router.db_for_write(Tenant) == "default"
        assert router.db_for_read(Note) == "default"


def test_schema_tenant_on_an_engine_without_schemas_is_refused():
    from omnitenant.isolation import database
    from omnitenant.isolation.schema import require_schemas

    alias = f"{PREFIX}_plain"
    database.register_alias(alias, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})
    try:
        with pytest.raises(IsolationError) as info:
            require_schemas(schema_tenant("acme"), alias=alias)
    finally:
        database.unregister_alias(alias)
    assert str(info.value) == (
        "Tenant 'acme' uses schema isolation, which needs PostgreSQL with "
        f"DATABASES['{alias}']['ENGINE'] = 'django_tenants.postgresql_backend'; the engine is "
        "'django.db.backends.sqlite3'. Change the engine or give the tenant "
        "isolation_type='database' and a db_alias."
    )


def test_allow_relation_only_within_one_database():
    a, b = Note(title="a"), Note(title="b")
    a._state.db, b._state.db = "default", "default"
    assert router.allow_relation(a, b) is True
    b._state.db = "tenant_db"
    assert router.allow_relation(a, b) is False
    assert router.allow_relation(Tenant(), Tenant()) is None


@pytest.fixture
def schema_pair(db):
    """Schema tenants relacme and relglobex, provisioned inside the test's transaction."""
    from omnitenant.provisioning import provision_tenant

    made = schema_tenant("relacme"), schema_tenant("relglobex")
    for tenant in made:
        provision_tenant(tenant)
    return made


def refused(note):
    return f'Cannot assign "{note!r}": the current database router prevents this relation.'


def test_a_row_cannot_point_at_another_schema_tenants_row(schema_pair):
    from tests.tenantapp.models import Comment

    acme, globex = schema_pair
    with TenantContext.use_tenant(acme):
        acme_note = Note.objects.create(title="acme's")
    with TenantContext.use_tenant(globex):
        comment = Comment.objects.create(note=Note.objects.create(title="globex's"), text="c")
        with pytest.raises(ValueError, match="router prevents this relation") as info:
            comment.note = acme_note
        assert str(info.value) == refused(acme_note)
        with pytest.raises(ValueError, match="router prevents this relation"):
            Comment(note=acme_note, text="new")
        comment = Comment.objects.get()
    with TenantContext.use_tenant(acme):
        # A row keeps the tenant it was loaded in, whichever tenant is active now.
        with pytest.raises(ValueError, match="router prevents this relation"):
            comment.note = Note.objects.get()
        Comment.objects.create(note=Note.objects.get(), text="same tenant")
        assert list(Comment.objects.values_list("note__title", flat=True)) == ["acme's"]


def test_a_row_loaded_with_no_tenant_does_not_relate_to_a_tenants_row(schema_pair):
    from tests.tenantapp.models import Comment

    acme, _ = schema_pair
    public_note = Note.from_db("default", ["id", "title", "body"], [1, "public", ""])
    with TenantContext.use_tenant(acme):
        with pytest.raises(ValueError, match="router prevents this relation") as info:
            Comment(note=public_note, text="c")
        assert str(info.value) == refused(public_note)
        made_here = Note(title="built, then saved in acme")
        made_here.save()
        Comment.objects.create(note=made_here, text="c")
