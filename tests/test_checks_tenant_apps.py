"""System check omnitenant.E044: TenantRouter installed but no app is a tenant app."""

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings

ROUTER = "omnitenant.routers.TenantRouter"
MESSAGE = (
    f"{ROUTER} is in DATABASE_ROUTERS but OMNITENANT_CONFIG['TENANT_APPS'] is empty: every app "
    "is shared, so all tenants read and write the same rows."
)
HINT = (
    "List the apps whose rows belong to each tenant in OMNITENANT_CONFIG['TENANT_APPS'], "
    "e.g. ['notes', 'billing']."
)


def config_without_tenant_apps(**changes):
    config = {key: value for key, value in settings.OMNITENANT_CONFIG.items()}
    config.pop("TENANT_APPS")
    return {**config, **changes}


def e044():
    return [message for message in run_checks() if message.id == "omnitenant.E044"]


@pytest.mark.parametrize("changes", [{}, {"TENANT_APPS": []}, {"TENANT_APPS": ()}])
def test_router_without_tenant_apps_is_an_error(changes):
    with override_settings(OMNITENANT_CONFIG=config_without_tenant_apps(**changes)):
        (message,) = e044()
    assert message.is_serious()
    assert message.msg == MESSAGE
    assert message.hint == HINT


def test_silent_with_tenant_apps():
    assert e044() == []


def test_silent_without_the_router():
    routers = [r for r in settings.DATABASE_ROUTERS if r != ROUTER]
    with override_settings(
        OMNITENANT_CONFIG=config_without_tenant_apps(), DATABASE_ROUTERS=routers
    ):
        assert e044() == []
