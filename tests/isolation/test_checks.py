"""System checks omnitenant.E040-E043, E045 / W040 (database isolation settings)."""

import warnings

from django.conf import settings
from django.test import override_settings

from omnitenant.checks import check_database_isolation


def run(**config):
    with override_settings(OMNITENANT_CONFIG={**settings.OMNITENANT_CONFIG, **config}):
        return check_database_isolation()


def only(messages):
    assert len(messages) == 1, messages
    return messages[0]


def test_the_test_settings_pass():
    assert check_database_isolation() == []


def test_e040_tenant_apps_must_be_installed_apps():
    message = only(run(TENANT_APPS=["tenantapp", "nosuchapp"]))
    assert message.id == "omnitenant.E040"
    assert message.msg == (
        "OMNITENANT_CONFIG['TENANT_APPS'] names 'nosuchapp', which is not an installed app."
    )
    assert message.hint == "Use the label (or dotted name) of an app in INSTALLED_APPS."
    message = only(run(TENANT_APPS="tenantapp"))
    assert message.id == "omnitenant.E040"
    assert (
        message.msg == "OMNITENANT_CONFIG['TENANT_APPS'] = 'tenantapp' is not a list of app labels."
    )
    assert message.hint == (
        "Set OMNITENANT_CONFIG['TENANT_APPS'] to a list such as ['notes', 'billing']."
    )


def test_e041_shared_apps_must_be_installed_apps():
    message = only(run(SHARED_APPS=["auth", "nope"]))
    assert message.id == "omnitenant.E041"
    assert message.msg == (
        "OMNITENANT_CONFIG['SHARED_APPS'] names 'nope', which is not an installed app."
    )


def test_e042_tenant_model_cannot_live_in_a_tenant_app():
    message, domain_message = run(TENANT_APPS=["tenantapp", "testapp"])
    assert domain_message.msg.startswith("DOMAIN_MODEL 'testapp.Domain' belongs to app")
    assert message.id == "omnitenant.E042"
    assert message.msg == (
        "TENANT_MODEL 'testapp.Tenant' belongs to app 'testapp', which is a tenant app: "
        "tenants must be found before any tenant is active."
    )
    assert message.hint == (
        "Remove 'testapp' from OMNITENANT_CONFIG['TENANT_APPS'] (or add it to "
        "OMNITENANT_CONFIG['SHARED_APPS'] too)."
    )
    assert run(TENANT_APPS=["tenantapp", "testapp"], SHARED_APPS=["testapp"]) == []


def test_e043_tenant_database_needs_engine_and_name():
    message = only(run(TENANT_DATABASE={"ENGINE": "django.db.backends.sqlite3"}))
    assert message.id == "omnitenant.E043"
    assert message.msg == (
        "OMNITENANT_CONFIG['TENANT_DATABASE'] must be a DATABASES entry with ENGINE and NAME."
    )
    assert message.hint == (
        "E.g. {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'tenants/{tenant_id}.sqlite3'}; "
        "strings may use {tenant_id} and {db_alias}."
    )


def test_w040_plain_postgresql_cannot_switch_schemas():
    plain = {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns about overriding DATABASES
        with override_settings(DATABASES={"default": plain}):
            message = only(check_database_isolation())
    assert message.id == "omnitenant.W040"
    assert message.hint == (
        "Set DATABASES['default']['ENGINE'] = 'django_tenants.postgresql_backend', or use only "
        "isolation_type='database' tenants."
    )


def test_tenant_limit_set_calls_no_longer_matters():
    for value in (False, True):
        with override_settings(TENANT_LIMIT_SET_CALLS=value):
            assert check_database_isolation() == []


def test_e045_server_side_binding_on_a_schema_alias():
    default = settings.DATABASES["default"]
    bound = {**default, "OPTIONS": {"server_side_binding": True}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns about overriding DATABASES
        with override_settings(DATABASES={"default": default, "bound": bound}):
            message = only(check_database_isolation())
    assert message.id == "omnitenant.E045"
    assert message.msg == (
        "DATABASES['bound'] uses server_side_binding, which sends one statement per execute: "
        "statements cannot carry their tenant's search path."
    )
    assert message.hint == "Remove 'server_side_binding' from DATABASES['bound']['OPTIONS']."
