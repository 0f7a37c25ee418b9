from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from omnitenant.checks import check_commands_not_shadowed

SHADOW_APP = "tests.management.shadowapp"


def apps_with_shadow_app_at(position):
    installed = list(settings.INSTALLED_APPS)
    installed.insert(position(installed), SHADOW_APP)
    return installed


def test_no_error_when_omnitenant_commands_are_its_own():
    assert check_commands_not_shadowed() == []


def test_app_listed_first_with_a_command_of_the_same_name_is_an_error():
    shadowing = apps_with_shadow_app_at(lambda apps: apps.index("omnitenant"))
    with override_settings(INSTALLED_APPS=shadowing):
        [error] = check_commands_not_shadowed()
        assert call_command("tenant_command") == "shadowed"
    assert error.id == "omnitenant.E050"
    assert error.msg == (
        f"manage.py tenant_command runs the command of {SHADOW_APP!r}, not omnitenant's."
    )
    assert error.hint == (
        f"List 'omnitenant' above {SHADOW_APP!r} in INSTALLED_APPS: Django runs the command "
        "of the first app that defines it."
    )


def test_app_listed_after_omnitenant_is_fine():
    with override_settings(INSTALLED_APPS=apps_with_shadow_app_at(len)):
        assert check_commands_not_shadowed() == []
