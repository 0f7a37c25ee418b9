"""get_config() and TenantRouter refuse a setting that has no safe reading; the checks still run."""

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings

from omnitenant.conf import get_config
from omnitenant.exceptions import ConfigurationError
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

ROUTER = "omnitenant.routers.TenantRouter"
E044 = (
    f"{ROUTER} is in DATABASE_ROUTERS but OMNITENANT_CONFIG['TENANT_APPS'] is empty: every app "
    "is shared, so all tenants read and write the same rows. List the apps whose rows belong "
    "to each tenant in OMNITENANT_CONFIG['TENANT_APPS'], e.g. ['notes', 'billing']. See "
    "manage.py check (omnitenant.E044)."
)


def config(**changes):
    merged = {**settings.OMNITENANT_CONFIG, **changes}
    return {key: value for key, value in merged.items() if value is not ...}


def check_ids(**kwargs):
    return [message.id for message in run_checks(**kwargs) if message.id.startswith("omnitenant.")]


NO_TENANT_APPS = [
    pytest.param({"TENANT_APPS": []}, id="empty"),
    pytest.param({"TENANT_APPS": ...}, id="unset"),
    pytest.param({"TENANT_APPS": ..., "TENANT_APP": ["tenantapp"]}, id="misspelt"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("changes", NO_TENANT_APPS)
@pytest.mark.parametrize("model", [Tenant, Note])
def test_router_refuses_to_route_without_tenant_apps(changes, model):
    with override_settings(OMNITENANT_CONFIG=config(**changes)):
        with pytest.raises(ConfigurationError) as info:
            model.objects.exists()
        with pytest.raises(ConfigurationError):
            model.objects.create() if model is Note else Tenant.objects.filter(pk=0).delete()
    assert str(info.value) == E044


@pytest.mark.django_db
@pytest.mark.parametrize("changes", NO_TENANT_APPS)
def test_checks_still_report_an_empty_tenant_apps(changes):
    with override_settings(OMNITENANT_CONFIG=config(**changes)):
        assert "omnitenant.E044" in check_ids()
        # migrate and check --database run the model checks, which ask allow_migrate.
        assert "omnitenant.E044" in check_ids(databases=["default"])


@pytest.mark.django_db
def test_no_tenant_apps_without_the_router_still_queries():
    with override_settings(OMNITENANT_CONFIG=config(TENANT_APPS=...), DATABASE_ROUTERS=[]):
        assert Tenant.objects.filter(pk=0).exists() is False
        assert "omnitenant.E044" not in check_ids()


@pytest.mark.parametrize("value", [["TENANT_MODEL"], "config", 5])
def test_a_config_that_is_not_a_dict_is_refused_and_still_checked(value):
    with override_settings(OMNITENANT_CONFIG=value):
        with pytest.raises(ConfigurationError) as info:
            get_config()
        ids = check_ids()
    assert {"omnitenant.E012", "omnitenant.E044"} <= set(ids)
    assert str(info.value) == (
        f"OMNITENANT_CONFIG = {value!r} is a {type(value).__name__}, not a dict; run "
        "manage.py check for the fix (omnitenant.E012)."
    )


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ([], "omnitenant.E030"),
        (None, "omnitenant.E030"),
        ({"omnitenant.resolvers.SubdomainResolver": 1}, "omnitenant.E030"),
        ([3], "omnitenant.E030"),
        (["omnitenant.resolvers.SubdomainResolver", None], "omnitenant.E030"),
    ],
)
def test_resolvers_without_a_safe_reading_are_refused_and_still_checked(value, check_id):
    with override_settings(OMNITENANT_CONFIG=config(RESOLVERS=value)):
        with pytest.raises(ConfigurationError) as info:
            get_config()
        assert check_id in check_ids()
    assert str(info.value) == (
        f"OMNITENANT_CONFIG['RESOLVERS'] = {value!r} is invalid and has no safe reading; "
        f"run manage.py check for the fix ({check_id})."
    )


def test_resolver_classes_instead_of_import_strings_are_refused():
    from omnitenant.resolvers import SubdomainResolver

    with override_settings(OMNITENANT_CONFIG=config(RESOLVERS=[SubdomainResolver])):
        with pytest.raises(ConfigurationError, match=r"RESOLVERS'\] = \[<class"):
            get_config()
        assert "omnitenant.E030" in check_ids()


@pytest.mark.parametrize("key", ["PUBLIC_URLCONF", "TENANT_URLCONF"])
def test_an_urlconf_that_is_not_a_module_path_is_refused_and_still_checked(key):
    with override_settings(OMNITENANT_CONFIG=config(**{key: 3})):
        with pytest.raises(ConfigurationError, match=rf"{key}'\] = 3"):
            get_config()
        assert "omnitenant.E033" in check_ids()
